using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Charts;

namespace Gantry.Server.Dashboard.Views;

/// <summary>How the dashboard writes values: units from <see cref="Units"/>, "–" for a reading that is missing.</summary>
internal static class Show
{
    /// <summary>Shown where a value is not reported (never 0).</summary>
    public const string Missing = "–";

    public static string Percent(double? fraction) => fraction is { } f ? Units.Format(f * 100, ChartUnit.Percent) : Missing;

    public static string Watts(double? watts) => watts is { } w ? Units.Format(w, ChartUnit.Watts) : Missing;

    public static string Celsius(double? celsius) => celsius is { } c ? Units.Format(c, ChartUnit.Celsius) : Missing;

    public static string Bytes(long? bytes) => bytes is { } b ? Units.Format(b, ChartUnit.Bytes) : Missing;

    public static string Energy(double? joules) => joules is { } j ? Units.FormatEnergy(j) : Missing;

    /// <summary>"3.2 / 80 GiB".</summary>
    public static string Memory(long? used, long? total) =>
        used is null && total is null ? Missing : $"{Bytes(used)} / {Bytes(total)}";

    /// <summary>A UTC time people can read: "2026-11-23 20:15:03 UTC".</summary>
    public static string Time(DateTimeOffset? at) =>
        at is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture) + " UTC" : Missing;

    /// <summary>The same time as an ISO 8601 value for <c>&lt;time datetime&gt;</c>.</summary>
    public static string Iso(DateTimeOffset at) => at.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture);

    /// <summary>A duration such as "3 m 20 s"; missing when either end is.</summary>
    public static string Duration(DateTimeOffset? from, DateTimeOffset? to) =>
        from is { } f && to is { } t ? Units.FormatDuration(t > f ? t - f : TimeSpan.Zero) : Missing;

    /// <summary>The command line: a shell string as is, an argument vector as a shell would need it typed.</summary>
    public static string Command(JobInfo job)
    {
        ArgumentNullException.ThrowIfNull(job);
        if (job.Container is { } container && job.Command.Count == 0)
        {
            // A container job without arguments runs its image's own command (docs/containers-jobs.md).
            return "(" + container.Image + ")";
        }

        if (job.Shell)
        {
            return job.Command[0];
        }

        var line = new System.Text.StringBuilder();
        foreach (var arg in job.Command)
        {
            if (line.Length > 0)
            {
                line.Append(' ');
            }

            // sh -c 'echo a b' rather than sh -c echo a b; a quote inside becomes '\''.
            var plain = arg.Length > 0 && arg.All(static c => char.IsAsciiLetterOrDigit(c) || "-_./=:,+%@".Contains(c, StringComparison.Ordinal));
            line.Append(plain ? arg : "'" + arg.Replace("'", "'\\''", StringComparison.Ordinal) + "'");
        }

        return line.ToString();
    }

    /// <summary>"0,1" for a GPU list; missing when none.</summary>
    public static string Gpus(IReadOnlyList<int> gpus) =>
        gpus.Count == 0 ? Missing : string.Join(',', gpus);

    /// <summary>A whole number with thousands separators.</summary>
    /// <summary>A GPU's health in a few words: <c>cordoned until reset</c>, <c>degraded</c>, with <c>(held)</c> when the breaker holds an action back.</summary>
    public static string Health(GpuHealthInfo health) =>
        (health.State switch
        {
            GpuHealthState.Cordoned => health.Until switch
            {
                HealthRecovery.Reset => health.CleanSince is null ? "cordoned until reset" : "cordoned, reset seen",
                HealthRecovery.Reboot => "cordoned until reboot",
                _ => health.Manual ? "cordoned by a person" : "cordoned for service",
            },
            GpuHealthState.Degraded => "degraded",
            _ => "healthy",
        }) + (health.Held is null ? "" : " (held)");

    /// <summary>A health change's name as the history shows it.</summary>
    public static string Change(HealthChange change) => change == HealthChange.JobStopped ? "job stopped" : change.Name();

    public static string Count(int value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>True when the job can still be cancelled.</summary>
    public static bool IsLive(JobState state) => state is JobState.Pending or JobState.Assigned or JobState.Running;

    /// <summary>True when the node's GPUs or summary are simulated.</summary>
    public static bool IsSimulated(NodeInfo node)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.Summary?.Simulated == true)
        {
            return true;
        }

        foreach (var gpu in node.Gpus)
        {
            if (gpu.Simulated)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The latest summary of GPU <paramref name="index"/>; null when none.</summary>
    public static GpuSummary? GpuNow(NodeInfo node, int index)
    {
        ArgumentNullException.ThrowIfNull(node);
        if (node.Summary is { } summary)
        {
            foreach (var gpu in summary.Gpus)
            {
                if (gpu.Index == index)
                {
                    return gpu;
                }
            }
        }

        return null;
    }
}
