using System.Globalization;
using System.Text;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Core.Text;
using Gantry.Cli.Output;
using Spectre.Console;
using Spectre.Console.Rendering;

namespace Gantry.Cli.Top;

/// <summary>
/// Lays out a <see cref="TopView"/> as lines no wider than the terminal (80 columns at least): each
/// line is cut, never wrapped, so the screen keeps its shape over SSH. The same lines serve the live
/// display (with colour) and the one-shot snapshot for pipes (plain text, ASCII bars).
/// </summary>
internal static class TopRenderer
{
    /// <summary>Most rows a job list shows; the rest is counted in a "… N more" line.</summary>
    public const int MaxJobRows = 50;

    private const int BarWidth = 10;

    /// <summary>The view as Spectre markup lines, for <c>Live</c>.</summary>
    public static IRenderable Render(TopView view, int width, DateTimeOffset now, bool unicode)
    {
        var lines = Lines(view, width, now, unicode, live: true);
        var rows = new IRenderable[lines.Count];
        for (var i = 0; i < rows.Length; i++)
        {
            rows[i] = new Markup(lines[i].ToMarkup()) { Overflow = Overflow.Crop };
        }

        return new Rows(rows);
    }

    /// <summary>The view as plain text lines ending in <c>\n</c> (the non-terminal snapshot).</summary>
    public static string RenderPlain(TopView view, int width, DateTimeOffset now)
    {
        var text = new StringBuilder();
        foreach (var line in Lines(view, width, now, unicode: false, live: false))
        {
            text.Append(line.ToPlain().TrimEnd()).Append('\n');
        }

        return text.ToString();
    }

    internal static List<Line> Lines(TopView view, int width, DateTimeOffset now, bool unicode, bool live)
    {
        ArgumentNullException.ThrowIfNull(view);
        width = Math.Max(width, 40);
        var lines = new List<Line>();
        Header(view, width, live, lines);
        foreach (var node in view.Nodes)
        {
            lines.Add(new Line(width));
            NodeBlock(node, view.JobCounts is null, width, now, unicode, lines);
        }

        if (view.JobCounts is not null)
        {
            lines.Add(new Line(width));
            RunningJobs(view.Running, Count(view.JobCounts, JobState.Running) + Count(view.JobCounts, JobState.Assigned), width, now, lines);
            lines.Add(new Line(width));
            PendingJobs(view.Pending, Count(view.JobCounts, JobState.Pending), width, now, lines);
        }

        return lines;
    }

    private static void Header(TopView view, int width, bool live, List<Line> lines)
    {
        var title = new Line(width).Add("gantry top", "bold").Add("  " + view.Source, "grey").Add("  " + view.At.ToUniversalTime().ToString("HH:mm:ss'Z'", CultureInfo.InvariantCulture), "grey");
        if (live)
        {
            title.Add("  q to quit", "grey");
        }

        lines.Add(title);
        if (view.Notice is { } notice)
        {
            lines.Add(new Line(width).Add(notice, "bold red"));
        }

        var summary = new Line(width);
        if (view.JobCounts is not null)
        {
            summary.Add("Nodes ", "bold").Add(view.Nodes.Count == 0 ? "none" : NodeCounts(view.NodeCounts)).Add("   ");
        }

        summary.Add("GPUs ", "bold").Add($"{view.BusyGpus}/{view.Gpus} busy").Add("   ");
        summary.Add("Power ", "bold").Add(view.PowerWatts is { } watts ? Watts(watts) : "-");
        if (HasSimulated(view))
        {
            summary.Add("   * simulated GPU", "yellow");
        }

        lines.Add(summary);
        if (view.JobCounts is { } jobs)
        {
            var line = new Line(width).Add("Jobs ", "bold");
            var first = true;
            foreach (var state in Enum.GetValues<JobState>())
            {
                if (jobs.GetValueOrDefault(state) is var count and > 0)
                {
                    line.Add((first ? "" : ", ") + count.ToString(CultureInfo.InvariantCulture) + " ", null).Add(StateName(state), JobStyle(state));
                    first = false;
                }
            }

            if (first)
            {
                line.Add("none");
            }

            lines.Add(line);
        }

    }

    private static bool HasSimulated(TopView view)
    {
        foreach (var node in view.Nodes)
        {
            foreach (var gpu in node.Gpus)
            {
                if (gpu.Simulated)
                {
                    return true;
                }
            }
        }

        return false;
    }

    private static void NodeBlock(TopNode node, bool agent, int width, DateTimeOffset now, bool unicode, List<Line> lines)
    {
        // A long host name is cut so the state and figures stay on the line.
        var head = new Line(width).Add(Cut(node.Name, Math.Max(16, width - 50)), "bold");
        if (node.State is { } state)
        {
            head.Add("  ").Add(StateName(state), NodeStyle(state));
        }

        if (node.Simulated)
        {
            head.Add("  simulated", "yellow");
        }

        if (node.CpuUtilization is { } cpu)
        {
            head.Add("  CPU " + Percent(cpu));
        }

        if (node.MemoryTotalBytes is { } total)
        {
            head.Add("  MEM " + (node.MemoryUsedBytes is { } used ? Formats.Bytes(used) + "/" : "") + Formats.Bytes(total));
        }

        if (node.PowerWatts is { } watts)
        {
            head.Add("  " + Watts(watts));
        }

        if (node.SampledAt is { } sampled && !agent)
        {
            head.Add("  " + Formats.Ago(sampled, now), "grey");
        }

        lines.Add(head);
        if (node.GpuStatus is { } status)
        {
            lines.Add(new Line(width).Add("  " + status, "grey"));
        }

        if (node.Gpus.Count == 0)
        {
            if (node.GpuStatus is null)
            {
                lines.Add(new Line(width).Add("  no GPUs", "grey"));
            }

            return;
        }

        // 2 + 4 + model + 16 + 21 + 6 + 7 + 8: 15 columns of model at 80.
        var model = Math.Max(8, width - 2 - 4 - 16 - 21 - 6 - 7 - (agent ? 0 : 8) - 1);
        var header = new Line(width).Add("  " + Pad("GPU", 4) + Pad("MODEL", model) + Pad("UTIL", 16) + Pad("MEMORY", 21) + Pad("TEMP", 6, right: true) + Pad("POWER", 7, right: true), "grey");
        if (!agent)
        {
            header.Add("  JOB", "grey");
        }

        lines.Add(header);
        foreach (var gpu in node.Gpus)
        {
            var row = new Line(width).Add("  " + Pad(gpu.Index.ToString(CultureInfo.InvariantCulture) + (gpu.Simulated ? "*" : ""), 4));
            row.Add(Pad(Cut(ShortModel(gpu.Model), model - 1), model));
            if (gpu.Lost)
            {
                row.Add(Pad("lost", 37), "bold red");
            }
            else
            {
                var utilization = gpu.Utilization;
                Bar(row, utilization, unicode);
                row.Add(Pad(utilization is { } u ? Percent(u) : "-", 5, right: true) + " ");
                double? memoryShare = gpu.MemoryUsedBytes is { } used && gpu.MemoryTotalBytes is { } capacity && capacity > 0 ? (double)used / capacity : null;
                Bar(row, memoryShare, unicode);
                var memory = (gpu.MemoryUsedBytes is { } u2 ? Formats.Bytes(u2) : "-") + "/" + (gpu.MemoryTotalBytes is { } t ? Formats.Bytes(t) : "-");
                row.Add(" " + Pad(memory, 10));
            }

            var temperature = gpu.TemperatureCelsius is { } c ? c.ToString("0", CultureInfo.InvariantCulture) + "°C" : "-";
            row.Add(Pad(temperature, 6, right: true), gpu.TemperatureCelsius >= 85 ? "bold red" : gpu.TemperatureCelsius >= 75 ? "yellow" : null);
            row.Add(Pad(gpu.PowerWatts is { } w ? w.ToString("0", CultureInfo.InvariantCulture) + "W" : "-", 7, right: true));
            if (!agent)
            {
                row.Add("  " + (gpu.JobId is { } job ? job.ToString(CultureInfo.InvariantCulture) : "-"), gpu.JobId is null ? "grey" : "cyan");
            }

            lines.Add(row);
        }
    }

    private static void RunningJobs(IReadOnlyList<ClusterJob> jobs, int total, int width, DateTimeOffset now, List<Line> lines)
    {
        lines.Add(new Line(width).Add($"RUNNING ({total})", "bold"));
        if (jobs.Count == 0)
        {
            lines.Add(new Line(width).Add("  none", "grey"));
            return;
        }

        var name = width - 2 - 8 - 10 - 15 - 6 - 8;
        lines.Add(new Line(width).Add("  " + Pad("ID", 8) + Pad("STATE", 10) + Pad("NODE", 15) + Pad("GPUS", 6) + Pad("FOR", 8) + "NAME / COMMAND", "grey"));
        for (var i = 0; i < jobs.Count && i < MaxJobRows; i++)
        {
            var job = jobs[i];
            var row = new Line(width).Add("  " + Pad(job.Id.ToString(CultureInfo.InvariantCulture), 8));
            row.Add(Pad(StateName(job.State), 10), JobStyle(job.State));
            row.Add(Pad(Cut(job.NodeId ?? "-", 14), 15));
            row.Add(Pad(job.Gpus.Count == 0 ? "-" : string.Join(',', job.Gpus), 6));
            row.Add(Pad(job.StartedAt is { } started ? Durations.FormatApproximate(now - started) : "-", 8));
            row.Add(Cut(Describe(job), name));
            lines.Add(row);
        }

        More(jobs.Count, total, width, lines);
    }

    private static void PendingJobs(IReadOnlyList<ClusterJob> jobs, int total, int width, DateTimeOffset now, List<Line> lines)
    {
        lines.Add(new Line(width).Add($"PENDING ({total})", "bold"));
        if (jobs.Count == 0)
        {
            lines.Add(new Line(width).Add("  none", "grey"));
            return;
        }

        lines.Add(new Line(width).Add("  " + Pad("ID", 8) + Pad("GPUS", 6) + Pad("PRIO", 6) + Pad("WAITING", 9) + Pad("NAME / COMMAND", 30) + "REASON", "grey"));
        for (var i = 0; i < jobs.Count && i < MaxJobRows; i++)
        {
            var job = jobs[i];
            var row = new Line(width).Add("  " + Pad(job.Id.ToString(CultureInfo.InvariantCulture), 8));
            row.Add(Pad(job.GpusRequested.ToString(CultureInfo.InvariantCulture), 6));
            row.Add(Pad(job.Priority.ToString(CultureInfo.InvariantCulture), 6));
            row.Add(Pad(Durations.FormatApproximate(now - job.SubmittedAt), 9));
            row.Add(Pad(Cut(Describe(job), 29), 30));
            row.Add(job.Reason ?? "", "grey");
            lines.Add(row);
        }

        More(jobs.Count, total, width, lines);
    }

    private static void More(int shown, int total, int width, List<Line> lines)
    {
        var listed = Math.Min(shown, MaxJobRows);
        if (total > listed)
        {
            lines.Add(new Line(width).Add($"  … {total - listed} more", "grey"));
        }
    }

    private static void Bar(Line row, double? share, bool unicode)
    {
        if (share is not { } value)
        {
            row.Add(Pad("", BarWidth));
            return;
        }

        var filled = (int)Math.Round(Math.Clamp(value, 0, 1) * BarWidth);
        var style = value >= 0.9 ? "red" : value >= 0.6 ? "yellow" : "green";
        row.Add(new string(unicode ? '█' : '#', filled), style);
        row.Add(new string(unicode ? '░' : '.', BarWidth - filled), "grey");
    }

    private static string Describe(ClusterJob job) =>
        job.Name is { Length: > 0 } name ? name + " · " + Formats.CommandLine(job.Command) : Formats.CommandLine(job.Command);

    private static string NodeCounts(IReadOnlyDictionary<NodeState, int> counts)
    {
        var parts = new List<string>();
        foreach (var state in Enum.GetValues<NodeState>())
        {
            if (counts.GetValueOrDefault(state) is var count and > 0)
            {
                parts.Add(count.ToString(CultureInfo.InvariantCulture) + " " + StateName(state));
            }
        }

        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    private static int Count(IReadOnlyDictionary<JobState, int> counts, JobState state) => counts.GetValueOrDefault(state);

    /// <summary>"NVIDIA H100 80GB HBM3" → "H100 80GB HBM3": the vendor is the same on every row (and a simulated GPU is starred).</summary>
    private static string ShortModel(string model)
    {
        if (model.StartsWith("Simulated ", StringComparison.Ordinal))
        {
            model = model["Simulated ".Length..];
        }

        return model.StartsWith("NVIDIA ", StringComparison.Ordinal) ? model["NVIDIA ".Length..] : model;
    }

    private static string Percent(double share) => (share * 100).ToString("0", CultureInfo.InvariantCulture) + "%";

    private static string Watts(double watts) => watts >= 10_000
        ? (watts / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " kW"
        : watts.ToString("0", CultureInfo.InvariantCulture) + " W";

    private static string StateName(Enum state) => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(state.ToString());

    private static string? NodeStyle(NodeState state) => state switch
    {
        NodeState.Ready => "green",
        NodeState.Suspect => "yellow",
        NodeState.Down => "bold red",
        _ => "blue",
    };

    private static string? JobStyle(JobState state) => state switch
    {
        JobState.Running or JobState.Succeeded => "green",
        JobState.Assigned or JobState.Pending => "yellow",
        JobState.Failed or JobState.Lost => "red",
        _ => null,
    };

    private static string Pad(string text, int width, bool right = false) =>
        text.Length >= width ? text : right ? text.PadLeft(width) : text.PadRight(width);

    private static string Cut(string text, int width) =>
        width <= 0 ? "" : text.Length <= width ? text : text[..Math.Max(0, width - 1)] + "…";

    /// <summary>One screen line: styled pieces, cut at the width (one column per char: the text is kept to BMP symbols of width 1).</summary>
    internal sealed class Line(int width)
    {
        private readonly List<(string Text, string? Style)> _parts = [];
        private int _length;

        public Line Add(string text, string? style = null)
        {
            var room = width - _length;
            if (room <= 0 || text.Length == 0)
            {
                return this;
            }

            if (text.Length > room)
            {
                text = room == 1 ? "…" : text[..(room - 1)] + "…";
            }

            _parts.Add((text, style));
            _length += text.Length;
            return this;
        }

        public string ToPlain()
        {
            var text = new StringBuilder(_length);
            foreach (var (part, _) in _parts)
            {
                text.Append(part);
            }

            return text.ToString();
        }

        public string ToMarkup()
        {
            var text = new StringBuilder(_length + 16);
            foreach (var (part, style) in _parts)
            {
                if (style is null)
                {
                    text.Append(Markup.Escape(part));
                }
                else
                {
                    text.Append('[').Append(style).Append(']').Append(Markup.Escape(part)).Append("[/]");
                }
            }

            // An empty Markup renders no line at all in Rows: keep blank lines as one space.
            return text.Length == 0 ? " " : text.ToString();
        }
    }
}
