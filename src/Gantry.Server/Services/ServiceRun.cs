using Gantry.Core.Protocol;

namespace Gantry.Server.Services;

/// <summary>
/// What the job queue keeps of a live service beside its job (docs/services.md): the restarts that
/// count against its policy's interval, when its next attempt may start, and its current attempt's
/// health as its agent last reported it. Guarded by the <see cref="Jobs.JobQueue"/> lock.
/// </summary>
internal sealed class ServiceRun
{
    /// <summary>When each restart within the policy's interval happened, oldest first (at most <see cref="RestartPolicy.Attempts"/> + 1, so ≤ 101).</summary>
    public Queue<DateTimeOffset> Recent { get; } = new();

    /// <summary>While restarting: when the next attempt may be placed; null otherwise. Stored in the job's <c>planned_start</c>.</summary>
    public DateTimeOffset? NextStartAt { get; set; }

    /// <summary>Why it last restarted or moved (<c>exit code 1</c>, <c>node n1 lost</c>); null before any.</summary>
    public string? Message { get; set; }

    /// <summary>The attempt <see cref="Health"/> is about; 0 for none.</summary>
    public int HealthAttempt { get; set; }

    /// <summary>The current attempt's health from its agent's last report; null before the first.</summary>
    public ServiceHealth? Health { get; set; }

    /// <summary>The last report's message (a failed check's reason).</summary>
    public string? HealthMessage { get; set; }

    /// <summary>The node its last attempt ran on while it restarts there (placed there again when it fits); null after a node loss.</summary>
    public string? PreferNode { get; set; }

    /// <summary>Drops the restarts that fell out of the interval that ends at <paramref name="now"/>.</summary>
    public void Prune(DateTimeOffset now, TimeSpan interval)
    {
        while (Recent.Count > 0 && Recent.Peek() <= now - interval)
        {
            Recent.Dequeue();
        }
    }
}
