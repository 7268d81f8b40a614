using Gantry.Server.Telemetry;

namespace Gantry.Server.Cluster;

/// <summary>The control plane's link to telemetry history (kept with the telemetry feature).</summary>
internal sealed partial class ControlPlane
{
    /// <summary>Where heartbeats hand their summaries; null when telemetry history is not kept (benchmarks without it).</summary>
    public TelemetryIngest? Telemetry { get; set; }
}
