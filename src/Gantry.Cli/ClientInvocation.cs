using System.CommandLine;
using System.Net;
using Gantry.Cli.Configuration;
using Gantry.Cli.Http;
using Gantry.Cli.Output;

namespace Gantry.Cli;

/// <summary>
/// The options every client command takes (<c>--server</c>, <c>--token</c>, <c>-o</c>), declared once on
/// <c>gantry nodes</c> and <c>gantry jobs</c> and inherited by their subcommands.
/// </summary>
internal sealed class ClientOptions
{
    public Option<string> Server { get; } = new("--server")
    {
        Description = $"The server's URL; or several, separated by commas, for replicas sharing one database: each call goes to the leader (following a standby's redirect) and moves on to the next URL when one refuses or answers 503. [env: {ClientSettings.ServerVariable}; else \"server\" (a URL or an array) in the client config file; default: {ClientSettings.DefaultServer}]",
        HelpName = "URL",
        Recursive = true,
    };

    public Option<string> Token { get; } = new("--token")
    {
        Description = $"API token: yours, from an admin's 'gantry tokens create', or the admin token in <data-dir>/admin.token on the server. [env: {ClientSettings.TokenVariable}; else \"token\" in the client config file]",
        HelpName = "TOKEN",
        Recursive = true,
    };

    public Option<string> CaFile { get; } = new("--ca-file")
    {
        Description = $"Trust an https server only if its certificate chains to a CA in this PEM file, instead of the system's CA store (e.g. <data-dir>/tls/ca.crt of a server run with --tls auto). [env: {ClientSettings.CaFileVariable}; else \"caFile\" in the client config file]",
        HelpName = "FILE",
        Recursive = true,
    };

    public Option<string> Output { get; } = new("--output", "-o")
    {
        Description = "table (for people) or json (the API's JSON, indented). (default: table)",
        HelpName = "table|json",
        Recursive = true,
    };

    /// <summary><c>--json</c>, short for <c>-o json</c>: on the commands that take <see cref="AddOutputTo"/>.</summary>
    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the API's JSON, indented (the same as -o json).",
    };

    public void AddTo(Command command)
    {
        command.Options.Add(Server);
        command.Options.Add(Token);
        command.Options.Add(CaFile);
        command.Options.Add(Output);
    }

    /// <summary>
    /// <c>--server</c> and <c>--token</c> for <paramref name="command"/> and its subcommands; <c>-o</c> is left to
    /// each subcommand that prints the API's answers (<see cref="AddOutputTo"/>), so that one that writes a
    /// file may take <c>-o FILE</c> instead.
    /// </summary>
    public void AddWithoutOutputTo(Command command)
    {
        Output.Recursive = false;
        command.Options.Add(Server);
        command.Options.Add(Token);
        command.Options.Add(CaFile);
    }

    /// <summary>Adds <c>-o table|json</c> and <c>--json</c> to one command (after <see cref="AddWithoutOutputTo"/> on its parent).</summary>
    public void AddOutputTo(Command command)
    {
        command.Options.Add(Output);
        command.Options.Add(Json);
    }
}

/// <summary>
/// One run of a client command: resolves the settings and the output format, creates the HTTP client
/// on first use, and turns failures into messages and exit codes (usage 2, everything else 1).
/// </summary>
internal sealed class ClientInvocation : IDisposable
{
    private readonly ParseResult _parseResult;
    private readonly ClientOptions _options;
    private ClientSettings? _settings;
    private GantryApiClient? _api;

    private ClientInvocation(CliContext context, ParseResult parseResult, ClientOptions options, string commandPath)
    {
        Context = context;
        _parseResult = parseResult;
        _options = options;
        CommandPath = commandPath;
    }

    public CliContext Context { get; }

    /// <summary>e.g. <c>gantry jobs submit</c>, for usage messages.</summary>
    public string CommandPath { get; }

    public OutputFormat Format { get; private set; }

    public ClientSettings Settings => _settings ??= ClientSettings.Resolve(_parseResult.GetValue(_options.Server), _parseResult.GetValue(_options.Token), Context.GetEnvironmentVariable, _parseResult.GetValue(_options.CaFile));

    public GantryApiClient Api => _api ??= new GantryApiClient(Settings);

    public DateTimeOffset Now => Context.TimeProvider.GetUtcNow();

    /// <summary>Runs <paramref name="body"/> and maps what it throws to a message and an exit code.</summary>
    public static async Task<int> RunAsync(
        CliContext context,
        ParseResult parseResult,
        ClientOptions options,
        string commandPath,
        Func<ClientInvocation, CancellationToken, Task<int>> body,
        CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(body);
        using var invocation = new ClientInvocation(context, parseResult, options, commandPath);
        try
        {
            invocation.Format = parseResult.GetValue(options.Json) ? OutputFormat.Json : ParseFormat(parseResult.GetValue(options.Output));
            var code = await body(invocation, cancellationToken).ConfigureAwait(false);
            await context.Output.FlushAsync(cancellationToken).ConfigureAwait(false);
            return code;
        }
        catch (UsageException ex)
        {
            await context.Error.WriteAsync($"{commandPath}: {ex.Setting}: {ex.Message}\nRun '{commandPath} --help' for usage.\n").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (ApiProblemException ex)
        {
            await context.Error.WriteAsync(Errors.Render(ex, invocation._settings)).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (ServerUnreachableException ex)
        {
            await context.Error.WriteAsync(Errors.Render(ex, invocation._settings)).ConfigureAwait(false);
            return ExitCodes.Failure;
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Ctrl+C: the shell's convention for a process ended by SIGINT.
            return ExitCodes.Interrupted;
        }
    }

    public void Dispose() => _api?.Dispose();

    private static OutputFormat ParseFormat(string? text) => text switch
    {
        null or "table" => OutputFormat.Table,
        "json" => OutputFormat.Json,
        _ => throw new UsageException("--output", $"expected table or json, got '{text}'"),
    };
}

/// <summary>Error messages for people, on stderr.</summary>
internal static class Errors
{
    /// <summary>
    /// <c>gantry: title: detail</c>, then one indented line per field error; a 401 adds where tokens come from.
    /// </summary>
    public static string Render(ApiProblemException exception, ClientSettings? settings)
    {
        ArgumentNullException.ThrowIfNull(exception);
        var problem = exception.Problem;
        var text = new System.Text.StringBuilder("gantry: ").Append(problem.Title ?? "error");
        if (!string.IsNullOrEmpty(problem.Detail))
        {
            text.Append(": ").Append(problem.Detail);
        }

        text.Append('\n');
        if (problem.Errors is { } errors)
        {
            foreach (var (field, messages) in errors)
            {
                foreach (var message in messages)
                {
                    text.Append("  ").Append(field).Append(": ").Append(message).Append('\n');
                }
            }
        }

        if (exception.Status == HttpStatusCode.Unauthorized)
        {
            text.Append(settings?.Token is null
                ? "gantry: no token was given, so the server refused the request."
                : $"gantry: the server refused the token from {settings.TokenSource}: it is wrong, or from another server.");
            text.Append(" Pass --token, set ").Append(ClientSettings.TokenVariable)
                .Append(", or put \"token\" in the client config file (").Append(settings?.ConfigPath ?? "~/.config/gantry/client.json")
                .Append("). A person's token comes from 'gantry tokens create'; the admin token is in <data-dir>/admin.token on the server.\n");
        }
        else if (exception.Status == HttpStatusCode.Forbidden && problem.RequiredRole is null)
        {
            // A 403 from a role check names the role in its detail (one line, above); this one is a join token or a node credential.
            text.Append("gantry: this token may not make this call; people and tools use a person's token ('gantry tokens create') or the admin token (<data-dir>/admin.token on the server).\n");
        }

        return text.ToString();
    }

    /// <summary>
    /// <c>gantry: cannot reach the server at URL: reason</c>; when several URLs were tried, a line for
    /// each with its reason.
    /// </summary>
    public static string Render(ServerUnreachableException exception, ClientSettings? settings = null)
    {
        ArgumentNullException.ThrowIfNull(exception);
        if (exception.Failures.Count <= 1 && exception.Untrusted)
        {
            var hint = settings?.CaFile is { } caFile
                ? $"is {caFile} (from {settings.CaFileSource}) the CA that signed it?"
                : $"give --ca-file with the CA that signed it (or {ClientSettings.CaFileVariable}, or \"caFile\" in the client config file)";
            return $"gantry: the certificate of {exception.Server.AbsoluteUri.TrimEnd('/')} is not trusted ({exception.Message}): {hint}\n";
        }

        if (exception.Failures.Count <= 1)
        {
            return $"gantry: cannot reach the server at {exception.Server.AbsoluteUri.TrimEnd('/')}: {exception.Message}\n";
        }

        var text = new System.Text.StringBuilder("gantry: cannot reach any of the servers:\n");
        foreach (var failure in exception.Failures)
        {
            text.Append("  ").Append(failure.Server.AbsoluteUri.TrimEnd('/')).Append(": ").Append(failure.Reason).Append('\n');
        }

        return text.ToString();
    }
}
