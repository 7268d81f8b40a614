using Gantry.Core.Protocol;

namespace Gantry.Server.Services;

/// <summary>
/// A service's throughput and efficiency now (tokens per second, GPU power, tokens per joule), for
/// <see cref="ServiceStatus.Metrics"/>. The job API asks it once per service it answers with, after
/// the job queue's lock, so an implementation keeps its own state and lock and answers from memory
/// (no I/O). The default (<see cref="NoServiceMetrics"/>) knows nothing; the per-service metrics
/// registry (docs/services.md) replaces it.
/// </summary>
internal interface IServiceMetrics
{
    /// <summary>The figures of service <paramref name="jobId"/>; null when nothing was measured (or it is unknown).</summary>
    ServiceMetricsInfo? For(long jobId);
}

/// <summary>No metrics: every service shows <c>-</c> for its figures.</summary>
internal sealed class NoServiceMetrics : IServiceMetrics
{
    public static readonly NoServiceMetrics Instance = new();

    public ServiceMetricsInfo? For(long jobId) => null;
}
