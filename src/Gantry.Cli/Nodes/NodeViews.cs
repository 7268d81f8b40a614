using System.Globalization;
using System.Text;
using Gantry.Cli.Output;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Nodes;

/// <summary>How nodes read in the table and the <c>show</c> view.</summary>
internal static class NodeViews
{
    public static void WriteTable(TextWriter writer, IReadOnlyList<NodeInfo> nodes, DateTimeOffset now, int width)
    {
        var table = new Table(
            new Column("ID", MaxWidth: 24, MinWidth: 8),
            new Column("NAME", MaxWidth: 32, MinWidth: 8),
            new Column("STATE"),
            new Column("GPUS", AlignRight: true),
            new Column("CPUS", AlignRight: true),
            new Column("MEMORY", AlignRight: true),
            new Column("LAST SEEN", AlignRight: true),
            new Column("LABELS", MinWidth: 6, Flexible: true));
        foreach (var node in nodes)
        {
            table.AddRow(
                node.Id,
                node.Name,
                StateCell(node),
                GpusCell(node),
                $"{node.UsedCpus}/{node.CpuCores}",
                $"{Formats.Bytes(node.UsedMemoryBytes)}/{Formats.Bytes(node.MemoryBytes)}",
                Formats.Ago(node.LastHeartbeatAt, now),
                Formats.Labels(node.Labels));
        }

        if (table.RowCount == 0)
        {
            writer.Write("No nodes. Start an agent with --server and --join-token to add one.\n");
            return;
        }

        table.Write(writer, width);
    }

    /// <summary>"podman 4.3.1, docker 27.1.0", or "none" (docs/containers-jobs.md).</summary>
    private static string ContainerRuntimes(NodeInfo node) =>
        node.ContainerRuntimes.Count == 0
            ? "none"
            : string.Join(", ", node.ContainerRuntimes.Select(static r => (r.Name == ContainerRuntime.Docker ? "docker" : "podman") + (r.Version is { } v ? " " + v : "")));

    public static void WriteShow(TextWriter writer, NodeInfo node, DateTimeOffset now, int width)
    {
        var view = new KeyValueWriter()
            .Add("ID", node.Id)
            .Add("Name", node.Name)
            .Add("State", node.Drain && node.State is not (NodeState.Draining or NodeState.Drained) ? node.State.Name() + " (drain requested)" : node.State.Name())
            .Add("Platform", $"{node.Os}/{node.Architecture}")
            .Add("CPUs", $"{node.UsedCpus}/{node.CpuCores} reserved")
            .Add("Memory", $"{Formats.Bytes(node.UsedMemoryBytes)}/{Formats.Bytes(node.MemoryBytes)} reserved")
            .Add("GPUs", $"{BusyGpus(node)}/{node.Gpus.Count} busy" + (Cordoned(node) is > 0 and var cordoned ? $", {cordoned} cordoned" : ""))
            .Add("Labels", Formats.Labels(node.Labels))
            .Add("Jobs", string.Join(", ", node.Jobs))
            .Add("Agent", node.AgentUrl is null ? node.AgentVersion : $"{node.AgentVersion ?? "?"} at {node.AgentUrl}")
            .Add("Containers", ContainerRuntimes(node))
            .Add("Registered", Formats.Instant(node.RegisteredAt, now))
            .Add("Last seen", Formats.Instant(node.LastHeartbeatAt, now));
        if (node.Summary is { } summary)
        {
            view.Add("Sample", SampleLine(summary, now));
        }

        if (node.PowerSaving is { } saving)
        {
            // Power saving (docs/power-saving.md).
            view.Add("Power saving", PowerLine(node, saving, now));
            view.Add("Measured power", $"idle {MeasuredWatts(saving.IdleWatts)}, {MeasuredWatts(saving.WattsPerBusyGpu)} per busy GPU");
            if (saving.LastEvent is { } lastEvent)
            {
                view.Add("Power event", lastEvent);
            }
        }

        if (node.Health is { Drained: true } drained)
        {
            view.Add("Health", $"drained until it reboots: {drained.Cause} (since {Formats.Instant(drained.Since, now)})");
        }

        if (node.Health?.KernelLog is { } kernelLog)
        {
            view.Add("Kernel log", kernelLog);
        }

        view.Write(writer);
        if (node.Gpus.Count > 0)
        {
            writer.Write('\n');
            WriteGpus(writer, node, width);
        }

        // Power caps (docs/power.md).
        if (node.Power is { } power && (power.Wanted.Count > 0 || power.ManualGpuWatts is not null || HasCaps(power)))
        {
            writer.Write('\n');
            writer.Write(PowerSummary(power));
        }

        if (node.HealthHistory is { Count: > 0 } history)
        {
            writer.Write("\nHealth history (newest first):\n");
            foreach (var change in history)
            {
                var what = change.Gpu is { } gpu ? "GPU " + Formats.Number(gpu) : "node";
                writer.Write($"  {Formats.Instant(change.Time, now)}  {what}  {Name(change.Change)} by {(change.Actor == HealthActor.Person ? "a person" : "automation")}: {change.Cause}\n");
                if (change.Evidence is { } evidence)
                {
                    writer.Write($"      evidence: {evidence}\n");
                }
            }
        }
    }

    /// <summary>
    /// A node's power caps (docs/power.md): the cap by hand, then per GPU the enforced limit, Gantry's cap
    /// and whose it is, the limit it had before and any refusal; what <c>gantry nodes power-cap</c> prints.
    /// </summary>
    public static string PowerSummary(NodePowerInfo power)
    {
        ArgumentNullException.ThrowIfNull(power);
        var text = new StringBuilder();
        var simulated = power.Simulated ? " (simulated GPUs: simulated limits)" : "";
        text.Append(power.ManualGpuWatts is { } manual
            ? $"Power cap by hand: {Formats.Number(manual)} W per GPU{simulated}\n"
            : $"Power cap by hand: none{simulated}\n");
        if (power.AppliedVersion is not { } applied || applied < power.Version)
        {
            text.Append("  (the agent has not reported the wanted caps applied yet)\n");
        }

        foreach (var gpu in power.Gpus)
        {
            var line = new StringBuilder($"  GPU {Formats.Number(gpu.Index)}: limit {Watts(gpu.LimitWatts)}");
            if (gpu.CapWatts is { } cap)
            {
                line.Append($", capped at {Formats.Number(cap)} W by {SourceName(gpu.Source)}");
                if (gpu.WantedWatts is { } w && w != cap)
                {
                    line.Append($" (asked {Formats.Number(w)} W, clamped to {Watts(gpu.MinWatts)}-{Watts(gpu.MaxWatts)})");
                }

                if (gpu.PreviousWatts is { } previous)
                {
                    line.Append($", {Formats.Number(previous)} W before");
                }
            }
            else if (gpu.MinWatts is not null || gpu.MaxWatts is not null)
            {
                line.Append($" (range {Watts(gpu.MinWatts)}-{Watts(gpu.MaxWatts)})");
            }

            if (gpu.Error is { } error)
            {
                line.Append($"\n    REFUSED ({SourceName(gpu.Source)} cap of {Watts(gpu.WantedWatts)}): {error}");
            }

            text.Append(line).Append('\n');
        }

        return text.ToString();
    }

    private static bool HasCaps(NodePowerInfo power)
    {
        foreach (var gpu in power.Gpus)
        {
            if (gpu.CapWatts is not null || gpu.Error is not null)
            {
                return true;
            }
        }

        return false;
    }

    private static string Watts(double? watts) => watts is { } w ? Formats.Number(w) + " W" : "?";

    private static string SourceName(PowerCapSource? source) => source switch
    {
        PowerCapSource.Manual => "hand",
        PowerCapSource.Budget => "the fleet budget",
        PowerCapSource.Job => "the job",
        _ => "?",
    };

    /// <summary>The state, with the energy power saving saved when it saved any: "suspended, 1.2 kWh saved".</summary>
    private static string StateCell(NodeInfo node) =>
        node.PowerSaving is { EnergySavedJoules: > 0 } saving ? $"{node.State.Name()}, {Energy(saving.EnergySavedJoules)} saved" : node.State.Name();

    private static string PowerLine(NodeInfo node, NodePowerSavingInfo power, DateTimeOffset now)
    {
        var saved = Energy(power.EnergySavedJoules) + " saved";
        return node.State switch
        {
            NodeState.Suspended => $"suspended since {Formats.Instant(power.Since, now)}; {saved}",
            NodeState.Resuming => $"resuming since {Formats.Instant(power.Since, now)}, down if not back by {Formats.Instant(power.ResumeDeadline, now)}; {saved}",
            _ => saved,
        };
    }

    /// <summary>Joules as Wh or kWh.</summary>
    private static string Energy(double joules) => joules >= 3.6e6
        ? (joules / 3.6e6).ToString("0.0", CultureInfo.InvariantCulture) + " kWh"
        : (joules / 3600).ToString("0.0", CultureInfo.InvariantCulture) + " Wh";

    private static string MeasuredWatts(double? watts) => watts is { } w ? w.ToString("0", CultureInfo.InvariantCulture) + " W" : "not measured";

    /// <summary>What <c>cordon</c>/<c>uncordon</c> print.</summary>
    public static string CordonSummary(NodeInfo node, int? gpu)
    {
        var text = new StringBuilder();
        foreach (var g in node.Gpus)
        {
            if (gpu is { } only && g.Index != only)
            {
                continue;
            }

            text.Append($"node {node.Id} GPU {g.Index}: {HealthText(g.Health)}\n");
        }

        if (gpu is null && node.Health is { Drained: true } drained)
        {
            text.Append($"node {node.Id} is drained until it reboots: {drained.Cause}\n");
        }

        return text.Length == 0 ? $"node {node.Id} has no GPUs\n" : text.ToString();
    }

    private static void WriteGpus(TextWriter writer, NodeInfo node, int width)
    {
        var table = new Table(
            new Column("GPU", AlignRight: true),
            new Column("MODEL", MaxWidth: 32, MinWidth: 10),
            new Column("MEMORY", AlignRight: true),
            new Column("HEALTH", MaxWidth: 48, MinWidth: 7),
            new Column("JOB", AlignRight: true),
            new Column("UTIL", AlignRight: true),
            new Column("TEMP", AlignRight: true),
            new Column("POWER", AlignRight: true),
            new Column("UUID", Flexible: true));
        foreach (var gpu in node.Gpus)
        {
            GpuSummary? figures = null;
            if (node.Summary is { } s)
            {
                foreach (var candidate in s.Gpus)
                {
                    if (candidate.Index == gpu.Index)
                    {
                        figures = candidate;
                    }
                }
            }

            table.AddRow(
                Formats.Number(gpu.Index),
                gpu.Simulated ? gpu.Model + " (sim)" : gpu.Model,
                Formats.Bytes(gpu.MemoryBytes),
                HealthText(gpu.Health),
                gpu.JobId is { } job ? Formats.Number(job) : "-",
                figures?.Lost == true ? "lost" : Percent(figures?.Utilization),
                figures?.TemperatureCelsius is { } t ? t.ToString("0", CultureInfo.InvariantCulture) + "C" : "-",
                figures?.PowerWatts is { } w ? w.ToString("0", CultureInfo.InvariantCulture) + "W" : "-",
                gpu.Uuid);
        }

        table.Write(writer, width);
    }

    /// <summary>What <c>drain</c>/<c>undrain</c> print.</summary>
    public static string DrainSummary(NodeInfo node) => node.State switch
    {
        NodeState.Draining => $"node {node.Id} is draining: {node.Jobs.Count} job{(node.Jobs.Count == 1 ? "" : "s")} still running, no new ones\n",
        NodeState.Drained => $"node {node.Id} is drained: no jobs run there\n",
        _ when node.Drain => $"node {node.Id} is {node.State.Name()}; drain requested\n",
        _ => $"node {node.Id} is {node.State.Name()} and takes jobs\n",
    };

    /// <summary><c>healthy</c>, <c>degraded: thermal slowdown</c>, <c>cordoned until reset: XID 48 (…)</c>, with what the breaker holds.</summary>
    internal static string HealthText(GpuHealthInfo? health)
    {
        if (health is null)
        {
            return "healthy";
        }

        var state = health.State switch
        {
            GpuHealthState.Cordoned => health.Until switch
            {
                HealthRecovery.Reset => health.CleanSince is null ? "cordoned until reset" : "cordoned, reset seen",
                HealthRecovery.Reboot => "cordoned until reboot",
                _ => health.Manual ? "cordoned by a person" : "cordoned until a person uncordons it",
            },
            GpuHealthState.Degraded => "degraded",
            _ => "healthy",
        };
        var text = health.Cause is { } cause && health.State != GpuHealthState.Healthy ? $"{state}: {cause}" : state;
        return health.Held is { } held ? $"{text} (held by the breaker: {held})" : text;
    }

    private static string Name(HealthChange change) => change switch
    {
        HealthChange.JobStopped => "job stopped",
        _ => change.Name(),
    };

    private static string GpusCell(NodeInfo node) =>
        Cordoned(node) is > 0 and var cordoned ? $"{BusyGpus(node)}/{node.Gpus.Count}, {cordoned} cordoned" : $"{BusyGpus(node)}/{node.Gpus.Count}";

    private static int Cordoned(NodeInfo node)
    {
        var cordoned = 0;
        foreach (var gpu in node.Gpus)
        {
            if (gpu.Health?.State == GpuHealthState.Cordoned)
            {
                cordoned++;
            }
        }

        return cordoned;
    }

    private static int BusyGpus(NodeInfo node)
    {
        var busy = 0;
        foreach (var gpu in node.Gpus)
        {
            if (gpu.JobId is not null)
            {
                busy++;
            }
        }

        return busy;
    }

    private static string SampleLine(NodeSummary summary, DateTimeOffset now)
    {
        var text = new StringBuilder();
        text.Append("cpu ").Append(Percent(summary.CpuUtilization));
        if (summary.MemoryUsedBytes is { } used && summary.MemoryTotalBytes is { } total)
        {
            text.Append(", memory ").Append(Formats.Bytes(used)).Append('/').Append(Formats.Bytes(total));
        }

        if (summary.PowerWatts is { } watts)
        {
            text.Append(", ").Append(watts.ToString("0", CultureInfo.InvariantCulture)).Append(" W");
        }

        text.Append(" (").Append(Formats.Ago(summary.SampledAt, now)).Append(summary.Simulated ? ", simulated GPUs)" : ")");
        return text.ToString();
    }

    private static string Percent(double? share) =>
        share is { } value ? (value * 100).ToString("0", CultureInfo.InvariantCulture) + "%" : "-";
}
