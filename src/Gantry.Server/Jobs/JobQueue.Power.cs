using Gantry.Core.Scheduling;

namespace Gantry.Server.Jobs;

/// <summary>What the power-saving feature reads of the queue, and the wait reasons it adds (docs/power-saving.md).</summary>
internal sealed partial class JobQueue
{
    // Job id → "waiting for node n3 to resume (…)"; replaced whole by each power-saving tick.
    private Dictionary<long, string> _resumeNotes = [];

    /// <summary>
    /// The first <paramref name="depth"/> pending jobs in priority order (an array gives its first unstarted
    /// task), each with whether the last scheduling pass looked at it and left it waiting (or found no ready
    /// node at all): those are the jobs no awake node can take now. Bounded by <paramref name="depth"/>.
    /// </summary>
    public List<(PendingJob Job, bool Waiting)> PendingHeads(int depth)
    {
        lock (_lock)
        {
            var heads = new List<(PendingJob, bool)>(Math.Min(depth, 1024));
            if (_pending.Count == 0)
            {
                return heads;
            }

            foreach (var key in _pending)
            {
                if (heads.Count >= depth)
                {
                    break;
                }

                if (_live.TryGetValue(key.Id, out var job))
                {
                    var waiting = _pass > 0 && (_idleReason is not null || job.ReasonPass == _pass);
                    heads.Add((new PendingJob(job.Id, key.Priority, job.Id, job.Spec.Resources, job.Spec.Selector, job.QueuedAt, Runtime: job.Spec.Container?.Runtime), waiting));
                }
                else if (ArrayOf(key.Id) is { } array)
                {
                    var waiting = _pass > 0 && (_idleReason is not null || array.ReasonPass == _pass);
                    var spec = array.Row.Spec;
                    heads.Add((new PendingJob(key.Id, key.Priority, key.Id, spec.Resources, spec.Selector, array.Row.SubmittedAt, Runtime: spec.Container?.Runtime), waiting));
                }
            }

            return heads;
        }
    }

    /// <summary>Sets the wait reasons of jobs that wait for a resuming node (the previous tick's are dropped).</summary>
    public void SetResumeNotes(Dictionary<long, string> notes)
    {
        lock (_lock)
        {
            _resumeNotes = notes;
        }
    }

    /// <summary>A job's resume note; under <see cref="_lock"/>.</summary>
    private string? ResumeNote(long jobId) =>
        _resumeNotes.Count > 0 && _resumeNotes.TryGetValue(jobId, out var note) ? note : null;
}
