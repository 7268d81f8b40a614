using System.CommandLine;
using System.Globalization;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Nodes;

/// <summary>
/// <c>gantry nodes power-cap NODE-ID --gpu-watts W | --clear [--wait DURATION]</c> (docs/power.md): sets or
/// lifts a node's power cap by hand, then waits for the node's agent to report it applied; a cap the agent
/// could not apply (no permission, not supported, out of range) is an error, exit status 1.
/// </summary>
internal static class PowerCapCommand
{
    /// <summary>The highest cap accepted, in watts (as the server's).</summary>
    internal const double MaxWatts = 10_000;

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    public static Command Create(CliContext context, ClientOptions options)
    {
        var id = new Argument<string>("NODE-ID") { Description = "The node's id (the ID column of 'gantry nodes ls')." };
        var watts = new Option<string>("--gpu-watts")
        {
            Description = "Cap every GPU of the node at this power, in watts (e.g. 300 or 300W; 1 to 10000). The agent clamps it to each GPU's accepted range; with a fleet budget or a job's own cap also in force, the lowest applies.",
            HelpName = "WATTS",
        };
        var clear = new Option<bool>("--clear")
        {
            Description = "Lift the node's cap by hand: each GPU gets back the limit it had before (unless a budget or job cap still applies).",
        };
        var wait = new Option<string>("--wait")
        {
            Description = "How long to wait for the node's agent to report the cap applied (or refused); 0s: do not wait. (default: 30s)",
            HelpName = "DURATION",
        };
        var command = new Command("power-cap", """
            Set or lift a power cap on every GPU of a node by hand (nvmlDeviceSetPowerManagementLimit on
            the node, which needs the agent to run as root). The cap is kept by the server across restarts
            and reaches the agent with its next heartbeat; the GPUs' earlier limits come back when it is
            lifted or the agent stops. Exit status 1 when the agent refuses it.
            """) { id, watts, clear, wait };
        command.SetAction((parseResult, cancellationToken) => ClientInvocation.RunAsync(context, parseResult, options, "gantry nodes power-cap", async (invocation, ct) =>
        {
            var cap = ParseWatts(parseResult.GetValue(watts));
            var lift = parseResult.GetValue(clear);
            if (cap is null == !lift)
            {
                throw new UsageException("--gpu-watts", lift ? "give either --gpu-watts or --clear, not both" : "give --gpu-watts WATTS, or --clear to lift the cap");
            }

            var waitFor = ParseWait(parseResult.GetValue(wait));
            var path = "api/v1/nodes/" + Uri.EscapeDataString(parseResult.GetValue(id)!);
            var body = cap is { } w
                ? await invocation.Api.PutAsync(path + "/power-cap", new PowerCapRequest { GpuWatts = w }, GantryJson.Default.PowerCapRequest, ct).ConfigureAwait(false)
                : await invocation.Api.DeleteAsync(path + "/power-cap", ct).ConfigureAwait(false);
            var wanted = Paging.Deserialize(body, Http.ResponseJson.For<NodePowerInfo>());
            var power = wanted;
            var deadline = context.TimeProvider.GetUtcNow() + waitFor;
            while (waitFor > TimeSpan.Zero && (power.AppliedVersion ?? long.MinValue) < wanted.Version)
            {
                if (context.TimeProvider.GetUtcNow() >= deadline)
                {
                    await context.Error.WriteAsync($"gantry nodes power-cap: the node's agent has not reported the cap applied within {Durations.Format(waitFor)} (is it connected? see 'gantry nodes show'); the server keeps it and sends it with every heartbeat\n").ConfigureAwait(false);
                    return ExitCodes.Failure;
                }

                await Task.Delay(PollInterval, context.TimeProvider, ct).ConfigureAwait(false);
                var node = Paging.Deserialize(await invocation.Api.GetAsync(path, ct).ConfigureAwait(false), Http.ResponseJson.For<NodeInfo>());
                power = node.Power ?? power;
            }

            if (invocation.Format == OutputFormat.Json)
            {
                JsonOutput.Write(context.Output, System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(power, GantryJson.Default.NodePowerInfo));
            }
            else
            {
                context.Output.Write(NodeViews.PowerSummary(power));
            }

            var refused = 0;
            foreach (var gpu in power.Gpus)
            {
                if (gpu.Error is { } error)
                {
                    refused++;
                    await context.Error.WriteAsync($"gantry nodes power-cap: GPU {gpu.Index.ToString(CultureInfo.InvariantCulture)}: {error}\n").ConfigureAwait(false);
                }
            }

            return refused == 0 ? ExitCodes.Success : ExitCodes.Failure;
        }, cancellationToken));
        return command;
    }

    /// <summary><c>--gpu-watts</c> (or <paramref name="flag"/>): watts from 1 to 10000, with or without a W; null when not given.</summary>
    internal static double? ParseWatts(string? text, string flag = "--gpu-watts")
    {
        if (text is null)
        {
            return null;
        }

        var trimmed = text.Trim();
        if (trimmed.EndsWith('W') || trimmed.EndsWith('w'))
        {
            trimmed = trimmed[..^1].TrimEnd();
        }

        return double.TryParse(trimmed, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var watts) && watts >= 1 && watts <= MaxWatts
            ? watts
            : throw new UsageException(flag, $"expected watts from 1 to {MaxWatts.ToString(CultureInfo.InvariantCulture)}, e.g. 300 or 300W, got '{text}'");
    }

    private static TimeSpan ParseWait(string? text)
    {
        if (text is null)
        {
            return TimeSpan.FromSeconds(30);
        }

        return Durations.TryParse(text, out var wait) && wait >= TimeSpan.Zero && wait <= TimeSpan.FromHours(1)
            ? wait
            : throw new UsageException("--wait", $"expected a duration from 0s to 1h, e.g. 30s, got '{text}'");
    }
}
