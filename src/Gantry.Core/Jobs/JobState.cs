using System.Text.Json.Serialization;
using Gantry.Core.Protocol;

namespace Gantry.Core.Jobs;

/// <summary>Where a job is in its life. Serialized in camelCase (<c>"pending"</c>).</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<JobState>))]
public enum JobState
{
    /// <summary>Queued, waiting for a node with free resources.</summary>
    Pending,

    /// <summary>Placed on a node's GPUs; the agent has not reported the start yet.</summary>
    Assigned,

    /// <summary>The agent started the process.</summary>
    Running,

    /// <summary>Exited with code 0.</summary>
    Succeeded,

    /// <summary>Exited non-zero, was killed for its run time, or could not start; no retries left.</summary>
    Failed,

    /// <summary>Cancelled by a person or tool.</summary>
    Cancelled,

    /// <summary>Its node went away while it ran; no retries left.</summary>
    Lost,
}

/// <summary>Where one attempt (one placement of a job on a node) is.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<AttemptState>))]
public enum AttemptState
{
    /// <summary>Handed to the node; not started yet.</summary>
    Assigned,

    /// <summary>The process runs.</summary>
    Running,

    /// <summary>Exited with code 0.</summary>
    Succeeded,

    /// <summary>Exited non-zero, timed out, or failed to start.</summary>
    Failed,

    /// <summary>Stopped because the job was cancelled.</summary>
    Cancelled,

    /// <summary>The node went down, or its agent restarted, while the attempt was live.</summary>
    Lost,
}

/// <summary>The rules of the job state machine.</summary>
public static class JobStates
{
    /// <summary>The state's wire name, as the API, the CLI and the dashboard write it: <c>pending</c>, <c>running</c>.</summary>
    public static string Name(this JobState state) => CamelCaseEnumConverter<JobState>.Name(state);

    /// <summary>True for states a job never leaves.</summary>
    public static bool IsTerminal(this JobState state) =>
        state is JobState.Succeeded or JobState.Failed or JobState.Cancelled or JobState.Lost;

    /// <summary>True while an attempt may still run on its node.</summary>
    public static bool IsLive(this AttemptState state) => state is AttemptState.Assigned or AttemptState.Running;

    /// <summary>
    /// Whether a job may move from <paramref name="from"/> to <paramref name="to"/>. A failed or lost
    /// attempt with retries left puts the job back to <see cref="JobState.Pending"/> directly; the
    /// attempt keeps its own terminal state.
    /// </summary>
    public static bool CanTransition(JobState from, JobState to) => (from, to) switch
    {
        (JobState.Pending, JobState.Assigned or JobState.Cancelled) => true,
        (JobState.Assigned, JobState.Running or JobState.Pending or JobState.Succeeded or JobState.Failed or JobState.Cancelled or JobState.Lost) => true,
        (JobState.Running, JobState.Pending or JobState.Succeeded or JobState.Failed or JobState.Cancelled or JobState.Lost) => true,
        _ => false,
    };

    /// <summary>The job state that mirrors a finished attempt's.</summary>
    public static JobState ToJobState(this AttemptState state) => state switch
    {
        AttemptState.Assigned => JobState.Assigned,
        AttemptState.Running => JobState.Running,
        AttemptState.Succeeded => JobState.Succeeded,
        AttemptState.Failed => JobState.Failed,
        AttemptState.Cancelled => JobState.Cancelled,
        AttemptState.Lost => JobState.Lost,
        _ => throw new ArgumentOutOfRangeException(nameof(state), state, null),
    };
}
