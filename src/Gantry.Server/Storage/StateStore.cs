using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Cluster;
using Microsoft.Data.Sqlite;

namespace Gantry.Server.Storage;

/// <summary>
/// The control plane's durable state in one SQLite file (WAL). One connection writes, under the
/// <see cref="ControlPlane"/> lock; every acknowledged change is committed before the answer is
/// sent. WAL with <c>synchronous=NORMAL</c> keeps committed transactions across a killed process;
/// only a power cut can lose the last few.
/// </summary>
internal sealed class StateStore : IDisposable
{
    private readonly SqliteConnection _write;
    private readonly string _readConnectionString;
    private SqliteTransaction? _transaction;
    private SqliteCommand? _insertLog;

    private StateStore(SqliteConnection write, string readConnectionString)
    {
        _write = write;
        _readConnectionString = readConnectionString;
    }

    /// <summary>Opens (creating when missing) the database at <paramref name="path"/> and applies pending migrations.</summary>
    public static StateStore Open(string path)
    {
        var (writer, read) = SqliteFile.Open(path, Migrations.Scripts, "the database", foreignKeys: true);
        return new StateStore(writer, read);
    }

    /// <summary>Runs <paramref name="write"/> in one transaction: all of it is stored, or none.</summary>
    public void InTransaction(Action write)
    {
        if (_transaction is not null)
        {
            write();
            return;
        }

        _transaction = _write.BeginTransaction();
        try
        {
            write();
            _transaction.Commit();
        }
        catch
        {
            _transaction.Rollback();
            throw;
        }
        finally
        {
            _transaction.Dispose();
            _transaction = null;
        }
    }

    public byte[]? ReadToken(string kind)
    {
        using var command = Command("SELECT hash FROM tokens WHERE kind = $kind");
        command.Parameters.AddWithValue("$kind", kind);
        return command.ExecuteScalar() as byte[];
    }

    public void SaveToken(string kind, byte[] hash, DateTimeOffset now)
    {
        using var command = Command("INSERT INTO tokens (kind, hash, created_at) VALUES ($kind, $hash, $now) ON CONFLICT(kind) DO UPDATE SET hash = $hash, created_at = $now");
        command.Parameters.AddWithValue("$kind", kind);
        command.Parameters.AddWithValue("$hash", hash);
        command.Parameters.AddWithValue("$now", now.ToUnixTimeMilliseconds());
        command.ExecuteNonQuery();
    }

    public void UpsertNode(NodeRecord node)
    {
        using var command = Command("""
            INSERT INTO nodes (id, name, os, architecture, cpu_cores, memory_bytes, labels, gpus, drain, credential_hash, registered_at, last_heartbeat_at, agent_version, agent_url)
            VALUES ($id, $name, $os, $arch, $cpus, $memory, $labels, $gpus, $drain, $hash, $registered, $seen, $version, $url)
            ON CONFLICT(id) DO UPDATE SET name = $name, os = $os, architecture = $arch, cpu_cores = $cpus, memory_bytes = $memory,
                labels = $labels, gpus = $gpus, drain = $drain, credential_hash = $hash, last_heartbeat_at = $seen, agent_version = $version, agent_url = $url
            """);
        var p = command.Parameters;
        p.AddWithValue("$id", node.Id);
        p.AddWithValue("$name", node.Name);
        p.AddWithValue("$os", node.Os);
        p.AddWithValue("$arch", node.Architecture);
        p.AddWithValue("$cpus", node.CpuCores);
        p.AddWithValue("$memory", node.MemoryBytes);
        p.AddWithValue("$labels", JsonSerializer.Serialize(new Dictionary<string, string>(node.Labels), StoreJson.Default.DictionaryStringString));
        p.AddWithValue("$gpus", JsonSerializer.Serialize(node.Gpus.ToList(), StoreJson.Default.ListGpuInventory));
        p.AddWithValue("$drain", node.Drain ? 1 : 0);
        p.AddWithValue("$hash", node.CredentialHash);
        p.AddWithValue("$registered", node.RegisteredAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$seen", node.LastHeartbeatAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$version", (object?)node.AgentVersion ?? DBNull.Value);
        p.AddWithValue("$url", (object?)node.AgentUrl ?? DBNull.Value);
        command.ExecuteNonQuery();
    }

    public void SetNodeDrain(string id, bool drain)
    {
        using var command = Command("UPDATE nodes SET drain = $drain WHERE id = $id");
        command.Parameters.AddWithValue("$id", id);
        command.Parameters.AddWithValue("$drain", drain ? 1 : 0);
        command.ExecuteNonQuery();
    }

    public void InsertJob(JobRecord job)
    {
        using var command = Command("""
            INSERT INTO jobs (id, spec, array_index, state, reason, cancel_requested, submitted_at, queued_at, retries_used)
            VALUES ($id, $spec, $array, $state, $reason, 0, $submitted, $queued, 0)
            """);
        var p = command.Parameters;
        p.AddWithValue("$id", job.Id);
        p.AddWithValue("$spec", JsonSerializer.Serialize(job.Spec, GantryJson.Default.JobSubmission));
        p.AddWithValue("$array", (object?)job.ArrayIndex ?? DBNull.Value);
        p.AddWithValue("$state", job.State.ToString());
        p.AddWithValue("$reason", (object?)job.Reason ?? DBNull.Value);
        p.AddWithValue("$submitted", job.SubmittedAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$queued", job.QueuedAt.ToUnixTimeMilliseconds());
        command.ExecuteNonQuery();
    }

    public void UpdateJob(JobRecord job)
    {
        using var command = Command("""
            UPDATE jobs SET state = $state, reason = $reason, cancel_requested = $cancel, queued_at = $queued, started_at = $started,
                ended_at = $ended, exit_code = $exit, retries_used = $retries WHERE id = $id
            """);
        var p = command.Parameters;
        p.AddWithValue("$id", job.Id);
        p.AddWithValue("$state", job.State.ToString());
        p.AddWithValue("$reason", (object?)job.Reason ?? DBNull.Value);
        p.AddWithValue("$cancel", job.CancelRequested ? 1 : 0);
        p.AddWithValue("$queued", job.QueuedAt.ToUnixTimeMilliseconds());
        p.AddWithValue("$started", Millis(job.StartedAt));
        p.AddWithValue("$ended", Millis(job.EndedAt));
        p.AddWithValue("$exit", (object?)job.ExitCode ?? DBNull.Value);
        p.AddWithValue("$retries", job.RetriesUsed);
        command.ExecuteNonQuery();
    }

    public void InsertTransition(long jobId, JobTransition transition)
    {
        using var command = Command("INSERT INTO transitions (job_id, time, from_state, to_state, reason) VALUES ($job, $time, $from, $to, $reason)");
        var p = command.Parameters;
        p.AddWithValue("$job", jobId);
        p.AddWithValue("$time", transition.Time.ToUnixTimeMilliseconds());
        p.AddWithValue("$from", (object?)transition.From?.ToString() ?? DBNull.Value);
        p.AddWithValue("$to", transition.To.ToString());
        p.AddWithValue("$reason", transition.Reason);
        command.ExecuteNonQuery();
    }

    public void InsertAttempt(AttemptRecord attempt)
    {
        using var command = Command("""
            INSERT INTO attempts (job_id, attempt, epoch, node_id, gpus, gpu_uuids, cpus, memory_bytes, state, assigned_at)
            VALUES ($job, $attempt, $epoch, $node, $gpus, $uuids, $cpus, $memory, $state, $assigned)
            """);
        var p = command.Parameters;
        p.AddWithValue("$job", attempt.Job.Id);
        p.AddWithValue("$attempt", attempt.Number);
        p.AddWithValue("$epoch", attempt.Epoch);
        p.AddWithValue("$node", attempt.NodeId);
        p.AddWithValue("$gpus", JsonSerializer.Serialize(attempt.Gpus, StoreJson.Default.Int32Array));
        p.AddWithValue("$uuids", JsonSerializer.Serialize(attempt.GpuUuids, StoreJson.Default.StringArray));
        p.AddWithValue("$cpus", attempt.Cpus);
        p.AddWithValue("$memory", attempt.MemoryBytes);
        p.AddWithValue("$state", attempt.State.ToString());
        p.AddWithValue("$assigned", attempt.AssignedAt.ToUnixTimeMilliseconds());
        command.ExecuteNonQuery();
    }

    public void UpdateAttempt(AttemptRecord attempt)
    {
        using var command = Command("""
            UPDATE attempts SET state = $state, started_at = $started, ended_at = $ended, exit_code = $exit, signal = $signal,
                reason = $reason, ended_by_agent = $byAgent WHERE job_id = $job AND attempt = $attempt
            """);
        var p = command.Parameters;
        p.AddWithValue("$job", attempt.Job.Id);
        p.AddWithValue("$attempt", attempt.Number);
        p.AddWithValue("$state", attempt.State.ToString());
        p.AddWithValue("$started", Millis(attempt.StartedAt));
        p.AddWithValue("$ended", Millis(attempt.EndedAt));
        p.AddWithValue("$exit", (object?)attempt.ExitCode ?? DBNull.Value);
        p.AddWithValue("$signal", (object?)attempt.Signal ?? DBNull.Value);
        p.AddWithValue("$reason", (object?)attempt.Reason ?? DBNull.Value);
        p.AddWithValue("$byAgent", attempt.EndedByAgent ? 1 : 0);
        command.ExecuteNonQuery();
    }

    /// <summary>Stores a log chunk unless the same (job, attempt, stream, offset) is already there; true when stored.</summary>
    public bool InsertLog(long jobId, int attempt, LogSource stream, long offset, string data)
    {
        // One command, prepared once and kept: an upload holds hundreds of chunks, and compiling the
        // statement again for each one cost more than the insert itself (bench/Gantry.Benchmarks).
        var command = _insertLog ??= CreateInsertLog();
        command.Transaction = _transaction;
        var p = command.Parameters;
        p[0].Value = jobId;
        p[1].Value = attempt;
        p[2].Value = stream == LogSource.Stdout ? "stdout" : "stderr";
        p[3].Value = offset;
        p[4].Value = data;
        return command.ExecuteNonQuery() == 1;
    }

    private SqliteCommand CreateInsertLog()
    {
        var command = _write.CreateCommand();
        command.CommandText = "INSERT OR IGNORE INTO logs (job_id, attempt, stream, offset, data) VALUES ($job, $attempt, $stream, $offset, $data)";
        var p = command.Parameters;
        p.Add("$job", SqliteType.Integer);
        p.Add("$attempt", SqliteType.Integer);
        p.Add("$stream", SqliteType.Text);
        p.Add("$offset", SqliteType.Integer);
        p.Add("$data", SqliteType.Text);
        return command;
    }

    /// <summary>Reads up to <paramref name="limit"/> log chunks of a job after <paramref name="afterSeq"/>, on a pooled read-only connection.</summary>
    public List<LogRecord> ReadLogs(long jobId, long afterSeq, int limit)
    {
        using var connection = new SqliteConnection(_readConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT seq, attempt, stream, data FROM logs WHERE job_id = $job AND seq > $after ORDER BY seq LIMIT $limit";
        command.Parameters.AddWithValue("$job", jobId);
        command.Parameters.AddWithValue("$after", afterSeq);
        command.Parameters.AddWithValue("$limit", limit);
        using var reader = command.ExecuteReader();
        var records = new List<LogRecord>();
        while (reader.Read())
        {
            records.Add(new LogRecord
            {
                Seq = reader.GetInt64(0),
                Attempt = reader.GetInt32(1),
                Stream = reader.GetString(2) == "stdout" ? LogSource.Stdout : LogSource.Stderr,
                Data = reader.GetString(3),
            });
        }

        return records;
    }

    /// <summary>Loads every node and job (with attempts and transitions) into memory, at start.</summary>
    public (List<NodeRecord> Nodes, List<JobRecord> Jobs) Load()
    {
        var nodes = new List<NodeRecord>();
        using (var command = Command("SELECT id, name, os, architecture, cpu_cores, memory_bytes, labels, gpus, drain, credential_hash, registered_at, last_heartbeat_at, agent_version, agent_url FROM nodes ORDER BY id"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                nodes.Add(new NodeRecord
                {
                    Id = r.GetString(0),
                    Name = r.GetString(1),
                    Os = r.GetString(2),
                    Architecture = r.GetString(3),
                    CpuCores = r.GetInt32(4),
                    MemoryBytes = r.GetInt64(5),
                    Labels = JsonSerializer.Deserialize(r.GetString(6), StoreJson.Default.DictionaryStringString) ?? [],
                    Gpus = JsonSerializer.Deserialize(r.GetString(7), StoreJson.Default.ListGpuInventory) ?? [],
                    Drain = r.GetInt64(8) != 0,
                    CredentialHash = (byte[])r.GetValue(9),
                    RegisteredAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(10)),
                    LastHeartbeatAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(11)),
                    AgentVersion = r.IsDBNull(12) ? null : r.GetString(12),
                    AgentUrl = r.IsDBNull(13) ? null : r.GetString(13),
                });
            }
        }

        var jobs = new List<JobRecord>();
        var byId = new Dictionary<long, JobRecord>();
        using (var command = Command("SELECT id, spec, array_index, state, reason, cancel_requested, submitted_at, queued_at, started_at, ended_at, exit_code, retries_used FROM jobs ORDER BY id"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                var job = new JobRecord
                {
                    Id = r.GetInt64(0),
                    Spec = JsonSerializer.Deserialize(r.GetString(1), GantryJson.Default.JobSubmission)!,
                    ArrayIndex = r.IsDBNull(2) ? null : r.GetInt32(2),
                    State = Enum.Parse<JobState>(r.GetString(3)),
                    Reason = r.IsDBNull(4) ? null : r.GetString(4),
                    CancelRequested = r.GetInt64(5) != 0,
                    SubmittedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(6)),
                    QueuedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(7)),
                    StartedAt = Time(r, 8),
                    EndedAt = Time(r, 9),
                    ExitCode = r.IsDBNull(10) ? null : r.GetInt32(10),
                    RetriesUsed = r.GetInt32(11),
                };
                jobs.Add(job);
                byId[job.Id] = job;
            }
        }

        using (var command = Command("SELECT job_id, attempt, epoch, node_id, gpus, gpu_uuids, cpus, memory_bytes, state, assigned_at, started_at, ended_at, exit_code, signal, reason, ended_by_agent FROM attempts ORDER BY job_id, attempt"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                var job = byId[r.GetInt64(0)];
                job.Attempts.Add(new AttemptRecord
                {
                    Job = job,
                    Number = r.GetInt32(1),
                    Epoch = r.GetInt64(2),
                    NodeId = r.GetString(3),
                    Gpus = JsonSerializer.Deserialize(r.GetString(4), StoreJson.Default.Int32Array) ?? [],
                    GpuUuids = JsonSerializer.Deserialize(r.GetString(5), StoreJson.Default.StringArray) ?? [],
                    Cpus = r.GetInt32(6),
                    MemoryBytes = r.GetInt64(7),
                    State = Enum.Parse<AttemptState>(r.GetString(8)),
                    AssignedAt = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(9)),
                    StartedAt = Time(r, 10),
                    EndedAt = Time(r, 11),
                    ExitCode = r.IsDBNull(12) ? null : r.GetInt32(12),
                    Signal = r.IsDBNull(13) ? null : r.GetString(13),
                    Reason = r.IsDBNull(14) ? null : r.GetString(14),
                    EndedByAgent = r.GetInt64(15) != 0,
                });
            }
        }

        using (var command = Command("SELECT job_id, time, from_state, to_state, reason FROM transitions ORDER BY id"))
        using (var r = command.ExecuteReader())
        {
            while (r.Read())
            {
                byId[r.GetInt64(0)].Transitions.Add(new JobTransition
                {
                    Time = DateTimeOffset.FromUnixTimeMilliseconds(r.GetInt64(1)),
                    From = r.IsDBNull(2) ? null : Enum.Parse<JobState>(r.GetString(2)),
                    To = Enum.Parse<JobState>(r.GetString(3)),
                    Reason = r.GetString(4),
                });
            }
        }

        return (nodes, jobs);
    }

    public void Dispose()
    {
        _insertLog?.Dispose();
        _transaction?.Dispose();
        _write.Dispose();
    }

    private SqliteCommand Command(string sql)
    {
        var command = _write.CreateCommand();
        command.CommandText = sql;
        command.Transaction = _transaction;
        return command;
    }

    private static object Millis(DateTimeOffset? time) => time is { } t ? t.ToUnixTimeMilliseconds() : DBNull.Value;

    private static DateTimeOffset? Time(SqliteDataReader reader, int ordinal) =>
        reader.IsDBNull(ordinal) ? null : DateTimeOffset.FromUnixTimeMilliseconds(reader.GetInt64(ordinal));
}

/// <summary>The store cannot be used (a newer schema, a file that is not a database).</summary>
internal sealed class StoreException(string message) : Exception(message);
