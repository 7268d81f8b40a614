using System.CommandLine;
using Gantry.Cli.Http;
using Gantry.Cli.Nodes;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Alerts;

/// <summary><c>gantry alerts ls</c>, <c>gantry alerts rules …</c> and <c>gantry alerts silence …</c>.</summary>
internal static class AlertsCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry alerts --help</c> say it does.</summary>
    internal const string Description = "List firing and pending alerts; add, remove and export alert rules; silence alerts.";

    public static Command Create(CliContext context)
    {
        // -o is given to each subcommand that prints API answers: 'rules export' takes -o FILE instead.
        var options = new ClientOptions();
        var alerts = new Command("alerts", Description);
        options.AddWithoutOutputTo(alerts);
        alerts.Subcommands.Add(CreateList(context, options));
        alerts.Subcommands.Add(AlertRulesCommand.Create(context, options));
        alerts.Subcommands.Add(SilenceCommand.Create(context, options));
        return alerts;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var state = new Option<string>("--state")
        {
            Description = "Only alerts in this state: firing, pending or resolved; several separated by commas (firing,pending). (default: all three)",
            HelpName = "STATE",
        };
        var command = new Command("ls", """
            List the alerts the server's rules raise: firing first, then pending, then those resolved in the
            last 15 minutes. NODE, GPU and SEVERITY are the alert's labels of those names and LABELS sums up
            the others; VALUE is the expression's value; SINCE is when it started firing (a pending alert:
            since when its expression holds; a resolved one: when it resolved). A state marked (silenced)
            is held back from delivery by a silence ('gantry alerts silence ls'). SUMMARY is the rule's
            summary annotation.
            """) { state };
        command.Aliases.Add("list");
        options.AddOutputTo(command);
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry alerts ls", async (invocation, ct) =>
        {
            var states = ParseStates(parseResult.GetValue(state));
            var body = await invocation.Api.GetAsync("api/v1/alerts" + (states is null ? "" : "?state=" + Uri.EscapeDataString(states)), ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, body);
            }
            else
            {
                AlertViews.WriteAlerts(context.Output, Paging.Deserialize(body, ResponseJson.For<AlertsResponse>()), invocation.Now, context.TableWidth, filtered: states is not null);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    /// <summary><c>--state</c>: alert states separated by commas, checked against their wire names; null when not given.</summary>
    internal static string? ParseStates(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var names = new List<string>();
        foreach (var part in text.Split(',', StringSplitOptions.TrimEntries))
        {
            var name = NodesCommand.StateName<AlertState>(part, "--state")!;
            if (!names.Contains(name))
            {
                names.Add(name);
            }
        }

        return string.Join(',', names);
    }
}
