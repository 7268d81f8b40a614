namespace Gantry.Core.Protocol;

/// <summary>
/// The answer of <c>GET /api/v1/telemetry/query</c>: one series' history, bucketed by
/// <see cref="StepSeconds"/>. Buckets without a sample are left out, never reported as 0.
/// </summary>
public sealed record TelemetryQueryResponse
{
    /// <summary>The node id.</summary>
    public required string Node { get; init; }

    /// <summary>The GPU index; null for a node-level metric.</summary>
    public int? Gpu { get; init; }

    /// <summary>The metric name, e.g. <c>utilization</c> or <c>cpu_utilization</c>.</summary>
    public required string Metric { get; init; }

    /// <summary><c>raw</c> (every sample) or <c>rollup</c> (per-minute min, max and mean).</summary>
    public required string Source { get; init; }

    /// <summary>Width of one bucket in seconds; buckets start at whole multiples of it since the Unix epoch.</summary>
    public required double StepSeconds { get; init; }

    /// <summary>The buckets that hold data, oldest first.</summary>
    public required IReadOnlyList<TelemetryPoint> Points { get; init; }
}

/// <summary>One bucket of a telemetry series.</summary>
public sealed record TelemetryPoint
{
    /// <summary>Start of the bucket.</summary>
    public required DateTimeOffset T { get; init; }

    /// <summary>Mean of the samples in the bucket.</summary>
    public required double Value { get; init; }

    /// <summary>Smallest sample in the bucket.</summary>
    public required double Min { get; init; }

    /// <summary>Largest sample in the bucket.</summary>
    public required double Max { get; init; }
}
