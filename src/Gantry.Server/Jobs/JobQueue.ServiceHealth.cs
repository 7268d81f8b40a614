using Gantry.Core.Protocol;

namespace Gantry.Server.Jobs;

/// <summary>
/// Services' health and metrics (docs/service-health.md): which of a heartbeat's service reports are
/// about the node's own live attempts, and whether a service still lives. One lock, O(reports).
/// </summary>
internal sealed partial class JobQueue
{
    /// <summary>
    /// The reports of <paramref name="reports"/> that name the live attempt of their job on
    /// <paramref name="nodeId"/>, each with the job's name and service spec; the rest (another node's,
    /// an ended attempt's, an unknown job's) are left out. <paramref name="accepted"/> is cleared and filled.
    /// </summary>
    public void ServiceAttemptsOn(string nodeId, IReadOnlyList<ServiceReport> reports, List<ServiceAttemptView> accepted)
    {
        ArgumentNullException.ThrowIfNull(reports);
        ArgumentNullException.ThrowIfNull(accepted);
        accepted.Clear();
        lock (_lock)
        {
            foreach (var report in reports)
            {
                if (_live.TryGetValue(report.JobId, out var job) && job.Current is { } current && current.Number == report.Attempt && current.NodeId == nodeId)
                {
                    accepted.Add(new ServiceAttemptView(report, job.Spec.Name, job.Spec.Service, current.StartedAt));
                }
            }
        }
    }

    /// <summary>True while the job is live (pending, or with an attempt placed or running).</summary>
    public bool IsLive(long jobId)
    {
        lock (_lock)
        {
            return _live.ContainsKey(jobId);
        }
    }
}

/// <summary>A service report the job queue recognised, with what its job says of it.</summary>
internal sealed record ServiceAttemptView(ServiceReport Report, string? Name, ServiceSpec? Spec, DateTimeOffset? StartedAt);
