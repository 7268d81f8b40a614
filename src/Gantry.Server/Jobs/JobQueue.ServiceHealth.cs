using Gantry.Core.Protocol;

namespace Gantry.Server.Jobs;

/// <summary>
/// Services' metrics (docs/service-health.md): whether a service still lives (the registry's sweep).
/// Which of a heartbeat's reports count is <see cref="ObserveServices"/>'s answer.
/// </summary>
internal sealed partial class JobQueue
{
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
