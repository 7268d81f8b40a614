using System.CommandLine;
using System.Net;
using System.Text;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Alerts;

/// <summary><c>gantry alerts rules ls|add|rm|export</c>.</summary>
internal static class AlertRulesCommand
{
    public static Command Create(CliContext context, ClientOptions options)
    {
        var rules = new Command("rules", """
            The alerting rules the server evaluates, in Prometheus' rule-file format: the built-in group,
            the groups of the server's --rules file, and groups added with 'gantry alerts rules add'.
            """);
        rules.Subcommands.Add(CreateList(context, options));
        rules.Subcommands.Add(CreateAdd(context, options));
        rules.Subcommands.Add(CreateRemove(context, options));
        rules.Subcommands.Add(CreateExport(context, options));
        return rules;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var command = new Command("ls", """
            List every rule group, with where it comes from (built-in; file: the server's --rules file; api:
            added with 'gantry alerts rules add'), and its rules. FOR is how long the expression must hold
            before the alert fires; ENABLED is no for a built-in rule the server's --disable-rule switched
            off; FIRING and PENDING count the rule's alerts now. When the rules file could not be loaded,
            why goes to stderr (the server keeps its last good rules).
            """);
        command.Aliases.Add("list");
        options.AddOutputTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts rules ls", async (invocation, ct) =>
        {
            var body = await invocation.Api.GetAsync("api/v1/alerts/rules", ct).ConfigureAwait(false);
            var rules = Paging.Deserialize(body, ResponseJson.For<AlertRulesResponse>());
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                AlertViews.WriteRules(context.Output, rules, context.TableWidth);
            }

            if (rules.RulesFileError is { } error)
            {
                await context.Error.WriteAsync($"gantry: the rules file {rules.RulesFile ?? "(--rules)"} could not be loaded; the server keeps its last good rules: {error}\n").ConfigureAwait(false);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateAdd(CliContext context, ClientOptions options)
    {
        var file = new Argument<string>("FILE")
        {
            Description = "A Prometheus rule file (groups: - name: … rules: - alert: … expr: …); - reads it from stdin.",
        };
        var command = new Command("add", """
            Add the rule groups of a Prometheus rule file, or replace the groups of the same names added
            before through the API (the built-in group and the --rules file's groups cannot be replaced).
            Prints the names of the groups added. The server checks the YAML and every expression; what it
            refuses is printed with its line and column, and the exit code is 2.
              gantry alerts rules add gpu-rules.yml
            """) { file };
        options.AddOutputTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts rules add", async (invocation, ct) =>
        {
            var path = parseResult.GetValue(file)!;
            var yaml = await ReadRulesAsync(context, path, ct).ConfigureAwait(false);
            byte[] body;
            try
            {
                body = await invocation.Api.PostAsync("api/v1/alerts/rules", new AddAlertRulesRequest { Yaml = yaml }, GantryJson.Default.AddAlertRulesRequest, ct).ConfigureAwait(false);
            }
            catch (ApiProblemException ex) when (ex.Status == HttpStatusCode.BadRequest)
            {
                await context.Error.WriteAsync(Refused(ex, path == "-" ? "stdin" : path)).ConfigureAwait(false);
                return ExitCodes.Usage;
            }

            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
                return ExitCodes.Success;
            }

            var added = Paging.Deserialize(body, ResponseJson.For<AddAlertRulesResponse>());
            var text = new StringBuilder();
            foreach (var group in added.Groups)
            {
                text.Append("added rule group ").Append(group).Append('\n');
            }

            await context.Output.WriteAsync(text.ToString()).ConfigureAwait(false);
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateRemove(CliContext context, ClientOptions options)
    {
        var group = new Argument<string>("GROUP") { Description = "The name of a rule group added through the API (the GROUP column of 'gantry alerts rules ls')." };
        var command = new Command("rm", """
            Remove a rule group added through the API; its alerts resolve. The built-in group is switched
            off rule by rule with the server's --disable-rule, and the --rules file's groups by editing the file.
            """) { group };
        command.Aliases.Add("remove");
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts rules rm", async (invocation, ct) =>
        {
            var name = parseResult.GetValue(group)!;
            await invocation.Api.DeleteAsync("api/v1/alerts/rules/" + Uri.EscapeDataString(name), ct).ConfigureAwait(false);
            await context.Output.WriteAsync($"removed rule group {name}\n").ConfigureAwait(false);
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateExport(CliContext context, ClientOptions options)
    {
        var output = new Option<string>("--output", "-o")
        {
            Description = "Write the rule file here (replaced whole once it is read). (default: stdout)",
            HelpName = "FILE",
        };
        var command = new Command("export", """
            Write every rule the server evaluates (built-in ones switched off left out) as one Prometheus
            rule file, for Prometheus itself or for 'promtool check rules'.
              gantry alerts rules export -o gantry-rules.yml
            """) { output };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts rules export", async (invocation, ct) =>
        {
            var path = parseResult.GetValue(output);
            var yaml = await invocation.Api.GetAsync("api/v1/alerts/rules/export", "application/yaml", ct).ConfigureAwait(false);
            if (path is null or "-")
            {
                await context.Output.WriteAsync(Encoding.UTF8.GetString(yaml)).ConfigureAwait(false);
                return ExitCodes.Success;
            }

            await WriteFileAsync(path, yaml, ct).ConfigureAwait(false);
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    /// <summary>The rule file's text: the file, or stdin for <c>-</c>.</summary>
    private static async Task<string> ReadRulesAsync(CliContext context, string path, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = path == "-"
                ? await context.Input.ReadToEndAsync(cancellationToken).ConfigureAwait(false)
                : await File.ReadAllTextAsync(path, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            throw new UsageException("FILE", $"cannot read {path}: {ex.Message}");
        }

        return string.IsNullOrWhiteSpace(text)
            ? throw new UsageException("FILE", $"{(path == "-" ? "stdin" : path)} is empty: expected a rule file (groups: - name: … rules: …)")
            : text;
    }

    /// <summary>
    /// A refused rule file: <c>gantry: FILE: line 3, column 9: …</c> for each problem of the YAML (the
    /// server's message names the position), else the server's problem as usual.
    /// </summary>
    internal static string Refused(ApiProblemException exception, string source)
    {
        if (exception.Problem.Errors is { } errors && errors.TryGetValue("yaml", out var messages) && messages.Length > 0)
        {
            var text = new StringBuilder();
            foreach (var message in messages)
            {
                text.Append("gantry: ").Append(source).Append(": ").Append(message).Append('\n');
            }

            return text.ToString();
        }

        return Errors.Render(exception, settings: null);
    }

    /// <summary>Writes beside <paramref name="path"/> and moves the file over it, so a failed call leaves no half-written file.</summary>
    private static async Task WriteFileAsync(string path, byte[] content, CancellationToken cancellationToken)
    {
        var temporary = path + ".tmp-" + Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        try
        {
            await File.WriteAllBytesAsync(temporary, content, cancellationToken).ConfigureAwait(false);
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            try
            {
                File.Delete(temporary);
            }
            catch (Exception cleanup) when (cleanup is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
            {
                // Nothing more to do: the message below names the file that could not be written.
            }

            throw new UsageException("--output", $"cannot write {path}: {ex.Message}");
        }
    }
}
