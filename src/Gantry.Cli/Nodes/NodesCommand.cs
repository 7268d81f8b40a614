using System.CommandLine;
using System.Text.Json;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Nodes;

/// <summary><c>gantry nodes ls|show|drain|undrain</c>.</summary>
internal static class NodesCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry nodes --help</c> say it does.</summary>
    internal const string Description = "List and inspect the server's nodes; drain a node before maintenance.";

    public static Command Create(CliContext context)
    {
        var options = new ClientOptions();
        var nodes = new Command("nodes", Description);
        options.AddTo(nodes);
        nodes.Subcommands.Add(CreateList(context, options));
        nodes.Subcommands.Add(CreateShow(context, options));
        nodes.Subcommands.Add(CreateDrain(context, options, drain: true));
        nodes.Subcommands.Add(CreateDrain(context, options, drain: false));
        return nodes;
    }

    private static Command CreateList(CliContext context, ClientOptions options)
    {
        var state = new Option<string>("--state")
        {
            Description = "Only nodes in this state: ready, suspect, down, draining or drained.",
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

    private static void WriteNode(ClientInvocation invocation, byte[] body, Action<TextWriter, NodeInfo, DateTimeOffset, int> table)
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
