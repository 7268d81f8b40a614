using System.Data.Common;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Server.Storage;

/// <summary>
/// The column lists of the <c>nodes</c>, <c>jobs</c> and <c>attempts</c> tables and how a row of each reads back,
/// shared by every store (the tables have the same columns in SQLite and PostgreSQL; booleans are
/// integers in one and booleans in the other, which <see cref="Flag"/> reads alike).
/// </summary>
internal static class StoreRows
{
    public const string NodeColumns = "id, name, os, architecture, cpu_cores, memory_bytes, labels, gpus, drain, credential_hash, registered_at, last_heartbeat_at, agent_version, agent_url, " +
        // Container jobs (migration 12).
        "container_runtimes";

    public const string JobColumns = "id, spec, array_index, state, reason, cancel_requested, submitted_at, queued_at, started_at, ended_at, exit_code, retries_used, " +
        // Carbon-aware deferral (migration 7).
        "planned_start, planned_location, planned_grams_per_kwh, " +
        // Owners (migration 9).
        "owner, run_as_user, allow_root, " +
        // Services (migration 12): written at insert, never read back (the spec says it too).
        "kind";

    /// <summary>An array's columns as <see cref="ReadArray"/> reads them.</summary>
    public const string ArrayColumns = "first_job_id, start_index, end_index, spec, submitted_at, owner, run_as_user, allow_root";

    /// <summary>The <c>people</c> table (migration 9), as <see cref="ReadPerson"/> reads it.</summary>
    public const string PersonColumns = "name, hash, role, unix_user, allow_root, max_gpus, max_pending, created_at, expires_at, revoked_at";

    public const string HealthColumns = "node_id, gpu, state, cause, since, until, manual, detail";

    public const string HealthEventColumns = "gpu, time, change, cause, evidence, actor, job_id";

    public const string AttemptColumns = "job_id, attempt, epoch, node_id, gpus, gpu_uuids, cpus, memory_bytes, state, assigned_at, started_at, ended_at, exit_code, signal, reason, ended_by_agent, " +
        // Job energy (migration 5).
        EnergyColumns;

    /// <summary>An attempt's energy figures (migration 5), read by <see cref="ReadEnergy"/>.</summary>
    public const string EnergyColumns = "energy_gpu_joules, energy_cpu_joules, energy_gpu_avg_watts, energy_gpu_peak_watts, energy_co2_grams, energy_estimated, energy_measured_at, energy_simulated";

    /// <summary><paramref name="columns"/> with each column qualified by <paramref name="prefix"/> (<c>a.</c>).</summary>
    public static string Prefixed(string prefix, string columns) => prefix + columns.Replace(", ", ", " + prefix, StringComparison.Ordinal);

    /// <summary>A row selected with <see cref="NodeColumns"/>.</summary>
    public static NodeRow ReadNode(DbDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        r.GetString(2),
        r.GetString(3),
        r.GetInt32(4),
        r.GetInt64(5),
        JsonSerializer.Deserialize(r.GetString(6), StoreJson.Default.DictionaryStringString) ?? [],
        JsonSerializer.Deserialize(r.GetString(7), StoreJson.Default.ListGpuInventory) ?? [],
        Flag(r, 8),
        (byte[])r.GetValue(9),
        Millis(r.GetInt64(10)),
        Millis(r.GetInt64(11)),
        r.IsDBNull(12) ? null : r.GetString(12),
        r.IsDBNull(13) ? null : r.GetString(13))
    {
        ContainerRuntimes = r.IsDBNull(14) ? [] : JsonSerializer.Deserialize(r.GetString(14), StoreJson.Default.ListContainerRuntimeInfo) ?? [],
    };

    /// <summary>The container runtimes column: JSON, or NULL for none.</summary>
    public static string? ContainerRuntimes(NodeRow node) =>
        node.ContainerRuntimes.Count == 0 ? null : JsonSerializer.Serialize(node.ContainerRuntimes.ToList(), StoreJson.Default.ListContainerRuntimeInfo);

    /// <summary>A row selected with <see cref="HealthColumns"/>.</summary>
    public static HealthRow ReadHealth(DbDataReader r) => new(
        r.GetString(0),
        r.GetInt32(1),
        Enum.Parse<GpuHealthState>(r.GetString(2)),
        r.IsDBNull(3) ? null : r.GetString(3),
        Time(r, 4),
        r.IsDBNull(5) ? null : Enum.Parse<HealthRecovery>(r.GetString(5)),
        Flag(r, 6),
        r.IsDBNull(7) ? null : r.GetString(7));

    /// <summary>A row selected with <see cref="HealthEventColumns"/>.</summary>
    public static HealthEvent ReadHealthEvent(DbDataReader r) => new()
    {
        Gpu = r.IsDBNull(0) ? null : r.GetInt32(0),
        Time = Millis(r.GetInt64(1)),
        Change = Enum.Parse<HealthChange>(r.GetString(2)),
        Cause = r.GetString(3),
        Evidence = r.IsDBNull(4) ? null : r.GetString(4),
        Actor = Enum.Parse<HealthActor>(r.GetString(5)),
        JobId = r.IsDBNull(6) ? null : r.GetInt64(6),
    };

    /// <summary>A row selected with <see cref="JobColumns"/>.</summary>
    public static JobRow ReadJob(DbDataReader r) => new()
    {
        Id = r.GetInt64(0),
        Spec = JsonSerializer.Deserialize(r.GetString(1), GantryJson.Default.JobSubmission)!,
        ArrayIndex = r.IsDBNull(2) ? null : r.GetInt32(2),
        State = Enum.Parse<JobState>(r.GetString(3)),
        Reason = r.IsDBNull(4) ? null : r.GetString(4),
        CancelRequested = Flag(r, 5),
        SubmittedAt = Millis(r.GetInt64(6)),
        QueuedAt = Millis(r.GetInt64(7)),
        StartedAt = Time(r, 8),
        EndedAt = Time(r, 9),
        ExitCode = r.IsDBNull(10) ? null : r.GetInt32(10),
        RetriesUsed = r.GetInt32(11),
        PlannedStart = Time(r, 12),
        PlannedLocation = r.IsDBNull(13) ? null : r.GetString(13),
        PlannedGramsPerKwh = Real(r, 14),
        Owner = ReadOwner(r, 15),
    };

    /// <summary>A row selected with <see cref="ArrayColumns"/>.</summary>
    public static ArrayRow ReadArray(DbDataReader r) =>
        new(r.GetInt64(0), r.GetInt32(1), r.GetInt32(2), JsonSerializer.Deserialize(r.GetString(3), GantryJson.Default.JobSubmission)!, Millis(r.GetInt64(4)))
        {
            Owner = ReadOwner(r, 5),
        };

    /// <summary>A row selected with <see cref="PersonColumns"/>.</summary>
    public static PersonRow ReadPerson(DbDataReader r) => new(
        new Auth.Person
        {
            Name = r.GetString(0),
            Role = Enum.Parse<Role>(r.GetString(2)),
            UnixUser = r.IsDBNull(3) ? null : r.GetString(3),
            AllowRoot = Flag(r, 4),
            MaxGpus = r.IsDBNull(5) ? null : r.GetInt32(5),
            MaxPending = r.IsDBNull(6) ? null : r.GetInt32(6),
            CreatedAt = Millis(r.GetInt64(7)),
            ExpiresAt = Time(r, 8),
            RevokedAt = Time(r, 9),
        },
        (byte[])r.GetValue(1));

    /// <summary>The owner columns (name, Unix user, allow root) from <paramref name="first"/> on; null when the name is.</summary>
    private static Jobs.JobOwner? ReadOwner(DbDataReader r, int first) =>
        r.IsDBNull(first) ? null : new(r.GetString(first), r.IsDBNull(first + 1) ? null : r.GetString(first + 1), Flag(r, first + 2));

    /// <summary>A row selected with <see cref="AttemptColumns"/>.</summary>
    public static AttemptRow ReadAttempt(DbDataReader r) => new()
    {
        JobId = r.GetInt64(0),
        Number = r.GetInt32(1),
        Epoch = r.GetInt64(2),
        NodeId = r.GetString(3),
        Gpus = JsonSerializer.Deserialize(r.GetString(4), StoreJson.Default.Int32Array) ?? [],
        GpuUuids = JsonSerializer.Deserialize(r.GetString(5), StoreJson.Default.StringArray) ?? [],
        Cpus = r.GetInt32(6),
        MemoryBytes = r.GetInt64(7),
        State = Enum.Parse<AttemptState>(r.GetString(8)),
        AssignedAt = Millis(r.GetInt64(9)),
        StartedAt = Time(r, 10),
        EndedAt = Time(r, 11),
        ExitCode = r.IsDBNull(12) ? null : r.GetInt32(12),
        Signal = r.IsDBNull(13) ? null : r.GetString(13),
        Reason = r.IsDBNull(14) ? null : r.GetString(14),
        EndedByAgent = Flag(r, 15),
        Energy = ReadEnergy(r, 16),
    };

    /// <summary>The energy columns from <paramref name="first"/> on; null when the attempt has no figures (no measured time).</summary>
    public static Energy.AttemptEnergy? ReadEnergy(DbDataReader r, int first) =>
        r.IsDBNull(first + 6) ? null : new Energy.AttemptEnergy
        {
            GpuJoules = r.IsDBNull(first) ? 0 : r.GetDouble(first),
            CpuJoules = Real(r, first + 1),
            AverageGpuWatts = Real(r, first + 2),
            PeakGpuWatts = Real(r, first + 3),
            Co2Grams = Real(r, first + 4),
            Estimated = !r.IsDBNull(first + 5) && Flag(r, first + 5),
            MeasuredAt = Millis(r.GetInt64(first + 6)),
            Simulated = !r.IsDBNull(first + 7) && Flag(r, first + 7),
        };

    /// <summary>A row of <see cref="IStateStore.ReadEnergyAttempts"/>: job id, node id, job name, GPU count, start, end, then <see cref="EnergyColumns"/>.</summary>
    public static EnergyAttempt ReadEnergyAttempt(DbDataReader r) => new(
        r.GetInt64(0),
        r.GetString(1),
        r.IsDBNull(2) ? null : r.GetString(2),
        r.IsDBNull(3) ? 0 : r.GetInt32(3),
        Millis(r.GetInt64(4)),
        Time(r, 5),
        ReadEnergy(r, 6));

    private static double? Real(DbDataReader r, int ordinal) => r.IsDBNull(ordinal) ? null : r.GetDouble(ordinal);

    /// <summary>The columns of <c>node_power</c>, in <see cref="ReadNodePower"/>'s order.</summary>
    public const string NodePowerColumns = "node_id, mode, since, resume_deadline, suspended_watts, saved_joules, last_event, down_reason";

    public static NodePowerRow ReadNodePower(DbDataReader r) => new(
        r.GetString(0),
        r.GetString(1),
        Time(r, 2),
        Time(r, 3),
        r.GetDouble(4),
        r.GetDouble(5),
        r.IsDBNull(6) ? null : r.GetString(6),
        r.IsDBNull(7) ? null : r.GetString(7));

    /// <summary>The columns of <c>account_usage</c>, in <see cref="ReadAccountUsage"/>'s order.</summary>
    public const string AccountUsageColumns = "account, gpu_seconds, as_of";

    public static AccountUsageRow ReadAccountUsage(DbDataReader r) => new(r.GetString(0), r.GetDouble(1), Millis(r.GetInt64(2)));

    public static DateTimeOffset Millis(long value) => DateTimeOffset.FromUnixTimeMilliseconds(value);

    public static DateTimeOffset? Time(DbDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : Millis(reader.GetInt64(ordinal));

    /// <summary>The <c>kind</c> column (migration 12): <c>service</c> for a service, null for a batch job.</summary>
    public static string? Kind(JobSubmission spec) => spec.Kind == JobKind.Service ? KindText(JobKind.Service) : null;

    /// <summary>How a kind is written in the <c>kind</c> column.</summary>
    public static string KindText(JobKind kind) => kind == JobKind.Service ? "service" : "batch";

    public static string Json(JobSubmission spec) => JsonSerializer.Serialize(spec, GantryJson.Default.JobSubmission);

    private static bool Flag(DbDataReader r, int ordinal) => r.GetFieldType(ordinal) == typeof(bool) ? r.GetBoolean(ordinal) : r.GetInt64(ordinal) != 0;
}
