using System.Globalization;
using System.Text;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Data.Sqlite;

namespace Gantry.Server.Storage.Sqlite;

/// <summary>
/// The state in one SQLite file (WAL). One connection writes, one unit of work at a time; readers use
/// pooled read-only connections and see committed state. WAL with <c>synchronous=NORMAL</c> keeps
/// committed transactions across a killed process; only a power cut can lose the last few.
/// </summary>
internal sealed partial class SqliteStateStore : IStateStore
{

    private readonly Lock _writeLock = new();
    private readonly SqliteConnection _write;
    private readonly string _readConnectionString;
    private readonly Writer _writer;
    private readonly Dictionary<string, SqliteCommand> _statements = new(StringComparer.Ordinal);
    private SqliteTransaction? _transaction;

    private SqliteStateStore(string path, SqliteConnection write, string readConnectionString)
    {
        Description = "SQLite " + path;
        _write = write;
        _readConnectionString = readConnectionString;
        _writer = new Writer(this);
    }

    public string Description { get; }

    /// <summary>
    /// An SQLite failure of the file rather than of the statement: busy or locked (another process
    /// holds it), an I/O error, a full disk, a file that cannot be opened.
    /// </summary>
    internal static bool IsTransient(Exception exception) =>
        exception is SqliteException { SqliteErrorCode: 5 or 6 or 10 or 13 or 14 };

    /// <summary>Opens (creating when missing) the database at <paramref name="path"/> and applies pending migrations.</summary>
    public static SqliteStateStore Open(string path)
    {
        var (writer, read) = SqliteFile.Open(path, SqliteMigrations.Scripts, "the database", foreignKeys: true);
        return new SqliteStateStore(path, writer, read);
    }

    public void Write(Action<IStateWriter> unitOfWork)
    {
        ArgumentNullException.ThrowIfNull(unitOfWork);
        lock (_writeLock)
        {
            if (_transaction is not null)
            {
                // Nested in a unit of work of the same thread: part of it.
                unitOfWork(_writer);
                return;
            }

            _transaction = _write.BeginTransaction();
            try
            {
                unitOfWork(_writer);
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
    }

    /// <summary>Nothing to fence: an SQLite file has one server, which always leads.</summary>
    public void FenceTo(long leaderEpoch)
    {
    }

    public StoredState Load()
    {
        var state = new StoredState();
        using var connection = OpenRead();
        using (var q = Query(connection, "SELECT kind, hash FROM tokens"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.Tokens[r.GetString(0)] = (byte[])r.GetValue(1);
            }
        }

        using (var q = Query(connection, $"SELECT {StoreRows.PersonColumns} FROM people ORDER BY name"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.People.Add(StoreRows.ReadPerson(r));
            }
        }

        using (var q = Query(connection, $"SELECT {StoreRows.NodeColumns} FROM nodes ORDER BY id"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.Nodes.Add(StoreRows.ReadNode(r));
            }
        }

        var live = new Dictionary<long, List<AttemptRow>>();
        using (var q = Query(connection, $"SELECT {StoreRows.JobColumns} FROM jobs WHERE state IN ('Pending', 'Assigned', 'Running') ORDER BY id"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                var job = StoreRows.ReadJob(r);
                var attempts = new List<AttemptRow>();
                live[job.Id] = attempts;
                state.LiveJobs.Add((job, attempts));
            }
        }

        using (var q = Query(connection, $"SELECT {StoreRows.Prefixed("a.", StoreRows.AttemptColumns)} FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.state IN ('Pending', 'Assigned', 'Running') ORDER BY a.job_id, a.attempt"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                var attempt = StoreRows.ReadAttempt(r);
                live[attempt.JobId].Add(attempt);
            }
        }

        using (var q = Query(connection, $"SELECT {StoreRows.ArrayColumns} FROM arrays WHERE complete = 0 ORDER BY first_job_id"))
        {
            var r = q.Reader;
            var arrays = new List<ArrayRow>();
            while (r.Read())
            {
                arrays.Add(StoreRows.ReadArray(r));
            }

            r.Close();
            foreach (var array in arrays)
            {
                var ids = new List<long>();
                using var tasksQuery = Query(connection, "SELECT id FROM jobs WHERE id BETWEEN $first AND $last ORDER BY id", ("$first", array.FirstJobId), ("$last", array.LastJobId));
                var tasks = tasksQuery.Reader;
                while (tasks.Read())
                {
                    ids.Add(tasks.GetInt64(0));
                }

                state.Arrays.Add(new StoredArray(array, ids));
            }
        }

        using (var q = Query(connection, "SELECT state, COUNT(*) FROM jobs GROUP BY state"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.JobCounts[Enum.Parse<JobState>(r.GetString(0))] = r.GetInt64(1);
            }
        }

        using (var q = Query(connection, $"SELECT {StoreRows.HealthColumns} FROM gpu_health ORDER BY node_id, gpu"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.Health.Add(StoreRows.ReadHealth(r));
            }
        }

        using (var q = Query(connection, "SELECT kind, id, body, updated_at FROM alert_documents ORDER BY kind, updated_at, id"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.AlertDocuments.Add(new AlertDocument(r.GetString(0), r.GetString(1), r.GetString(2), StoreRows.Millis(r.GetInt64(3))));
            }
        }

        using (var q = Query(connection, $"SELECT {StoreRows.NodePowerColumns} FROM node_power ORDER BY node_id"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.NodePower.Add(StoreRows.ReadNodePower(r));
            }
        }

        using (var q = Query(connection, $"SELECT {StoreRows.AccountUsageColumns} FROM account_usage ORDER BY account"))
        {
            var r = q.Reader;
            while (r.Read())
            {
                state.AccountUsage.Add(StoreRows.ReadAccountUsage(r));
            }
        }

        var next = Scalar(connection, "SELECT MAX(id) FROM jobs") + 1;
        next = Math.Max(next, Scalar(connection, "SELECT MAX(first_job_id + end_index - start_index) FROM arrays") + 1);
        next = Math.Max(next, Scalar(connection, "SELECT value FROM counters WHERE name = 'next_job_id'"));
        state.NextJobId = Math.Max(1, next);
        state.LastEpoch = Math.Max(Scalar(connection, "SELECT MAX(epoch) FROM attempts"), Scalar(connection, "SELECT value FROM counters WHERE name = 'last_epoch'"));
        return state;
    }

    public StoredJob? ReadJob(long id)
    {
        using var connection = OpenRead();
        JobRow job;
        using (var q = Query(connection, $"SELECT {StoreRows.JobColumns} FROM jobs WHERE id = $id", ("$id", id)))
        {
            var r = q.Reader;
            if (!r.Read())
            {
                return null;
            }

            job = StoreRows.ReadJob(r);
        }

        return WithHistory(connection, [job])[0];
    }

    public IReadOnlyList<StoredJob> ListJobs(JobState? state, long? before, int limit, string? owner = null, JobKind? kind = null)
    {
        using var connection = OpenRead();
        var sql = new StringBuilder($"SELECT {StoreRows.JobColumns} FROM jobs WHERE id < $before");
        if (state is not null)
        {
            sql.Append(" AND state = $state");
        }

        if (owner is not null)
        {
            sql.Append(" AND owner = $owner");
        }

        if (kind is not null)
        {
            // Services (migration 12): a batch job's kind is null.
            sql.Append(kind == JobKind.Service ? " AND kind = $kind" : " AND kind IS NULL");
        }

        sql.Append(" ORDER BY id DESC LIMIT $limit");
        var jobs = new List<JobRow>();
        using (var q = Query(connection, sql.ToString(), ("$before", before ?? long.MaxValue), ("$state", state?.ToString()), ("$owner", owner), ("$limit", limit), ("$kind", kind is { } k ? StoreRows.KindText(k) : null)))
        {
            var r = q.Reader;
            while (r.Read())
            {
                jobs.Add(StoreRows.ReadJob(r));
            }
        }

        return WithHistory(connection, jobs);
    }

    public List<EnergyAttempt> ReadEnergyAttempts(DateTimeOffset since)
    {
        using var connection = OpenRead();
        using var rQuery = Query(
            connection,
            $"""
            SELECT a.job_id, a.node_id, json_extract(j.spec, '$.name'), json_array_length(a.gpus), a.started_at, a.ended_at, {StoreRows.Prefixed("a.", StoreRows.EnergyColumns)}
            FROM attempts a JOIN jobs j ON j.id = a.job_id
            WHERE a.started_at IS NOT NULL AND (a.ended_at IS NULL OR a.ended_at >= $since)
            """,
            ("$since", since.ToUnixTimeMilliseconds()));
        var r = rQuery.Reader;
        var rows = new List<EnergyAttempt>();
        while (r.Read())
        {
            rows.Add(StoreRows.ReadEnergyAttempt(r));
        }

        return rows;
    }

    public AttemptRow? ReadAttempt(long jobId, int attempt)
    {
        using var connection = OpenRead();
        using var rQuery = Query(connection, $"SELECT {StoreRows.AttemptColumns} FROM attempts WHERE job_id = $job AND attempt = $attempt", ("$job", jobId), ("$attempt", attempt));
        var r = rQuery.Reader;
        return r.Read() ? StoreRows.ReadAttempt(r) : null;
    }

    public List<LogRecord> ReadLogs(long jobId, long afterSeq, int limit)
    {
        using var connection = OpenRead();
        using var rQuery = Query(connection, "SELECT seq, attempt, stream, data FROM logs WHERE job_id = $job AND seq > $after ORDER BY seq LIMIT $limit", ("$job", jobId), ("$after", afterSeq), ("$limit", limit));
        var r = rQuery.Reader;
        var records = new List<LogRecord>();
        while (r.Read())
        {
            records.Add(new LogRecord
            {
                Seq = r.GetInt64(0),
                Attempt = r.GetInt32(1),
                Stream = r.GetString(2) == "stdout" ? LogSource.Stdout : LogSource.Stderr,
                Data = r.GetString(3),
            });
        }

        return records;
    }

    public IReadOnlyList<HealthEvent> ReadHealthEvents(string nodeId, int limit)
    {
        using var connection = OpenRead();
        using var q = Query(connection, $"SELECT {StoreRows.HealthEventColumns} FROM health_events WHERE node_id = $node ORDER BY id DESC LIMIT $limit", ("$node", nodeId), ("$limit", limit));
        var r = q.Reader;
        var events = new List<HealthEvent>();
        while (r.Read())
        {
            events.Add(StoreRows.ReadHealthEvent(r));
        }

        return events;
    }

    public Dictionary<JobState, int> PurgeEndedBefore(DateTimeOffset cutoff, int maxJobs)
    {
        var purged = new Dictionary<JobState, int>();
        Write(_ =>
        {
            // Ids and epochs must keep rising even when the newest rows go.
            Execute("INSERT INTO counters (name, value) VALUES ('next_job_id', (SELECT COALESCE(MAX(id), 0) + 1 FROM jobs)) ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)");
            Execute("INSERT INTO counters (name, value) VALUES ('last_epoch', (SELECT COALESCE(MAX(epoch), 0) FROM attempts)) ON CONFLICT(name) DO UPDATE SET value = MAX(value, excluded.value)");
            Execute("CREATE TEMP TABLE IF NOT EXISTS purge (id INTEGER PRIMARY KEY, state TEXT NOT NULL)");
            Execute("DELETE FROM temp.purge");
            Execute("INSERT INTO temp.purge (id, state) SELECT id, state FROM jobs WHERE ended_at IS NOT NULL AND ended_at < $cutoff ORDER BY ended_at LIMIT $max", ("$cutoff", cutoff.ToUnixTimeMilliseconds()), ("$max", maxJobs));
            using (var command = Command("SELECT state, COUNT(*) FROM temp.purge GROUP BY state"))
            using (var r = command.ExecuteReader())
            {
                while (r.Read())
                {
                    purged[Enum.Parse<JobState>(r.GetString(0))] = r.GetInt32(1);
                }
            }

            Execute("DELETE FROM logs WHERE job_id IN (SELECT id FROM temp.purge)");
            Execute("DELETE FROM transitions WHERE job_id IN (SELECT id FROM temp.purge)");
            Execute("DELETE FROM attempts WHERE job_id IN (SELECT id FROM temp.purge)");
            Execute("DELETE FROM jobs WHERE id IN (SELECT id FROM temp.purge)");
            Execute("""
                DELETE FROM arrays WHERE complete = 1 AND submitted_at < $cutoff
                    AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id BETWEEN arrays.first_job_id AND arrays.first_job_id + arrays.end_index - arrays.start_index)
                """, ("$cutoff", cutoff.ToUnixTimeMilliseconds()));
            Execute("DELETE FROM temp.purge");
        });
        return purged;
    }

    public void Dispose()
    {
        lock (_writeLock)
        {
            _writer.Dispose();
            foreach (var command in _statements.Values)
            {
                command.Dispose();
            }

            _statements.Clear();
            _transaction?.Dispose();
            _write.Dispose();
        }
    }

    private static List<StoredJob> WithHistory(SqliteConnection connection, List<JobRow> jobs)
    {
        var attempts = new Dictionary<long, List<AttemptRow>>();
        var transitions = new Dictionary<long, List<JobTransition>>();
        if (jobs.Count > 0)
        {
            var ids = new StringBuilder();
            foreach (var job in jobs)
            {
                ids.Append(ids.Length == 0 ? "" : ",").Append(job.Id.ToString(CultureInfo.InvariantCulture));
                attempts[job.Id] = [];
                transitions[job.Id] = [];
            }

            using (var q = Query(connection, $"SELECT {StoreRows.AttemptColumns} FROM attempts WHERE job_id IN ({ids}) ORDER BY job_id, attempt"))
            {
                var r = q.Reader;
                while (r.Read())
                {
                    var attempt = StoreRows.ReadAttempt(r);
                    attempts[attempt.JobId].Add(attempt);
                }
            }

            using (var q = Query(connection, $"SELECT job_id, time, from_state, to_state, reason FROM transitions WHERE job_id IN ({ids}) ORDER BY id"))
            {
                var r = q.Reader;
                while (r.Read())
                {
                    transitions[r.GetInt64(0)].Add(new JobTransition
                    {
                        Time = StoreRows.Millis(r.GetInt64(1)),
                        From = r.IsDBNull(2) ? null : Enum.Parse<JobState>(r.GetString(2)),
                        To = Enum.Parse<JobState>(r.GetString(3)),
                        Reason = r.GetString(4),
                    });
                }
            }
        }

        var stored = new List<StoredJob>(jobs.Count);
        foreach (var job in jobs)
        {
            stored.Add(new StoredJob(job, attempts[job.Id], transitions[job.Id]));
        }

        return stored;
    }

    private SqliteConnection OpenRead()
    {
        var connection = new SqliteConnection(_readConnectionString);
        connection.Open();
        return connection;
    }

    private static Rows Query(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }

        return new Rows(command, command.ExecuteReader());
    }

    /// <summary>A reader and its command, disposed together (disposing the command first would close the reader).</summary>
    private sealed class Rows(SqliteCommand command, SqliteDataReader reader) : IDisposable
    {
        public SqliteDataReader Reader { get; } = reader;

        public void Dispose()
        {
            Reader.Dispose();
            command.Dispose();
        }
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar() is long value ? value : 0;
    }

    /// <summary>
    /// Runs a write on the writer connection. Each statement text is prepared once and kept (a
    /// scheduling pass writes several rows per placement; compiling each INSERT again cost about as
    /// much as running it): the call sites pass fixed SQL, so the cache holds a few dozen commands.
    /// </summary>
    private void Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        if (!_statements.TryGetValue(sql, out var command))
        {
            command = _write.CreateCommand();
            command.CommandText = sql;
            _statements.Add(sql, command);
        }

        command.Transaction = _transaction;
        var bound = command.Parameters;
        if (!SameNames(bound, parameters))
        {
            bound.Clear();
            foreach (var (name, _) in parameters)
            {
                bound.Add(new SqliteParameter { ParameterName = name });
            }
        }

        for (var i = 0; i < parameters.Length; i++)
        {
            bound[i].Value = parameters[i].Value ?? DBNull.Value;
        }

        command.ExecuteNonQuery();
    }

    private static bool SameNames(SqliteParameterCollection bound, (string Name, object? Value)[] parameters)
    {
        if (bound.Count != parameters.Length)
        {
            return false;
        }

        for (var i = 0; i < parameters.Length; i++)
        {
            if (!string.Equals(bound[i].ParameterName, parameters[i].Name, StringComparison.Ordinal))
            {
                return false;
            }
        }

        return true;
    }

    private SqliteCommand Command(string sql)
    {
        var command = _write.CreateCommand();
        command.CommandText = sql;
        command.Transaction = _transaction;
        return command;
    }

    private static object Millis(DateTimeOffset? time) => time is { } t ? t.ToUnixTimeMilliseconds() : DBNull.Value;

    /// <summary>The writes of a unit of work, on the store's one writer connection.</summary>
    private sealed class Writer(SqliteStateStore store) : IStateWriter, IDisposable
    {
        private SqliteCommand? _insertLog;

        public void SaveToken(string kind, byte[] hash, DateTimeOffset now) =>
            store.Execute(
                "INSERT INTO tokens (kind, hash, created_at) VALUES ($kind, $hash, $now) ON CONFLICT(kind) DO UPDATE SET hash = $hash, created_at = $now",
                ("$kind", kind), ("$hash", hash), ("$now", now.ToUnixTimeMilliseconds()));

        public void SavePerson(PersonRow row) =>
            store.Execute(
                $"INSERT OR REPLACE INTO people ({StoreRows.PersonColumns}) VALUES ($name, $hash, $role, $unix, $root, $gpus, $pending, $created, $expires, $revoked)",
                ("$name", row.Person.Name),
                ("$hash", row.Hash),
                ("$role", row.Person.Role.ToString()),
                ("$unix", row.Person.UnixUser),
                ("$root", row.Person.AllowRoot ? 1 : 0),
                ("$gpus", row.Person.MaxGpus),
                ("$pending", row.Person.MaxPending),
                ("$created", Millis(row.Person.CreatedAt)),
                ("$expires", Millis(row.Person.ExpiresAt)),
                ("$revoked", Millis(row.Person.RevokedAt)));

        public void UpsertNode(NodeRow node) =>
            store.Execute(
                $"""
                INSERT INTO nodes ({StoreRows.NodeColumns})
                VALUES ($id, $name, $os, $arch, $cpus, $memory, $labels, $gpus, $drain, $hash, $registered, $seen, $version, $url, $runtimes)
                ON CONFLICT(id) DO UPDATE SET name = $name, os = $os, architecture = $arch, cpu_cores = $cpus, memory_bytes = $memory,
                    labels = $labels, gpus = $gpus, drain = $drain, credential_hash = $hash, last_heartbeat_at = $seen, agent_version = $version, agent_url = $url,
                    container_runtimes = $runtimes
                """,
                ("$id", node.Id),
                ("$name", node.Name),
                ("$os", node.Os),
                ("$arch", node.Architecture),
                ("$cpus", node.CpuCores),
                ("$memory", node.MemoryBytes),
                ("$labels", JsonSerializer.Serialize(new Dictionary<string, string>(node.Labels), StoreJson.Default.DictionaryStringString)),
                ("$gpus", JsonSerializer.Serialize(node.Gpus.ToList(), StoreJson.Default.ListGpuInventory)),
                ("$drain", node.Drain ? 1 : 0),
                ("$hash", node.CredentialHash),
                ("$registered", node.RegisteredAt.ToUnixTimeMilliseconds()),
                ("$seen", node.LastHeartbeatAt.ToUnixTimeMilliseconds()),
                ("$version", node.AgentVersion),
                ("$url", node.AgentUrl),
                ("$runtimes", StoreRows.ContainerRuntimes(node)));

        public void SetNodeDrain(string id, bool drain) =>
            store.Execute("UPDATE nodes SET drain = $drain WHERE id = $id", ("$id", id), ("$drain", drain ? 1 : 0));

        public void InsertArray(ArrayRow array) =>
            store.Execute(
                $"INSERT INTO arrays ({StoreRows.ArrayColumns}) VALUES ($first, $start, $end, $spec, $submitted, $owner, $runAs, $allowRoot)",
                ("$first", array.FirstJobId), ("$start", array.Start), ("$end", array.End), ("$spec", StoreRows.Json(array.Spec)), ("$submitted", array.SubmittedAt.ToUnixTimeMilliseconds()),
                ("$owner", array.Owner?.Name), ("$runAs", array.Owner?.RunAsUser), ("$allowRoot", array.Owner?.AllowRoot == true ? 1 : 0));

        public void CompleteArray(long firstJobId) =>
            store.Execute("UPDATE arrays SET complete = 1 WHERE first_job_id = $first", ("$first", firstJobId));

        public void InsertJob(JobRow job) =>
            store.Execute(
                $"INSERT INTO jobs ({StoreRows.JobColumns}) VALUES ($id, $spec, $array, $state, $reason, $cancel, $submitted, $queued, $started, $ended, $exit, $retries, $plannedStart, $plannedLocation, $plannedGrams, $owner, $runAs, $allowRoot, $kind)",
                [.. JobParameters(job, withSpec: true), ("$kind", StoreRows.Kind(job.Spec))]);

        public void UpdateJob(JobRow job) =>
            store.Execute(
                """
                UPDATE jobs SET state = $state, reason = $reason, cancel_requested = $cancel, queued_at = $queued, started_at = $started,
                    ended_at = $ended, exit_code = $exit, retries_used = $retries, planned_start = $plannedStart,
                    planned_location = $plannedLocation, planned_grams_per_kwh = $plannedGrams WHERE id = $id
                """,
                JobParameters(job, withSpec: false));

        public void InsertTransition(long jobId, JobTransition transition) =>
            store.Execute(
                "INSERT INTO transitions (job_id, time, from_state, to_state, reason) VALUES ($job, $time, $from, $to, $reason)",
                ("$job", jobId), ("$time", transition.Time.ToUnixTimeMilliseconds()), ("$from", transition.From?.ToString()), ("$to", transition.To.ToString()), ("$reason", transition.Reason));

        public void InsertAttempt(AttemptRow attempt) =>
            store.Execute(
                $"INSERT INTO attempts ({StoreRows.AttemptColumns}) VALUES ($job, $attempt, $epoch, $node, $gpus, $uuids, $cpus, $memory, $state, $assigned, $started, $ended, $exit, $signal, $reason, $byAgent, $eGpu, $eCpu, $eAvg, $ePeak, $eCo2, $eEstimated, $eAt, $eSimulated)",
                AttemptParameters(attempt));

        public void UpdateAttempt(AttemptRow attempt) =>
            store.Execute(
                """
                UPDATE attempts SET state = $state, started_at = $started, ended_at = $ended, exit_code = $exit, signal = $signal,
                    reason = $reason, ended_by_agent = $byAgent, energy_gpu_joules = $eGpu, energy_cpu_joules = $eCpu, energy_gpu_avg_watts = $eAvg,
                    energy_gpu_peak_watts = $ePeak, energy_co2_grams = $eCo2, energy_estimated = $eEstimated, energy_measured_at = $eAt,
                    energy_simulated = $eSimulated
                WHERE job_id = $job AND attempt = $attempt
                """,
                AttemptParameters(attempt));

        public void UpdateAttemptEnergy(AttemptRow attempt) =>
            store.Execute(
                """
                UPDATE attempts SET energy_gpu_joules = $eGpu, energy_cpu_joules = $eCpu, energy_gpu_avg_watts = $eAvg,
                    energy_gpu_peak_watts = $ePeak, energy_co2_grams = $eCo2, energy_estimated = $eEstimated, energy_measured_at = $eAt,
                    energy_simulated = $eSimulated
                WHERE job_id = $job AND attempt = $attempt AND epoch = $epoch AND ended_at IS NULL
                """,
                EnergyParameters(attempt));

        public bool InsertLog(long jobId, int attempt, LogSource stream, long offset, string data)
        {
            // One command, prepared once and kept: an upload holds hundreds of chunks, and compiling the
            // statement again for each one cost more than the insert itself (bench/Gantry.Benchmarks).
            var command = _insertLog ??= CreateInsertLog();
            command.Transaction = store._transaction;
            var p = command.Parameters;
            p[0].Value = jobId;
            p[1].Value = attempt;
            p[2].Value = stream == LogSource.Stdout ? "stdout" : "stderr";
            p[3].Value = offset;
            p[4].Value = data;
            return command.ExecuteNonQuery() == 1;
        }

        public void UpsertHealth(HealthRow health) =>
            store.Execute(
                $"""
                INSERT INTO gpu_health ({StoreRows.HealthColumns}) VALUES ($node, $gpu, $state, $cause, $since, $until, $manual, $detail)
                ON CONFLICT(node_id, gpu) DO UPDATE SET state = $state, cause = $cause, since = $since, until = $until, manual = $manual, detail = $detail
                """,
                ("$node", health.NodeId),
                ("$gpu", health.Gpu),
                ("$state", health.State.ToString()),
                ("$cause", health.Cause),
                ("$since", Millis(health.Since)),
                ("$until", health.Until?.ToString()),
                ("$manual", health.Manual ? 1 : 0),
                ("$detail", health.Detail));

        public void DeleteHealth(string nodeId, int gpu) =>
            store.Execute("DELETE FROM gpu_health WHERE node_id = $node AND gpu = $gpu", ("$node", nodeId), ("$gpu", gpu));

        public void PutAlertDocument(string kind, string id, string body, DateTimeOffset updatedAt) =>
            store.Execute(
                """
                INSERT INTO alert_documents (kind, id, body, updated_at) VALUES ($kind, $id, $body, $at)
                ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at
                """,
                ("$kind", kind),
                ("$id", id),
                ("$body", body),
                ("$at", updatedAt.ToUnixTimeMilliseconds()));

        public void DeleteAlertDocument(string kind, string id) =>
            store.Execute("DELETE FROM alert_documents WHERE kind = $kind AND id = $id", ("$kind", kind), ("$id", id));
        public void UpsertNodePower(NodePowerRow power) =>
            store.Execute(
                $"""
                INSERT INTO node_power ({StoreRows.NodePowerColumns}) VALUES ($node, $mode, $since, $deadline, $watts, $saved, $event, $down)
                ON CONFLICT (node_id) DO UPDATE SET mode = excluded.mode, since = excluded.since, resume_deadline = excluded.resume_deadline,
                    suspended_watts = excluded.suspended_watts, saved_joules = excluded.saved_joules, last_event = excluded.last_event, down_reason = excluded.down_reason
                """,
                ("$node", power.NodeId),
                ("$mode", power.Mode),
                ("$since", Millis(power.Since)),
                ("$deadline", Millis(power.ResumeDeadline)),
                ("$watts", power.SuspendedWatts),
                ("$saved", power.SavedJoules),
                ("$event", power.LastEvent),
                ("$down", power.DownReason));

        public void UpsertAccountUsage(AccountUsageRow usage) =>
            store.Execute(
                $"""
                INSERT INTO account_usage ({StoreRows.AccountUsageColumns}) VALUES ($account, $seconds, $asOf)
                ON CONFLICT (account) DO UPDATE SET gpu_seconds = excluded.gpu_seconds, as_of = excluded.as_of
                """,
                ("$account", usage.Account),
                ("$seconds", usage.GpuSeconds),
                ("$asOf", usage.AsOf.ToUnixTimeMilliseconds()));

        public void InsertHealthEvent(string nodeId, HealthEvent change) =>
            store.Execute(
                "INSERT INTO health_events (node_id, gpu, time, change, cause, evidence, actor, job_id) VALUES ($node, $gpu, $time, $change, $cause, $evidence, $actor, $job)",
                ("$node", nodeId),
                ("$gpu", change.Gpu),
                ("$time", change.Time.ToUnixTimeMilliseconds()),
                ("$change", change.Change.ToString()),
                ("$cause", change.Cause),
                ("$evidence", change.Evidence),
                ("$actor", change.Actor.ToString()),
                ("$job", change.JobId));

        public void Dispose() => _insertLog?.Dispose();

        private SqliteCommand CreateInsertLog()
        {
            var command = store._write.CreateCommand();
            command.CommandText = "INSERT OR IGNORE INTO logs (job_id, attempt, stream, offset, data) VALUES ($job, $attempt, $stream, $offset, $data)";
            var p = command.Parameters;
            p.Add("$job", SqliteType.Integer);
            p.Add("$attempt", SqliteType.Integer);
            p.Add("$stream", SqliteType.Text);
            p.Add("$offset", SqliteType.Integer);
            p.Add("$data", SqliteType.Text);
            return command;
        }

        private static (string, object?)[] JobParameters(JobRow job, bool withSpec) =>
        [
            ("$id", job.Id),
            ("$spec", withSpec ? StoreRows.Json(job.Spec) : null),
            ("$array", job.ArrayIndex),
            ("$state", job.State.ToString()),
            ("$reason", job.Reason),
            ("$cancel", job.CancelRequested ? 1 : 0),
            ("$submitted", job.SubmittedAt.ToUnixTimeMilliseconds()),
            ("$queued", job.QueuedAt.ToUnixTimeMilliseconds()),
            ("$started", Millis(job.StartedAt)),
            ("$ended", Millis(job.EndedAt)),
            ("$exit", job.ExitCode),
            ("$retries", job.RetriesUsed),
            ("$plannedStart", Millis(job.PlannedStart)),
            ("$plannedLocation", job.PlannedLocation),
            ("$plannedGrams", job.PlannedGramsPerKwh),
            ("$owner", job.Owner?.Name),
            ("$runAs", job.Owner?.RunAsUser),
            ("$allowRoot", job.Owner?.AllowRoot == true ? 1 : 0),
        ];

        private static (string, object?)[] AttemptParameters(AttemptRow a) =>
        [
            ("$job", a.JobId),
            ("$attempt", a.Number),
            ("$epoch", a.Epoch),
            ("$node", a.NodeId),
            ("$gpus", JsonSerializer.Serialize(a.Gpus, StoreJson.Default.Int32Array)),
            ("$uuids", JsonSerializer.Serialize(a.GpuUuids, StoreJson.Default.StringArray)),
            ("$cpus", a.Cpus),
            ("$memory", a.MemoryBytes),
            ("$state", a.State.ToString()),
            ("$assigned", a.AssignedAt.ToUnixTimeMilliseconds()),
            ("$started", Millis(a.StartedAt)),
            ("$ended", Millis(a.EndedAt)),
            ("$exit", a.ExitCode),
            ("$signal", a.Signal),
            ("$reason", a.Reason),
            ("$byAgent", a.EndedByAgent ? 1 : 0),
            ("$eGpu", a.Energy?.GpuJoules),
            ("$eCpu", a.Energy?.CpuJoules),
            ("$eAvg", a.Energy?.AverageGpuWatts),
            ("$ePeak", a.Energy?.PeakGpuWatts),
            ("$eCo2", a.Energy?.Co2Grams),
            ("$eEstimated", a.Energy is { } e ? (e.Estimated ? 1 : 0) : null),
            ("$eAt", a.Energy?.MeasuredAt.ToUnixTimeMilliseconds()),
            ("$eSimulated", a.Energy is { } s ? (s.Simulated ? 1 : 0) : null),
        ];

        private static (string, object?)[] EnergyParameters(AttemptRow a) =>
        [
            ("$job", a.JobId),
            ("$attempt", a.Number),
            ("$epoch", a.Epoch),
            ("$eGpu", a.Energy?.GpuJoules),
            ("$eCpu", a.Energy?.CpuJoules),
            ("$eAvg", a.Energy?.AverageGpuWatts),
            ("$ePeak", a.Energy?.PeakGpuWatts),
            ("$eCo2", a.Energy?.Co2Grams),
            ("$eEstimated", a.Energy is { } e ? (e.Estimated ? 1 : 0) : null),
            ("$eAt", a.Energy?.MeasuredAt.ToUnixTimeMilliseconds()),
            ("$eSimulated", a.Energy is { } s ? (s.Simulated ? 1 : 0) : null),
        ];
    }
}
