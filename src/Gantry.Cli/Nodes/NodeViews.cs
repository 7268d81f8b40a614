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
                node.State.Name(),
                $"{BusyGpus(node)}/{node.Gpus.Count}",
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

    public static void WriteShow(TextWriter writer, NodeInfo node, DateTimeOffset now, int width)
    {
        var view = new KeyValueWriter()
            .Add("ID", node.Id)
            .Add("Name", node.Name)
            .Add("State", node.Drain && node.State is not (NodeState.Draining or NodeState.Drained) ? node.State.Name() + " (drain requested)" : node.State.Name())
            .Add("Platform", $"{node.Os}/{node.Architecture}")
            .Add("CPUs", $"{node.UsedCpus}/{node.CpuCores} reserved")
            .Add("Memory", $"{Formats.Bytes(node.UsedMemoryBytes)}/{Formats.Bytes(node.MemoryBytes)} reserved")
            .Add("GPUs", $"{BusyGpus(node)}/{node.Gpus.Count} busy")
            .Add("Labels", Formats.Labels(node.Labels))
            .Add("Jobs", string.Join(", ", node.Jobs))
            .Add("Agent", node.AgentUrl is null ? node.AgentVersion : $"{node.AgentVersion ?? "?"} at {node.AgentUrl}")
            .Add("Registered", Formats.Instant(node.RegisteredAt, now))
            .Add("Last seen", Formats.Instant(node.LastHeartbeatAt, now));
        if (node.Summary is { } summary)
        {
            view.Add("Sample", SampleLine(summary, now));
        }

        view.Write(writer);
        if (node.Gpus.Count == 0)
        {
            return;
        }

        writer.Write('\n');
        var table = new Table(
            new Column("GPU", AlignRight: true),
            new Column("MODEL", MaxWidth: 32, MinWidth: 10),
            new Column("MEMORY", AlignRight: true),
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
