using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Server.Storage;

/// <summary>
/// The control plane's durable state: tokens, nodes, jobs (with their array records, attempts and
/// transitions) and job output. Features keep what live work needs in memory and write every change
/// through <see cref="Write"/> before they answer, so an acknowledged change survives a killed
/// process; what grows with history (ended jobs, output) is read back from here when asked.
/// </summary>
/// <remarks>
/// Implementations: <see cref="Sqlite.SqliteStateStore"/> (one file, the embedded default). Calls are
/// synchronous: features call <see cref="Write"/> under their own lock so that memory and store change
/// in the same order. Readers may run concurrently with a writer and see committed state only.
/// </remarks>
internal interface IStateStore : IDisposable
{
    /// <summary>Where the state lives, for logs and errors ("SQLite /var/lib/gantry/server/gantry.db").</summary>
    string Description { get; }

    /// <summary>Everything the features keep in memory, read once at start.</summary>
    StoredState Load();

    /// <summary>
    /// From now on every unit of work is stored only while <paramref name="leaderEpoch"/> still holds
    /// the leader lease; one refused for it throws an exception that
    /// <see cref="StoreUnavailableException.Covers"/>, and nothing of it is stored. Called once a replica
    /// leads, before it loads the state. A store without replicas (SQLite) ignores it.
    /// </summary>
    void FenceTo(long leaderEpoch);

    /// <summary>Runs <paramref name="unitOfWork"/> in one transaction: all of it is stored, or none (the exception propagates).</summary>
    void Write(Action<IStateWriter> unitOfWork);

    /// <summary>One job with its attempts and transitions; null when there is no row (never stored, or purged).</summary>
    StoredJob? ReadJob(long id);

    /// <summary>Stored jobs newest first with ids below <paramref name="before"/>, optionally of one state, of one owner and of one kind (migration 12).</summary>
    IReadOnlyList<StoredJob> ListJobs(JobState? state, long? before, int limit, string? owner = null, JobKind? kind = null);

    /// <summary>
    /// Job energy: every attempt that started and ended at or after <paramref name="since"/>, or has not
    /// ended, with its job's name, GPU count and energy figures (for the energy report).
    /// </summary>
    List<EnergyAttempt> ReadEnergyAttempts(DateTimeOffset since);

    /// <summary>One attempt of a stored job; null when unknown.</summary>
    AttemptRow? ReadAttempt(long jobId, int attempt);

    /// <summary>Up to <paramref name="limit"/> output chunks of a job after sequence number <paramref name="afterSeq"/>.</summary>
    List<LogRecord> ReadLogs(long jobId, long afterSeq, int limit);

    /// <summary>The latest <paramref name="limit"/> health changes of a node and its GPUs, newest first.</summary>
    IReadOnlyList<HealthEvent> ReadHealthEvents(string nodeId, int limit);

    /// <summary>
    /// Deletes up to <paramref name="maxJobs"/> jobs that ended before <paramref name="cutoff"/>, with
    /// their attempts, transitions and output, and array records left with no task; returns how many
    /// jobs of each state went.
    /// </summary>
    Dictionary<JobState, int> PurgeEndedBefore(DateTimeOffset cutoff, int maxJobs);
}

/// <summary>The writes of one unit of work (<see cref="IStateStore.Write"/>).</summary>
internal interface IStateWriter
{
    void SaveToken(string kind, byte[] hash, DateTimeOffset now);

    /// <summary>Stores a person's token, replacing the row of the same name (a revoked or expired one).</summary>
    void SavePerson(PersonRow person);

    void UpsertNode(NodeRow node);

    void SetNodeDrain(string id, bool drain);

    /// <summary>A job array: one record for every task until a task starts (or is cancelled) and gets a job row of its own.</summary>
    void InsertArray(ArrayRow array);

    /// <summary>Marks an array whose every task has a job row of its own: it is no longer read at start.</summary>
    void CompleteArray(long firstJobId);

    void InsertJob(JobRow job);

    void UpdateJob(JobRow job);

    void InsertTransition(long jobId, JobTransition transition);

    void InsertAttempt(AttemptRow attempt);

    void UpdateAttempt(AttemptRow attempt);

    /// <summary>Stores a running attempt's live energy; nothing once the attempt has ended (its final figures stay).</summary>
    void UpdateAttemptEnergy(AttemptRow attempt);

    /// <summary>Stores an output chunk unless the same (job, attempt, stream, offset) is there already; true when stored.</summary>
    bool InsertLog(long jobId, int attempt, LogSource stream, long offset, string data);

    /// <summary>Stores a GPU's (or, with <see cref="HealthRow.Gpu"/> −1, the node's) health, replacing what was there.</summary>
    void UpsertHealth(HealthRow health);

    /// <summary>Forgets a GPU's (or the node's, −1) health: it is healthy with nothing to remember.</summary>
    void DeleteHealth(string nodeId, int gpu);

    /// <summary>Adds a change to a node's health history.</summary>
    void InsertHealthEvent(string nodeId, HealthEvent change);

    /// <summary>
    /// Stores (or replaces) one of the alerting feature's documents: a rule group added through the API
    /// (<c>group</c>), a silence (<c>silence</c>), an undelivered notification (<c>notification</c>).
    /// Each is a JSON body under its kind and id; every document is read back by <see cref="IStateStore.Load"/>.
    /// </summary>
    void PutAlertDocument(string kind, string id, string body, DateTimeOffset updatedAt);

    /// <summary>Removes one alerting document; nothing when it is not there.</summary>
    void DeleteAlertDocument(string kind, string id);

    /// <summary>Stores (or replaces) a node's power-saving state (suspended, resuming, the energy saved).</summary>
    void UpsertNodePower(NodePowerRow power);

    /// <summary>Stores (or replaces) an account's decayed GPU use for fair share (docs/fair-share.md).</summary>
    void UpsertAccountUsage(AccountUsageRow usage);
}

/// <summary>
/// An account's fair-share usage as it survives a restart or a failover: decayed GPU-seconds worked out at
/// <see cref="AsOf"/>, the account's last attempt start or end (its live attempts accrue from then on).
/// </summary>
internal sealed record AccountUsageRow(string Account, double GpuSeconds, DateTimeOffset AsOf);

/// <summary>
/// A node's power-saving state as it survives a restart or a failover: <see cref="Mode"/> is
/// <c>awake</c>, <c>suspended</c> or <c>resuming</c>; <see cref="SavedJoules"/> counts earlier suspensions.
/// </summary>
internal sealed record NodePowerRow(
    string NodeId,
    string Mode,
    DateTimeOffset? Since,
    DateTimeOffset? ResumeDeadline,
    double SuspendedWatts,
    double SavedJoules,
    string? LastEvent,
    string? DownReason);

/// <summary>One attempt as the energy report reads it (<see cref="IStateStore.ReadEnergyAttempts"/>).</summary>
internal sealed record EnergyAttempt(long JobId, string NodeId, string? JobName, int Gpus, DateTimeOffset StartedAt, DateTimeOffset? EndedAt, Energy.AttemptEnergy? Energy);

/// <summary>One stored alerting document (<see cref="IStateWriter.PutAlertDocument"/>).</summary>
internal sealed record AlertDocument(string Kind, string Id, string Body, DateTimeOffset UpdatedAt);

/// <summary>
/// A GPU's health as the health feature keeps it across restarts; <see cref="Gpu"/> −1 is the node
/// itself (drained for a reboot-class fault, <see cref="State"/> then <see cref="GpuHealthState.Cordoned"/>).
/// <see cref="Detail"/> is the feature's own JSON (what it holds back, what a person acknowledged), stored as it is.
/// </summary>
internal sealed record HealthRow(
    string NodeId,
    int Gpu,
    GpuHealthState State,
    string? Cause,
    DateTimeOffset? Since,
    HealthRecovery? Until,
    bool Manual,
    string? Detail);

/// <summary>A node's durable facts (liveness is kept in memory: every node gets a fresh lease at start).</summary>
internal sealed record NodeRow(
    string Id,
    string Name,
    string Os,
    string Architecture,
    int CpuCores,
    long MemoryBytes,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<GpuInventory> Gpus,
    bool Drain,
    byte[] CredentialHash,
    DateTimeOffset RegisteredAt,
    DateTimeOffset LastHeartbeatAt,
    string? AgentVersion,
    string? AgentUrl)
{
    /// <summary>The container runtimes its agent found, with versions (docs/containers-jobs.md); empty for none.</summary>
    public IReadOnlyList<ContainerRuntimeInfo> ContainerRuntimes { get; init; } = [];
}

/// <summary>A person's API token as stored: the person and the SHA-256 hash of the secret.</summary>
internal sealed record PersonRow(Auth.Person Person, byte[] Hash);

/// <summary>A job row. <see cref="Spec"/> has no array range: an array task is a job of its own once it has a row.</summary>
internal sealed record JobRow
{
    public required long Id { get; init; }

    public required JobSubmission Spec { get; init; }

    public int? ArrayIndex { get; init; }

    public required JobState State { get; init; }

    public string? Reason { get; init; }

    public bool CancelRequested { get; init; }

    public required DateTimeOffset SubmittedAt { get; init; }

    public required DateTimeOffset QueuedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    public int? ExitCode { get; init; }

    public int RetriesUsed { get; init; }

    /// <summary>Carbon-aware deferral: when a held job is planned to start; null once it is queued (or never held).</summary>
    public DateTimeOffset? PlannedStart { get; init; }

    /// <summary>
    /// The location its carbon plan chose; kept once the job is queued, since placement is pinned there
    /// until deadline − expected runtime. Null for a job never held (or cancelled while pending).
    /// </summary>
    public string? PlannedLocation { get; init; }

    /// <summary>The planned window's average intensity in g/kWh while the job is held, for its wait reason.</summary>
    public double? PlannedGramsPerKwh { get; init; }

    /// <summary>Who submitted it (migration 9); null for a job stored before tokens named people.</summary>
    public Jobs.JobOwner? Owner { get; init; }
}

/// <summary>One attempt (a placement of a job on a node) as stored.</summary>
internal sealed record AttemptRow
{
    public required long JobId { get; init; }

    public required int Number { get; init; }

    public required long Epoch { get; init; }

    public required string NodeId { get; init; }

    public required int[] Gpus { get; init; }

    public required string[] GpuUuids { get; init; }

    public required int Cpus { get; init; }

    public required long MemoryBytes { get; init; }

    public required AttemptState State { get; init; }

    public required DateTimeOffset AssignedAt { get; init; }

    public DateTimeOffset? StartedAt { get; init; }

    public DateTimeOffset? EndedAt { get; init; }

    public int? ExitCode { get; init; }

    public string? Signal { get; init; }

    public string? Reason { get; init; }

    public bool EndedByAgent { get; init; }

    /// <summary>What the attempt used (live while it runs, final once it ended); null when not measured.</summary>
    public Energy.AttemptEnergy? Energy { get; init; }
}

/// <summary>
/// A job array as one record: tasks <see cref="Start"/>…<see cref="End"/> have the job ids
/// <see cref="FirstJobId"/>… in order; a task without a job row has not started.
/// </summary>
internal sealed record ArrayRow(long FirstJobId, int Start, int End, JobSubmission Spec, DateTimeOffset SubmittedAt)
{
    /// <summary>Who submitted it (migration 9); every task has this owner.</summary>
    public Jobs.JobOwner? Owner { get; init; }

    public int Count => End - Start + 1;

    public long LastJobId => FirstJobId + Count - 1;
}

/// <summary>A stored job with its history.</summary>
internal sealed record StoredJob(JobRow Job, IReadOnlyList<AttemptRow> Attempts, IReadOnlyList<JobTransition> Transitions);

/// <summary>An array not yet wholly started, and the ids of its tasks that have job rows.</summary>
internal sealed record StoredArray(ArrayRow Array, IReadOnlyList<long> TasksWithRows);

/// <summary>What the features load at start.</summary>
internal sealed class StoredState
{
    public Dictionary<string, byte[]> Tokens { get; } = new(StringComparer.Ordinal);

    /// <summary>Every person's token, revoked and expired ones included.</summary>
    public List<PersonRow> People { get; } = [];

    public List<NodeRow> Nodes { get; } = [];

    /// <summary>Jobs pending, assigned or running, with every attempt (transitions are read when asked).</summary>
    public List<(JobRow Job, List<AttemptRow> Attempts)> LiveJobs { get; } = [];

    public List<StoredArray> Arrays { get; } = [];

    /// <summary>Stored jobs per state (rows only; an array's unstarted tasks are counted from <see cref="Arrays"/>).</summary>
    public Dictionary<JobState, long> JobCounts { get; } = [];

    /// <summary>Above every job id handed out so far, array tasks included.</summary>
    public long NextJobId { get; set; } = 1;

    /// <summary>The highest fencing epoch handed out so far.</summary>
    public long LastEpoch { get; set; }

    /// <summary>Every GPU's and node's health that is not plain healthy.</summary>
    public List<HealthRow> Health { get; } = [];

    /// <summary>The alerting feature's documents (API rule groups, silences, undelivered notifications), by kind and id.</summary>
    public List<AlertDocument> AlertDocuments { get; } = [];

    /// <summary>Nodes' power-saving states (only nodes ever suspended have one).</summary>
    public List<NodePowerRow> NodePower { get; } = [];

    /// <summary>Accounts' fair-share usage (only accounts that ever held GPUs with fair share on have one).</summary>
    public List<AccountUsageRow> AccountUsage { get; } = [];
}
