namespace Gantry.Server.Telemetry;

/// <summary>
/// The metric names kept per series. A series is (node, GPU index or none, metric); the index of a
/// name in <see cref="Node"/> or <see cref="Gpu"/> is its slot in the writer's series cache.
/// </summary>
internal static class TelemetryMetrics
{
    /// <summary>Node-level metrics, in slot order.</summary>
    public static readonly string[] Node = ["cpu_utilization", "memory_used_bytes", "power_watts"];

    /// <summary>Per-GPU metrics, in slot order.</summary>
    public static readonly string[] Gpu =
    [
        "utilization", "memory_used_bytes", "temperature_celsius", "power_watts", "energy_joules",
        "sm_clock_hertz", "memory_clock_hertz", "throttled",
    ];

    /// <summary>True when <paramref name="metric"/> is a known name for a node (<paramref name="gpu"/> false) or a GPU.</summary>
    public static bool IsKnown(string metric, bool gpu) => Array.IndexOf(gpu ? Gpu : Node, metric) >= 0;
}

/// <summary>One heartbeat's summary waiting to be written, stamped with the time it stands for.</summary>
internal readonly record struct TelemetryItem(string NodeId, DateTimeOffset Time, Gantry.Core.Protocol.NodeSummary Summary);

/// <summary>Where a query's points come from.</summary>
internal enum TelemetrySource
{
    /// <summary>Every stored sample.</summary>
    Raw,

    /// <summary>Per-minute min, max, sum and count.</summary>
    Rollup,
}
