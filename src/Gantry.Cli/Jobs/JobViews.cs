using System.Text;
using Gantry.Cli.Output;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Jobs;

/// <summary>How jobs read in the table and the <c>show</c> view.</summary>
internal static class JobViews
{
    public static void WriteTable(TextWriter writer, IReadOnlyList<JobInfo> jobs, DateTimeOffset now, int width)
    {
        var table = new Table(
            new Column("ID", AlignRight: true),
            new Column("NAME", MaxWidth: 32, MinWidth: 8),
            new Column("OWNER", MaxWidth: 16, MinWidth: 5),
            new Column("STATE"),
            new Column("GPUS", AlignRight: true),
            new Column("NODE", MaxWidth: 24, MinWidth: 8),
            new Column("PRIO", AlignRight: true),
            new Column("TIME", AlignRight: true),
            new Column("ENERGY", AlignRight: true),
            new Column("REASON", MinWidth: 12, Flexible: true));
        foreach (var job in jobs)
        {
            table.AddRow(
                Formats.Number(job.Id),
                Name(job),
                job.Owner ?? "-",
                job.State.Name(),
                Formats.Number(job.Resources.Gpus),
                job.NodeId ?? "-",
                Formats.Number(job.Priority),
                Durations.FormatApproximate(Elapsed(job, now)),
                EnergyText.Energy(job.EnergyJoules, job.EnergyEstimated, job.EnergySimulated),
                Reason(job));
        }

        if (table.RowCount == 0)
        {
            writer.Write("No jobs.\n");
            return;
        }

        table.Write(writer, width);
    }

    public static void WriteShow(TextWriter writer, JobInfo job, DateTimeOffset now, int width)
    {
        var resources = job.Resources;
        var gpus = new StringBuilder().Append(resources.Gpus);
        if (resources.GpuModel is not null)
        {
            gpus.Append(" × ").Append(resources.GpuModel);
        }

        if (resources.GpuMemoryBytes > 0)
        {
            gpus.Append(", at least ").Append(Formats.Bytes(resources.GpuMemoryBytes)).Append(" each");
        }

        var energy = EnergyText.Summary(job.EnergyJoules, job.GpuEnergyJoules, job.CpuEnergyJoules, job.EnergyEstimated, job.EnergySimulated);
        new KeyValueWriter()
            .Add("ID", Formats.Number(job.Id))
            .Add("Name", job.Name)
            .Add("Owner", job.Owner)
            .AddIfPresent("Runs as", job.RunAsUser)
            .Add("Array index", job.ArrayIndex is { } index ? Formats.Number(index) : null)
            .Add("State", job.CancelRequested && !job.State.IsTerminal() ? job.State.Name() + " (cancel requested)" : job.State.Name())
            .Add("Reason", job.Reason)
            .Add("Command", job.Container is not null && job.Command.Count == 0 ? "(the image's)" : job.Shell ? "/bin/sh -c " + Formats.CommandLine(job.Command) : Formats.CommandLine(job.Command))
            .AddIfPresent("Container", job.Container is { } container ? ContainerFlags.Describe(container) : null)
            .AddIfPresent("Ports", job.Container is { } withPorts ? ContainerFlags.DescribePorts(withPorts) : null)
            .AddIfPresent("Volumes", job.Container is { } withVolumes ? ContainerFlags.DescribeVolumes(withVolumes) : null)
            .Add("Working dir", job.WorkingDirectory)
            .Add("Env", Formats.Labels(job.Env))
            .Add("GPUs", gpus.ToString())
            .Add("CPUs", Formats.Number(resources.Cpus))
            .Add("Memory", resources.MemoryBytes > 0 ? Formats.Bytes(resources.MemoryBytes) : "none reserved")
            .Add("Priority", Formats.Number(job.Priority))
            .Add("Selector", Formats.Labels(job.Selector))
            .Add("Max runtime", job.MaxRuntimeSeconds is { } max ? Durations.Format(TimeSpan.FromSeconds(max)) : "no limit")
            .AddIfPresent("Deadline", job.Deadline is { } deadline ? Formats.Instant(deadline, now) : null) // carbon-aware deferral
            .AddIfPresent("Expected run", job.ExpectedRuntimeSeconds is { } expected ? Durations.Format(TimeSpan.FromSeconds(expected)) : null)
            .AddIfPresent("Planned start", job.PlannedStart is { } planned ? Formats.Instant(planned, now) : null)
            .AddIfPresent("Planned zone", job.PlannedLocation)
            .Add("Retries", Formats.Number(job.Retries))
            .Add("Node", job.NodeId is null ? null : job.Gpus.Count > 0 ? $"{job.NodeId} (GPUs {string.Join(",", job.Gpus)})" : job.NodeId)
            .Add("Submitted", Formats.Instant(job.SubmittedAt, now))
            .Add("Started", Formats.Instant(job.StartedAt, now))
            .Add("Ended", Formats.Instant(job.EndedAt, now))
            .Add("Run time", job.StartedAt is null ? null : Durations.FormatApproximate(Elapsed(job, now)))
            .Add("Exit code", job.ExitCode is { } code ? Formats.Number(code) : null)
            .Add("Energy", energy is not null && !job.State.IsTerminal() ? energy + " so far" : energy)
            .Add("GPU power", EnergyText.Power(job))
            .Add("CO2e", job.Co2Grams is { } co2 ? EnergyText.Co2(co2) : null)
            .Write(writer);

        writer.Write("\nAttempts:\n");
        if (job.Attempts.Count == 0)
        {
            writer.Write("  none yet\n");
        }
        else
        {
            var attempts = new Table(
                new Column("#", AlignRight: true),
                new Column("NODE", MaxWidth: 24, MinWidth: 8),
                new Column("GPUS"),
                new Column("STATE"),
                new Column("STARTED"),
                new Column("RAN", AlignRight: true),
                new Column("EXIT", AlignRight: true),
                new Column("ENERGY", AlignRight: true),
                new Column("REASON", MinWidth: 12, Flexible: true));
            foreach (var attempt in job.Attempts)
            {
                attempts.AddRow(
                    Formats.Number(attempt.Attempt),
                    attempt.NodeId,
                    attempt.Gpus.Count == 0 ? "-" : string.Join(",", attempt.Gpus),
                    AttemptStateName(attempt.State),
                    attempt.StartedAt is { } started ? Time(started) : "-",
                    attempt.StartedAt is { } from ? Durations.FormatApproximate((attempt.EndedAt ?? now) - from) : "-",
                    attempt.ExitCode is { } exit ? Formats.Number(exit) : attempt.Signal ?? "-",
                    EnergyText.Energy(attempt.EnergyJoules, attempt.EnergyEstimated, attempt.EnergySimulated),
                    attempt.Reason ?? "");
            }

            WriteIndented(writer, attempts, width);
        }

        writer.Write("\nHistory:\n");
        var history = new Table(
            new Column("TIME"),
            new Column("FROM"),
            new Column("TO"),
            new Column("REASON", MinWidth: 12, Flexible: true));
        foreach (var transition in job.Transitions)
        {
            history.AddRow(
                Time(transition.Time),
                transition.From is { } from ? from.Name() : "-",
                transition.To.Name(),
                transition.Reason);
        }

        WriteIndented(writer, history, width);
    }

    private static string AttemptStateName(AttemptState state) => state.ToJobState().Name();

    /// <summary>Run time for a job that started (until now or its end), else the time since submission.</summary>
    internal static TimeSpan Elapsed(JobInfo job, DateTimeOffset now) =>
        job.StartedAt is { } started ? (job.EndedAt ?? now) - started : (job.EndedAt ?? now) - job.SubmittedAt;

    private static string Name(JobInfo job) => job.ArrayIndex is { } index
        ? $"{job.Name}[{index}]"
        : job.Name ?? "-";

    private static string Reason(JobInfo job) => job.Reason
        ?? (job.State == JobState.Failed && job.ExitCode is { } code ? "exit code " + Formats.Number(code) : "");

    private static string Time(DateTimeOffset time) =>
        time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static void WriteIndented(TextWriter writer, Table table, int width)
    {
        using var buffer = new StringWriter();
        table.Write(buffer, width - 2);
        foreach (var line in buffer.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            writer.Write("  ");
            writer.Write(line);
            writer.Write('\n');
        }
    }
}
