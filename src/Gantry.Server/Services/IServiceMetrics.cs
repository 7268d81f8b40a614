using Gantry.Core.Protocol;

namespace Gantry.Server.Services;

/// <summary>A service's throughput and efficiency, for its <see cref="ServiceStatus.Metrics"/> (docs/service-health.md).</summary>
internal interface IServiceMetrics
{
    /// <summary>The latest figures of the service <paramref name="jobId"/>; null when nothing was measured (or not lately).</summary>
    ServiceMetricsInfo? For(long jobId);
}
