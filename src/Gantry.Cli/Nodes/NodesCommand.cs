using System.CommandLine;
using System.Text.Json;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Nodes;

/// <summary><c>gantry nodes ls|show|drain|undrain|cordon|uncordon|power-cap</c>.</summary>
internal static class NodesCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry nodes --help</c> say it does.</summary>
    internal const string Description = "List and inspect the server's nodes; drain a node before maintenance; cordon or uncordon its GPUs; cap their power.";

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        var nodes = new Command("nodes", Description);
        options.AddTo(nodes);
        nodes.Subcommands.Add(CreateList(context, options));
        nodes.Subcommands.Add(CreateShow(context, options));
        nodes.Subcommands.Add(CreateDrain(context, options, drain: true));
        nodes.Subcommands.Add(CreateDrain(context, options, drain: false));
        nodes.Subcommands.Add(CreateCordon(context, options, cordon: true));
        nodes.Subcommands.Add(CreateCordon(context, options, cordon: false));
        nodes.Subcommands.Add(PowerCapCommand.Create(context, options)); // power caps (docs/power.md)
        return nodes;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var state = new Option<string>("--state")
        {
            Description = "Only nodes in this state: ready, suspect, down, draining, drained, suspended or resuming (power saving).",
            HelpName = "STATE",
        };
        var command = new Command("ls", """
            List nodes, ordered by id. GPUS is busy/total, CPUS and MEMORY are reserved/total,
            LAST SEEN is the time since the node's last heartbeat.
            """) { state };
        command.Aliases.Add("list");
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry nodes ls", async (invocation, ct) =>
        {
            var stateFilter = StateName<NodeState>(parseResult.GetValue(state), "--state");
            var items = await Paging.ReadAsync<NodeInfo>(invocation, "api/v1/nodes", stateFilter, int.MaxValue, ct).ConfigureAwait(false);
            if (invocation.Format == OutputFormat.Table)
            {
                NodeViews.WriteTable(context.Output, items, invocation.Now, context.TableWidth);
            }

            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateShow(CliContext context, ClientOptions options)
    {
        var id = new Argument<string>("NODE-ID") { Description = "The node's id (the ID column of 'gantry nodes ls')." };
        var command = new Command("show", "Show one node: state, resources, labels, GPUs and the jobs on it.") { id };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry nodes show", async (invocation, ct) =>
        {
            var body = await invocation.Api.GetAsync("api/v1/nodes/" + Uri.EscapeDataString(parseResult.GetValue(id)!), ct).ConfigureAwait(false);
            WriteNode(invocation, body, static (writer, node, now, width) => NodeViews.WriteShow(writer, node, now, width));
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateDrain(CliContext context, ClientOptions options, bool drain)
    {
        var name = drain ? "drain" : "undrain";
        var id = new Argument<string>("NODE-ID") { Description = "The node's id (the ID column of 'gantry nodes ls')." };
        var command = new Command(name, drain
            ? "Stop placing new jobs on a node. Jobs already running finish; the node reads 'draining' until they do, then 'drained'."
            : "Let a drained node take jobs again.") { id };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry nodes " + name, async (invocation, ct) =>
        {
            var body = await invocation.Api.PostAsync($"api/v1/nodes/{Uri.EscapeDataString(parseResult.GetValue(id)!)}/{name}", body: null, ct).ConfigureAwait(false);
            WriteNode(invocation, body, static (writer, node, _, _) => writer.Write(NodeViews.DrainSummary(node)));
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    private static Command CreateCordon(CliContext context, ClientOptions options, bool cordon)
    {
        var name = cordon ? "cordon" : "uncordon";
        var id = new Argument<string>("NODE-ID") { Description = "The node's id (the ID column of 'gantry nodes ls')." };
        var gpu = new Option<string>("--gpu")
        {
            Description = cordon ? "Only this GPU (its index, the GPU column of 'gantry nodes show'). (default: every GPU of the node)" : "Only this GPU. (default: every GPU of the node, and a drain for a reboot-class fault ends too)",
            HelpName = "N",
        };
        var reason = new Option<string>("--reason")
        {
            Description = "Why, kept in the node's health history (1 to 500 characters).",
            HelpName = "TEXT",
        };
        var command = new Command(name, cordon
            ? """
              Take a GPU (or every GPU of a node) out of placement by hand: no new job goes there, jobs
              already running go on, and the node's other GPUs keep taking work. It stays cordoned until
              a person uncordons it; automation never lifts it.
              """
            : """
              Put a GPU (or every GPU of a node) back into placement, whether a person or the health
              policy cordoned it, and dismiss what the fleet breaker held back for it. What the GPU reports
              now (a pending remap, an ECC count) is acknowledged: only a new fault cordons it again.
              """) { id, gpu, reason };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry nodes " + name, async (invocation, ct) =>
        {
            var request = new CordonRequest { Gpu = ParseGpu(parseResult.GetValue(gpu)), Reason = ParseReason(parseResult.GetValue(reason)) };
            var body = await invocation.Api.PostAsync($"api/v1/nodes/{Uri.EscapeDataString(parseResult.GetValue(id)!)}/{name}", request, GantryJson.Default.CordonRequest, ct).ConfigureAwait(false);
            WriteNode(invocation, body, (writer, node, _, _) => writer.Write(NodeViews.CordonSummary(node, request.Gpu)));
            return ExitCodes.Success;
        }, cancellationToken));
        return command;
    }

    /// <summary><c>--gpu</c>: a GPU index, 0 to 1023; null when not given.</summary>
    internal static int? ParseGpu(string? text)
    {
        if (text is null)
        {
            return null;
        }

        return int.TryParse(text.Trim(), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var index) && index <= 1023
            ? index
            : throw new UsageException("--gpu", $"expected a GPU index from 0 to 1023, got '{text}'");
    }

    /// <summary><c>--reason</c>: 1 to 500 printable characters; null when not given.</summary>
    internal static string? ParseReason(string? text)
    {
        if (text is null)
        {
            return null;
        }

        var trimmed = text.Trim();
        return trimmed.Length is 0 or > 500 || trimmed.Any(char.IsControl)
            ? throw new UsageException("--reason", "must be 1 to 500 printable characters")
            : trimmed;
    }

    internal static void WriteNode(ClientInvocation invocation, byte[] body, Action<TextWriter, NodeInfo, DateTimeOffset, int> table)
    {
        if (invocation.Format == OutputFormat.Json)
        {
            JsonOutput.Write(invocation.Context.Output, body);
            return;
        }

        table(invocation.Context.Output, Paging.Deserialize(body, ResponseJson.For<NodeInfo>()), invocation.Now, invocation.Context.TableWidth);
    }

    /// <summary>Checks a <c>--state</c> value against the enum's wire names (<c>ready</c>, <c>running</c>); null passes.</summary>
    internal static string? StateName<TEnum>(string? text, string flag)
        where TEnum : struct, Enum
    {
        if (text is null)
        {
            return null;
        }

        var names = Enum.GetNames<TEnum>();
        foreach (var candidate in names)
        {
            var wire = JsonNamingPolicy.CamelCase.ConvertName(candidate);
            if (string.Equals(wire, text, StringComparison.OrdinalIgnoreCase))
            {
                return wire;
            }
        }

        throw new UsageException(flag, $"expected one of {string.Join(", ", Array.ConvertAll(names, JsonNamingPolicy.CamelCase.ConvertName))}, got '{text}'");
    }
}
