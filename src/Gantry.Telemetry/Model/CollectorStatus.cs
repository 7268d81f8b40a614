namespace Gantry.Telemetry.Model;

/// <summary>How one collector fared in the latest sample.</summary>
/// <param name="Name">The collector (<c>cpu</c>, <c>memory</c>, <c>nvml</c>, …).</param>
/// <param name="Ok">True when its reading is in this sample.</param>
/// <param name="DurationSeconds">How long the reading took (up to the timeout).</param>
/// <param name="ErrorsTotal">Failed or timed-out readings since the agent started.</param>
/// <param name="LastError">The latest failure's message, kept after later successes.</param>
/// <param name="LastErrorAt">When the latest failure happened.</param>
public sealed record CollectorStatus(
    string Name,
    bool Ok,
    double DurationSeconds,
    ulong ErrorsTotal,
    string? LastError,
    DateTimeOffset? LastErrorAt);

/// <summary>The agent's own process figures.</summary>
public sealed record SelfSample(
    string Version,
    DateTimeOffset StartTime,
    double CpuSeconds,
    ulong ResidentBytes,
    ulong ManagedHeapBytes,
    ulong SamplesTotal);
