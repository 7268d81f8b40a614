namespace Gantry.Telemetry.Model;

/// <summary>
/// One immutable sample of the whole node: what every collector saw, derived figures, and
/// each collector's health. Rendered once to Prometheus text and JSON; scrapes serve those
/// renderings and never touch the snapshot again.
/// </summary>
public sealed record NodeSnapshot
{
    public required long Sequence { get; init; }
    public required DateTimeOffset Timestamp { get; init; }
    public required HostSnapshot Host { get; init; }
    public PowerSnapshot? Power { get; init; }
    public required GpuSnapshot Gpus { get; init; }
    public IReadOnlyList<AppSample> Apps { get; init; } = [];
    public NodePowerSample? NodePower { get; init; }
    public required IReadOnlyList<CollectorStatus> Collectors { get; init; }
    public required SelfSample Self { get; init; }
}
