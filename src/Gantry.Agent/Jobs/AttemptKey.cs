using Gantry.Core.Protocol;

namespace Gantry.Agent.Jobs;

/// <summary>One attempt of one job under one fencing epoch: the unit the agent starts at most once.</summary>
internal readonly record struct AttemptKey(long JobId, int Attempt, long Epoch)
{
    public static AttemptKey Of(Assignment assignment) => new(assignment.JobId, assignment.Attempt, assignment.Epoch);

    public AttemptRef ToRef() => new() { JobId = JobId, Attempt = Attempt, Epoch = Epoch };

    public override string ToString() => $"job {JobId} attempt {Attempt} (epoch {Epoch})";
}

/// <summary>
/// Receives what the job runner sees. For each attempt the calls come in order: <c>started</c>
/// (unless the start failed), output, then <c>ended</c>; no output follows <c>ended</c>.
/// </summary>
internal interface IAttemptSink
{
    /// <summary>A <c>started</c> or <c>ended</c> event.</summary>
    void Event(AttemptKey key, AttemptEvent attemptEvent);

    /// <summary>Text the attempt wrote to one of its streams.</summary>
    void Output(AttemptKey key, LogSource stream, string text);
}
