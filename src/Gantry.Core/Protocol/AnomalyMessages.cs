namespace Gantry.Core.Protocol;

/// <summary>
/// <c>GET /api/v1/anomalies?node=ID&amp;min=0.5&amp;limit=100</c>: the current anomaly scores of the fleet's
/// telemetry series (or one node's), highest first.
/// </summary>
public sealed record AnomaliesResponse
{
    /// <summary>The scores of at least <c>min</c>, highest first, at most <c>limit</c> of them.</summary>
    public required IReadOnlyList<AnomalyInfo> Anomalies { get; init; }

    /// <summary>How many scores matched before <c>limit</c> cut the list.</summary>
    public required int Total { get; init; }
}

/// <summary>One series' anomaly score for its last completed minute.</summary>
public sealed record AnomalyInfo
{
    /// <summary>The node's id.</summary>
    public required string NodeId { get; init; }

    /// <summary>The node's name.</summary>
    public required string NodeName { get; init; }

    /// <summary>The GPU index; null for a node's series.</summary>
    public int? Gpu { get; init; }

    /// <summary>
    /// The series: for a node <c>power_watts</c> or <c>cpu_utilization</c>; for a GPU <c>temperature_celsius</c>
    /// or <c>power_watts</c> (against its own history), <c>peer_temperature_celsius</c> or <c>peer_power_watts</c>
    /// (against same-model GPUs of its node at similar utilisation).
    /// </summary>
    public required string Metric { get; init; }

    /// <summary>0 to 1; 0.5 or more is an alarm (a one-in-a-million surprise).</summary>
    public required double Score { get; init; }

    /// <summary>The start of the UTC minute the score is for.</summary>
    public required DateTimeOffset Minute { get; init; }

    /// <summary>
    /// What made a series surprising against its own history: <c>rareValue</c>, <c>rareMix</c>, <c>jump</c> or
    /// <c>hourOfDay</c>; null for peer series and scores of 0.
    /// </summary>
    public string? Term { get; init; }
}
