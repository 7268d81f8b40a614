using Gantry.Core.Jobs;

namespace Gantry.Core.Protocol;

/// <summary><c>POST /api/v1/jobs</c>: one job, or with <see cref="Array"/> one job per array index.</summary>
public sealed record JobSubmission
{
    /// <summary>A name for people; optional.</summary>
    public string? Name { get; init; }

    /// <summary>The argument vector; with <see cref="Shell"/>, exactly one shell string.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>Run the single command string with <c>/bin/sh -c</c>.</summary>
    public bool Shell { get; init; }

    /// <summary>Environment added to the agent's.</summary>
    public IReadOnlyDictionary<string, string> Env { get; set; } = new Dictionary<string, string>();

    /// <summary>Absolute working directory on the node; null for the agent's default.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>What the job needs.</summary>
    public ResourceRequest Resources { get; set; } = new();

    /// <summary>0 (lowest) to 100 (highest).</summary>
    public int Priority { get; set; } = 50;

    /// <summary>Labels a node must carry, all of them.</summary>
    public IReadOnlyDictionary<string, string> Selector { get; set; } = new Dictionary<string, string>();

    /// <summary>Kill the job after this long; null for no limit.</summary>
    public double? MaxRuntimeSeconds { get; init; }

    /// <summary>How many times a failed or lost job is queued again.</summary>
    public int Retries { get; init; }

    /// <summary>Submit one job per index of this inclusive range, each seeing <c>GANTRY_ARRAY_INDEX</c>.</summary>
    public ArrayRange? Array { get; init; }

    /// <summary>A power cap in watts on each of the job's GPUs while it runs (docs/power.md); null for none.</summary>
    public double? GpuPowerCapWatts { get; init; }

    // ---- carbon-aware deferral (docs/carbon.md) ----

    /// <summary>
    /// When the job must have ended by. With <see cref="ExpectedRuntimeSeconds"/> (both or neither)
    /// the job is deferrable: the scheduler may hold it for a cleaner window. Null: never deferred.
    /// </summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>How long the job is expected to run, in seconds; given with <see cref="Deadline"/>.</summary>
    public double? ExpectedRuntimeSeconds { get; init; }

    // ---- containers and services (docs/containers-jobs.md, docs/services.md) ----

    /// <summary>Run in this container image instead of as a process; null for a process job.</summary>
    public ContainerSpec? Container { get; init; }

    /// <summary>Batch (runs to its end, the default) or service (runs until stopped).</summary>
    public JobKind Kind { get; init; } = JobKind.Batch;

    /// <summary>For a service: its restart policy, health check, port and metrics endpoint; null for a batch job.</summary>
    public ServiceSpec? Service { get; init; }
}

/// <summary>An inclusive range of array indexes, e.g. 1–1000.</summary>
public sealed record ArrayRange
{
    /// <summary>First index.</summary>
    public required int Start { get; init; }

    /// <summary>Last index, inclusive.</summary>
    public required int End { get; init; }
}

/// <summary>The answer to a submission: the ids of the jobs created, in array order.</summary>
public sealed record SubmitResponse
{
    /// <summary>Job ids.</summary>
    public required IReadOnlyList<long> JobIds { get; init; }
}

/// <summary>A job as the API shows it.</summary>
public sealed record JobInfo
{
    /// <summary>Job id.</summary>
    public required long Id { get; init; }

    /// <summary>Name, if given.</summary>
    public string? Name { get; init; }

    /// <summary>The person whose token submitted it; null for a job submitted before tokens named people.</summary>
    public string? Owner { get; init; }

    /// <summary>The Unix user it runs as on an agent running as root (its owner's token's); null for none.</summary>
    public string? RunAsUser { get; init; }

    /// <summary>Current state.</summary>
    public required JobState State { get; init; }

    /// <summary>Why it is in its state ("waiting for 4 free GPUs", "exit code 1").</summary>
    public string? Reason { get; init; }

    /// <summary>Argument vector or shell string.</summary>
    public required IReadOnlyList<string> Command { get; init; }

    /// <summary>Run through <c>/bin/sh -c</c>.</summary>
    public bool Shell { get; init; }

    /// <summary>Environment.</summary>
    public required IReadOnlyDictionary<string, string> Env { get; init; }

    /// <summary>Working directory.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>Resources asked for.</summary>
    public required ResourceRequest Resources { get; init; }

    /// <summary>Priority, 0–100.</summary>
    public required int Priority { get; init; }

    /// <summary>Node selector.</summary>
    public required IReadOnlyDictionary<string, string> Selector { get; init; }

    /// <summary>Maximum run time.</summary>
    public double? MaxRuntimeSeconds { get; init; }

    /// <summary>Retries allowed.</summary>
    public required int Retries { get; init; }

    /// <summary>Array index of an array task.</summary>
    public int? ArrayIndex { get; init; }

    /// <summary>True once a cancel was asked for.</summary>
    public bool CancelRequested { get; init; }

    /// <summary>When it was submitted.</summary>
    public required DateTimeOffset SubmittedAt { get; init; }

    /// <summary>When its latest attempt started.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it reached a terminal state.</summary>
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Exit code of the latest attempt, when it exited.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Node of the latest attempt.</summary>
    public string? NodeId { get; init; }

    /// <summary>GPU indexes of the latest attempt.</summary>
    public IReadOnlyList<int> Gpus { get; set; } = [];

    /// <summary>Every attempt, oldest first.</summary>
    public IReadOnlyList<AttemptInfo> Attempts { get; set; } = [];

    /// <summary>Every state change, oldest first.</summary>
    public IReadOnlyList<JobTransition> Transitions { get; set; } = [];

    // Job energy (added with the energy feature): live while it runs, final once it ended; null when not measured.

    /// <summary>GPU plus CPU energy in joules.</summary>
    public double? EnergyJoules { get; init; }

    /// <summary>GPU energy in joules (the GPUs' energy counters, or power integrated where they have none).</summary>
    public double? GpuEnergyJoules { get; init; }

    /// <summary>CPU package and DRAM energy in joules: a share of RAPL by CPU time (an estimate).</summary>
    public double? CpuEnergyJoules { get; init; }

    /// <summary>Average power of the GPUs together while measured, in watts.</summary>
    public double? AverageGpuPowerWatts { get; init; }

    /// <summary>Peak power of the GPUs together at one sample, in watts.</summary>
    public double? PeakGpuPowerWatts { get; init; }

    /// <summary>Grams of CO2e: each interval's energy times that interval's carbon intensity; null without a carbon source.</summary>
    public double? Co2Grams { get; init; }

    /// <summary>True when any energy figure is an estimate.</summary>
    public bool? EnergyEstimated { get; init; }

    /// <summary>True when any energy figure comes from simulated GPUs (<c>--simulate-gpus</c>): made up, not measured.</summary>
    public bool? EnergySimulated { get; init; }

    /// <summary>The job's power cap per GPU in watts (<see cref="JobSubmission.GpuPowerCapWatts"/>); null for none.</summary>
    public double? GpuPowerCapWatts { get; init; }

    // ---- carbon-aware deferral (docs/carbon.md) ----

    /// <summary>When the job must have ended by; null when it has no deadline (never deferred).</summary>
    public DateTimeOffset? Deadline { get; init; }

    /// <summary>How long the job is expected to run, in seconds.</summary>
    public double? ExpectedRuntimeSeconds { get; init; }

    /// <summary>While held for a cleaner window: when it is planned to start.</summary>
    public DateTimeOffset? PlannedStart { get; init; }

    /// <summary>
    /// The location (zone) its carbon plan chose; until deadline − expected runtime it is placed only on
    /// nodes there. Null for a job never held for a cleaner window.
    /// </summary>
    public string? PlannedLocation { get; init; }

    // ---- containers and services (docs/containers-jobs.md, docs/services.md) ----

    /// <summary>The container it runs in; null for a process job.</summary>
    public ContainerSpec? Container { get; init; }

    /// <summary>Batch or service.</summary>
    public JobKind Kind { get; init; } = JobKind.Batch;

    /// <summary>For a service: what was asked (restart policy, health check, port, metrics path).</summary>
    public ServiceSpec? Service { get; init; }

    /// <summary>For a service: its health, address, restarts and metrics now.</summary>
    public ServiceStatus? ServiceStatus { get; init; }
}

/// <summary>One attempt of a job.</summary>
public sealed record AttemptInfo
{
    /// <summary>Attempt number, from 1.</summary>
    public required int Attempt { get; init; }

    /// <summary>Fencing epoch.</summary>
    public required long Epoch { get; init; }

    /// <summary>Node it was placed on.</summary>
    public required string NodeId { get; init; }

    /// <summary>GPU indexes it was given.</summary>
    public required IReadOnlyList<int> Gpus { get; init; }

    /// <summary>GPU UUIDs it was given.</summary>
    public IReadOnlyList<string> GpuUuids { get; set; } = [];

    /// <summary>State.</summary>
    public required AttemptState State { get; init; }

    /// <summary>When it was placed.</summary>
    public required DateTimeOffset AssignedAt { get; init; }

    /// <summary>When the process started.</summary>
    public DateTimeOffset? StartedAt { get; init; }

    /// <summary>When it ended.</summary>
    public DateTimeOffset? EndedAt { get; init; }

    /// <summary>Exit code.</summary>
    public int? ExitCode { get; init; }

    /// <summary>Signal that ended it.</summary>
    public string? Signal { get; init; }

    /// <summary>Why it ended.</summary>
    public string? Reason { get; init; }

    // Job energy (added with the energy feature): live while it runs, final once it ended; null when not measured.

    /// <summary>GPU plus CPU energy in joules.</summary>
    public double? EnergyJoules { get; init; }

    /// <summary>GPU energy in joules (the GPUs' energy counters, or power integrated where they have none).</summary>
    public double? GpuEnergyJoules { get; init; }

    /// <summary>CPU package and DRAM energy in joules: a share of RAPL by CPU time (an estimate).</summary>
    public double? CpuEnergyJoules { get; init; }

    /// <summary>Average power of the GPUs together while measured, in watts.</summary>
    public double? AverageGpuPowerWatts { get; init; }

    /// <summary>Peak power of the GPUs together at one sample, in watts.</summary>
    public double? PeakGpuPowerWatts { get; init; }

    /// <summary>Grams of CO2e: each interval's energy times that interval's carbon intensity; null without a carbon source.</summary>
    public double? Co2Grams { get; init; }

    /// <summary>True when any energy figure is an estimate.</summary>
    public bool? EnergyEstimated { get; init; }

    /// <summary>True when any energy figure comes from simulated GPUs (<c>--simulate-gpus</c>): made up, not measured.</summary>
    public bool? EnergySimulated { get; init; }
}

/// <summary>One recorded state change of a job.</summary>
public sealed record JobTransition
{
    /// <summary>When.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>Previous state; null for the submission.</summary>
    public JobState? From { get; init; }

    /// <summary>New state.</summary>
    public required JobState To { get; init; }

    /// <summary>Why.</summary>
    public required string Reason { get; init; }
}

/// <summary>
/// One line of <c>GET /api/v1/jobs/{id}/logs</c> (newline-delimited JSON). Output lines carry
/// <see cref="Seq"/>, <see cref="Stream"/> and <see cref="Data"/>; the last line carries
/// <see cref="End"/> = true with the job's state and exit code.
/// </summary>
public sealed record LogRecord
{
    /// <summary>Order of the chunk among the job's output; pass the last one as <c>after</c> to resume.</summary>
    public long? Seq { get; init; }

    /// <summary>Attempt that wrote it.</summary>
    public int? Attempt { get; init; }

    /// <summary>Stream.</summary>
    public LogSource? Stream { get; init; }

    /// <summary>Text.</summary>
    public string? Data { get; init; }

    /// <summary>True on the final line.</summary>
    public bool? End { get; init; }

    /// <summary>Job state, on the final line.</summary>
    public JobState? State { get; init; }

    /// <summary>Exit code, on the final line when the job exited.</summary>
    public int? ExitCode { get; init; }
}

/// <summary>A page of a list. Pass <see cref="NextCursor"/> as <c>cursor</c> for the next page; null on the last.</summary>
public sealed record Page<T>
{
    /// <summary>Items of this page.</summary>
    public required IReadOnlyList<T> Items { get; init; }

    /// <summary>Cursor of the next page.</summary>
    public string? NextCursor { get; init; }
}
