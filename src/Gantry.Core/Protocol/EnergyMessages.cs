using System.Text.Json.Serialization;
using Gantry.Core.Text;

namespace Gantry.Core.Protocol;

/// <summary>
/// What one attempt has used so far, as its agent measured it: in heartbeats while it runs
/// (<see cref="HeartbeatRequest.AttemptEnergy"/>), and finally in its <c>ended</c> event
/// (<see cref="AttemptEvent.Energy"/>). Figures are totals since the attempt started, not deltas,
/// so a lost heartbeat loses nothing. Setters and <see cref="JsonRequiredAttribute"/>, as the
/// heartbeat's other records (see <see cref="HeartbeatRequest"/>).
/// </summary>
public sealed record AttemptEnergyReport
{
    /// <summary>Job id.</summary>
    [JsonRequired]
    public long JobId { get; set; }

    /// <summary>Attempt number.</summary>
    [JsonRequired]
    public int Attempt { get; set; }

    /// <summary>The attempt's fencing epoch.</summary>
    [JsonRequired]
    public long Epoch { get; set; }

    /// <summary>When metering began (just before the attempt's process started), by the agent's clock.</summary>
    [JsonRequired]
    public DateTimeOffset Since { get; set; }

    /// <summary>When these totals were taken, by the agent's clock.</summary>
    [JsonRequired]
    public DateTimeOffset MeasuredAt { get; set; }

    /// <summary>Energy of the attempt's GPUs in joules: the sum of their energy counters' deltas, or power integrated over the samples where a counter is missing.</summary>
    [JsonRequired]
    public double GpuEnergyJoules { get; set; }

    /// <summary>The attempt's share of CPU package and DRAM energy (RAPL) by its processes' CPU time; null where the node has no readable RAPL.</summary>
    public double? CpuEnergyJoules { get; set; }

    /// <summary>GPU energy over the time measured: the attempt's GPUs together, in watts.</summary>
    public double? AverageGpuPowerWatts { get; set; }

    /// <summary>The highest power the attempt's GPUs drew together at one sample.</summary>
    public double? PeakGpuPowerWatts { get; set; }

    /// <summary>True when any part is an estimate (power integrated over samples, or a share of RAPL energy).</summary>
    public bool Estimated { get; set; }

    /// <summary>True when the attempt's GPUs are simulated (the agent's <c>--simulate-gpus</c>): the figures are made up.</summary>
    public bool Simulated { get; set; }
}

/// <summary>
/// <c>GET /api/v1/reports/energy?since=7d&amp;by=node|label:KEY|name</c>: energy, CO2e, GPU hours and jobs
/// per group, over the attempts that ran since then (ended since, or still running).
/// </summary>
public sealed record EnergyReport
{
    /// <summary>The start of the period.</summary>
    public required DateTimeOffset Since { get; init; }

    /// <summary>When the report was made (the end of the period).</summary>
    public required DateTimeOffset Until { get; init; }

    /// <summary>What the rows are grouped by: <c>node</c>, <c>label:KEY</c> or <c>name</c>.</summary>
    public required string By { get; init; }

    /// <summary>One row per group, most energy first.</summary>
    public required IReadOnlyList<EnergyReportRow> Groups { get; init; }

    /// <summary>The sums over every group.</summary>
    public required EnergyReportRow Total { get; init; }
}

/// <summary>One group of an <see cref="EnergyReport"/>.</summary>
public sealed record EnergyReportRow
{
    /// <summary>The node id, the label's value, or the job name (<c>(none)</c> where there is none).</summary>
    public required string Group { get; init; }

    /// <summary>GPU plus CPU energy in joules.</summary>
    public required double EnergyJoules { get; init; }

    /// <summary>GPU energy in joules.</summary>
    public required double GpuEnergyJoules { get; init; }

    /// <summary>CPU energy in joules (a share of RAPL).</summary>
    public required double CpuEnergyJoules { get; init; }

    /// <summary>Grams of CO2e, over the attempts whose intensity was known; null when none was.</summary>
    public double? Co2Grams { get; init; }

    /// <summary>GPU count times run time, in hours.</summary>
    public required double GpuHours { get; init; }

    /// <summary>Distinct jobs.</summary>
    public required int Jobs { get; init; }

    /// <summary>Attempts.</summary>
    public required int Attempts { get; init; }

    /// <summary>True when any figure in the group is an estimate.</summary>
    public required bool Estimated { get; init; }

    /// <summary>True when any figure in the group comes from simulated GPUs (<c>--simulate-gpus</c>).</summary>
    public bool Simulated { get; init; }
}

/// <summary>
/// The energy report's query, checked alike by the server (a 400 problem naming the parameter) and the
/// CLI (exit code 2): <c>since</c> a duration back from now (<c>7d</c>, <c>12h</c>), <c>by</c> one of
/// <c>node</c>, <c>name</c> or <c>label:KEY</c>.
/// </summary>
public static class EnergyReportQuery
{
    /// <summary>The longest period a report may cover.</summary>
    public static readonly TimeSpan MaxSince = TimeSpan.FromDays(3660);

    /// <summary>Parses <c>since</c>; false with a message when it is not a positive duration up to <see cref="MaxSince"/>.</summary>
    public static bool TryParseSince(string? text, out TimeSpan since, out string? error)
    {
        error = null;
        if (!Durations.TryParse(text, out since) || since <= TimeSpan.Zero || since > MaxSince)
        {
            error = $"must be a positive duration up to {MaxSince.TotalDays:0}d such as 7d, 24h or 30m, got '{text}'";
            return false;
        }

        return true;
    }

    /// <summary>Parses <c>by</c>; <paramref name="labelKey"/> is the key for <c>label:KEY</c>, null otherwise.</summary>
    public static bool TryParseBy(string? text, out string by, out string? labelKey, out string? error)
    {
        by = text?.Trim() ?? "";
        labelKey = null;
        error = null;
        if (by is "node" or "name")
        {
            return true;
        }

        if (by.StartsWith("label:", StringComparison.Ordinal) && by.Length > "label:".Length)
        {
            labelKey = by["label:".Length..];
            if (labelKey.AsSpan().IndexOfAny(" \t,=") < 0)
            {
                return true;
            }
        }

        labelKey = null;
        error = $"must be node, name or label:KEY (a node label's key, e.g. label:zone), got '{text}'";
        return false;
    }
}
