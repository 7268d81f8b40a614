using System.Data;
using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Npgsql;
using NpgsqlTypes;

namespace Gantry.Server.Storage.Postgres;

/// <summary>
/// The state in a PostgreSQL database that several replicas can share: SQLite's tables with
/// PostgreSQL's types (<see cref="PostgresMigrations"/>), the same semantics, fewer round trips.
/// </summary>
/// <remarks>
/// <para>
/// A unit of work (<see cref="Write"/>) is queued into one <see cref="NpgsqlBatch"/> and sent when it
/// ends: one round trip. A batch outside a transaction is one implicit transaction on the server (one
/// Sync at its end), so it is stored whole or not at all without a BEGIN and a COMMIT of its own. Only
/// <see cref="IStateWriter.InsertLog"/> needs an answer before the unit ends (whether the chunk was
/// new): it opens a transaction (its BEGIN rides with the first batch), sends what is queued with the
/// insert and reads the insert's <see cref="NpgsqlBatchCommand.RecordsAffected"/>, so an upload of k
/// chunks costs k round trips and a COMMIT.
/// </para>
/// <para>
/// Units run one at a time, under a lock, as SQLite's do: memory and store change in the same order,
/// and the identity numbers of <c>logs.seq</c> are committed in the order they are drawn, so a reader
/// paging by sequence number never passes one that commits later. Readers take pooled connections and
/// see committed state; <see cref="Load"/> reads in one repeatable-read snapshot.
/// </para>
/// <para>
/// Every unit goes through <see cref="UnitOfWork.Commit"/>, which is where a leader's lease belongs: once
/// <see cref="FenceTo"/> has named this replica's term, the first statement of each unit's batch is
/// <c>gantry_fence_v1(epoch)</c> (<see cref="Leadership.PostgresLeaderLease.FenceFunction"/>), which
/// fails the whole unit unless the lease row still holds that epoch: every write is fenced without
/// another round trip.
/// </para>
/// <para>
/// NativeAOT: the data source is <see cref="NpgsqlSlimDataSourceBuilder"/>'s (no reflection; arrays
/// and TLS opted in), parameters are positional and typed, and JSON goes through source-generated contexts.
/// </para>
/// </remarks>
internal sealed partial class PostgresStateStore : IStateStore
{
    private const string LiveStates = "('Pending', 'Assigned', 'Running')";

    private readonly Lock _writeLock = new();
    private readonly NpgsqlDataSource _dataSource;
    private UnitOfWork? _unit;
    private long _fenceEpoch;

    private PostgresStateStore(string address, NpgsqlDataSource dataSource)
    {
        Address = address;
        Description = "PostgreSQL " + address;
        _dataSource = dataSource;
    }

    public string Description { get; }

    /// <summary>The database as a URL without its password, for messages.</summary>
    public string Address { get; }

    /// <summary>
    /// Connects to the database that <paramref name="url"/> names (a <c>postgres://</c> URL or an Npgsql
    /// connection string) and applies pending migrations.
    /// </summary>
    /// <exception cref="FormatException">The URL is malformed.</exception>
    /// <exception cref="StoreConnectionException">The server is unreachable, refuses the login, or has no such database.</exception>
    /// <exception cref="StoreException">The schema is newer than this gantry's, or cannot be created.</exception>
    public static PostgresStateStore Open(string url)
    {
        var builder = new NpgsqlSlimDataSourceBuilder(PostgresUrl.ToConnectionString(url));
        builder.EnableArrays(); // bigint[] parameters: ListJobs reads the history of a page with job_id = ANY($1).
        builder.EnableTransportSecurity(); // sslmode=require and verify-*.
        var settings = builder.ConnectionStringBuilder;
        settings.ApplicationName ??= "gantry";
        if (settings.MaxAutoPrepare == 0)
        {
            // The same few statements run all day: prepared once per connection, they skip parsing and planning.
            settings.MaxAutoPrepare = 64;
        }

        var address = AddressOf(settings);
        var dataSource = builder.Build();
        try
        {
            NpgsqlConnection connection;
            try
            {
                connection = dataSource.OpenConnection();
            }
            catch (NpgsqlException ex)
            {
                throw new StoreConnectionException(address, Reason(ex), ex);
            }

            using (connection)
            {
                Migrate(connection, address);
            }

            return new PostgresStateStore(address, dataSource);
        }
        catch
        {
            dataSource.Dispose();
            throw;
        }
    }

    public void Write(Action<IStateWriter> unitOfWork)
    {
        ArgumentNullException.ThrowIfNull(unitOfWork);
        lock (_writeLock)
        {
            if (_unit is { } open)
            {
                // Nested in a unit of work of the same thread: part of it.
                unitOfWork(open);
                return;
            }

            using var unit = new UnitOfWork(_dataSource, Interlocked.Read(ref _fenceEpoch));
            _unit = unit;
            try
            {
                unitOfWork(unit);
                unit.Commit();
            }
            finally
            {
                _unit = null;
            }
        }
    }

    public void FenceTo(long leaderEpoch) => Interlocked.Exchange(ref _fenceEpoch, leaderEpoch);

    public StoredState Load()
    {
        var state = new StoredState();
        using var connection = Open(_dataSource);
        using var transaction = connection.BeginTransaction(IsolationLevel.RepeatableRead);
        using var batch = new NpgsqlBatch(connection, transaction)
        {
            BatchCommands =
            {
                new("SELECT kind, hash FROM tokens"),
                new($"SELECT {StoreRows.PersonColumns} FROM people ORDER BY name"),
                new($"SELECT {StoreRows.NodeColumns} FROM nodes ORDER BY id"),
                new($"SELECT {StoreRows.JobColumns} FROM jobs WHERE state IN {LiveStates} ORDER BY id"),
                new($"SELECT {StoreRows.Prefixed("a.", StoreRows.AttemptColumns)} FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.state IN {LiveStates} ORDER BY a.job_id, a.attempt"),
                new($"SELECT {StoreRows.ArrayColumns} FROM arrays WHERE NOT complete ORDER BY first_job_id"),
                new("""
                    SELECT a.first_job_id, j.id FROM arrays a
                    JOIN jobs j ON j.id BETWEEN a.first_job_id AND a.first_job_id + (a.end_index - a.start_index)
                    WHERE NOT a.complete ORDER BY j.id
                    """),
                new("SELECT state, count(*) FROM jobs GROUP BY state"),
                new($"SELECT {StoreRows.HealthColumns} FROM gpu_health ORDER BY node_id, gpu"),
                new("SELECT kind, id, body, updated_at FROM alert_documents ORDER BY kind, updated_at, id"),
                new($"SELECT {StoreRows.NodePowerColumns} FROM node_power ORDER BY node_id"),
                new($"SELECT {StoreRows.AccountUsageColumns} FROM account_usage ORDER BY account"),
                // Ids and epochs handed out before a purge still count (the counters table).
                new("""
                    SELECT greatest(
                            (SELECT coalesce(max(id), 0) + 1 FROM jobs),
                            (SELECT coalesce(max(first_job_id + (end_index - start_index)), 0) + 1 FROM arrays),
                            (SELECT coalesce(max(value), 1) FROM counters WHERE name = 'next_job_id')),
                        greatest(
                            (SELECT coalesce(max(epoch), 0) FROM attempts),
                            (SELECT coalesce(max(value), 0) FROM counters WHERE name = 'last_epoch'))
                    """),
            },
        };

        using (var r = batch.ExecuteReader())
        {
            while (r.Read())
            {
                state.Tokens[r.GetString(0)] = r.GetFieldValue<byte[]>(1);
            }

            r.NextResult();
            while (r.Read())
            {
                state.People.Add(StoreRows.ReadPerson(r));
            }

            r.NextResult();
            while (r.Read())
            {
                state.Nodes.Add(StoreRows.ReadNode(r));
            }

            var live = new Dictionary<long, List<AttemptRow>>();
            r.NextResult();
            while (r.Read())
            {
                var job = StoreRows.ReadJob(r);
                var attempts = new List<AttemptRow>();
                live[job.Id] = attempts;
                state.LiveJobs.Add((job, attempts));
            }

            r.NextResult();
            while (r.Read())
            {
                var attempt = StoreRows.ReadAttempt(r);
                live[attempt.JobId].Add(attempt);
            }

            var arrays = new List<(ArrayRow Array, List<long> Tasks)>();
            var tasks = new Dictionary<long, List<long>>();
            r.NextResult();
            while (r.Read())
            {
                var array = StoreRows.ReadArray(r);
                var ids = new List<long>();
                tasks[array.FirstJobId] = ids;
                arrays.Add((array, ids));
            }

            r.NextResult();
            while (r.Read())
            {
                tasks[r.GetInt64(0)].Add(r.GetInt64(1));
            }

            foreach (var (array, ids) in arrays)
            {
                state.Arrays.Add(new StoredArray(array, ids));
            }

            r.NextResult();
            while (r.Read())
            {
                state.JobCounts[Enum.Parse<JobState>(r.GetString(0))] = r.GetInt64(1);
            }

            r.NextResult();
            while (r.Read())
            {
                state.Health.Add(StoreRows.ReadHealth(r));
            }

            r.NextResult();
            while (r.Read())
            {
                state.AlertDocuments.Add(new AlertDocument(r.GetString(0), r.GetString(1), r.GetString(2), StoreRows.Millis(r.GetInt64(3))));
            }

            r.NextResult();
            while (r.Read())
            {
                state.NodePower.Add(StoreRows.ReadNodePower(r));
            }

            r.NextResult();
            while (r.Read())
            {
                state.AccountUsage.Add(StoreRows.ReadAccountUsage(r));
            }

            r.NextResult();
            r.Read();
            state.NextJobId = Math.Max(1, r.GetInt64(0));
            state.LastEpoch = r.GetInt64(1);
        }

        transaction.Commit();
        return state;
    }

    public StoredJob? ReadJob(long id)
    {
        using var connection = Open(_dataSource);
        using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Command($"SELECT {StoreRows.JobColumns} FROM jobs WHERE id = $1", P(id)),
                Command($"SELECT {StoreRows.AttemptColumns} FROM attempts WHERE job_id = $1 ORDER BY attempt", P(id)),
                Command("SELECT job_id, time, from_state, to_state, reason FROM transitions WHERE job_id = $1 ORDER BY id", P(id)),
            },
        };
        using var r = batch.ExecuteReader();
        if (!r.Read())
        {
            return null;
        }

        var job = StoreRows.ReadJob(r);
        var history = new History([job]);
        r.NextResult();
        history.Read(r);
        return history.Stored[0];
    }

    /// <summary>Services (migration 12): the <c>kind</c> condition of a job list; a service's kind is parameter $5.</summary>
    private static string KindFilter(JobKind? kind) => kind switch
    {
        JobKind.Service => "AND kind = $5",
        JobKind.Batch => "AND kind IS NULL",
        _ => "",
    };

    public IReadOnlyList<StoredJob> ListJobs(JobState? state, long? before, int limit, string? owner = null, JobKind? kind = null)
    {
        using var connection = Open(_dataSource);
        var jobs = new List<JobRow>();
        using (var command = new NpgsqlCommand(
            $"SELECT {StoreRows.JobColumns} FROM jobs WHERE id < $1 AND ($3::text IS NULL OR state = $3) AND ($4::text IS NULL OR owner = $4) {KindFilter(kind)} ORDER BY id DESC LIMIT $2",
            connection))
        {
            command.Parameters.Add(P(before ?? long.MaxValue));
            command.Parameters.Add(P(limit));
            command.Parameters.Add(P(state?.ToString()));
            command.Parameters.Add(P(owner));
            if (kind == JobKind.Service)
            {
                command.Parameters.Add(P(StoreRows.KindText(JobKind.Service)));
            }

            using var r = command.ExecuteReader();
            while (r.Read())
            {
                jobs.Add(StoreRows.ReadJob(r));
            }
        }

        var history = new History(jobs);
        if (jobs.Count == 0)
        {
            return history.Stored;
        }

        var ids = new long[jobs.Count];
        for (var i = 0; i < ids.Length; i++)
        {
            ids[i] = jobs[i].Id;
        }

        using var batch = new NpgsqlBatch(connection)
        {
            BatchCommands =
            {
                Command($"SELECT {StoreRows.AttemptColumns} FROM attempts WHERE job_id = ANY($1) ORDER BY job_id, attempt", P(ids)),
                Command("SELECT job_id, time, from_state, to_state, reason FROM transitions WHERE job_id = ANY($1) ORDER BY id", P(ids)),
            },
        };
        using (var r = batch.ExecuteReader())
        {
            history.Read(r);
        }

        return history.Stored;
    }

    public List<EnergyAttempt> ReadEnergyAttempts(DateTimeOffset since)
    {
        using var connection = Open(_dataSource);
        using var command = new NpgsqlCommand(
            $"""
            SELECT a.job_id, a.node_id, (j.spec::jsonb) ->> 'name', jsonb_array_length(a.gpus::jsonb), a.started_at, a.ended_at, {StoreRows.Prefixed("a.", StoreRows.EnergyColumns)}
            FROM attempts a JOIN jobs j ON j.id = a.job_id
            WHERE a.started_at IS NOT NULL AND (a.ended_at IS NULL OR a.ended_at >= $1)
            """,
            connection)
        {
            Parameters = { P(since.ToUnixTimeMilliseconds()) },
        };
        using var r = command.ExecuteReader();
        var rows = new List<EnergyAttempt>();
        while (r.Read())
        {
            rows.Add(StoreRows.ReadEnergyAttempt(r));
        }

        return rows;
    }

    public AttemptRow? ReadAttempt(long jobId, int attempt)
    {
        using var connection = Open(_dataSource);
        using var command = new NpgsqlCommand($"SELECT {StoreRows.AttemptColumns} FROM attempts WHERE job_id = $1 AND attempt = $2", connection)
        {
            Parameters = { P(jobId), P(attempt) },
        };
        using var r = command.ExecuteReader();
        return r.Read() ? StoreRows.ReadAttempt(r) : null;
    }

    public List<LogRecord> ReadLogs(long jobId, long afterSeq, int limit)
    {
        using var connection = Open(_dataSource);
        using var command = new NpgsqlCommand("SELECT seq, attempt, stream, data FROM logs WHERE job_id = $1 AND seq > $2 ORDER BY seq LIMIT $3", connection)
        {
            Parameters = { P(jobId), P(afterSeq), P(limit) },
        };
        using var r = command.ExecuteReader();
        var records = new List<LogRecord>();
        while (r.Read())
        {
            records.Add(new LogRecord
            {
                Seq = r.GetInt64(0),
                Attempt = r.GetInt32(1),
                Stream = r.GetString(2) == "stdout" ? LogSource.Stdout : LogSource.Stderr,
                Data = Encoding.UTF8.GetString(r.GetFieldValue<byte[]>(3)),
            });
        }

        return records;
    }

    public IReadOnlyList<HealthEvent> ReadHealthEvents(string nodeId, int limit)
    {
        using var connection = Open(_dataSource);
        using var command = new NpgsqlCommand($"SELECT {StoreRows.HealthEventColumns} FROM health_events WHERE node_id = $1 ORDER BY id DESC LIMIT $2", connection)
        {
            Parameters = { P(nodeId), P(limit) },
        };
        using var r = command.ExecuteReader();
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
        lock (_writeLock)
        {
            using var connection = Open(_dataSource);
            // One round trip, one implicit transaction. The statements of a WITH all see the rows as they
            // were when it began, so the counters take the highest id and epoch before the deletes, and
            // the foreign keys are checked once the statement is done, with every dependent row gone.
            using var batch = new NpgsqlBatch(connection)
            {
                BatchCommands =
                {
                    Command(
                        """
                        WITH next_job_id AS (
                                INSERT INTO counters (name, value) SELECT 'next_job_id', coalesce(max(id), 0) + 1 FROM jobs
                                ON CONFLICT (name) DO UPDATE SET value = greatest(counters.value, excluded.value)),
                            last_epoch AS (
                                INSERT INTO counters (name, value) SELECT 'last_epoch', coalesce(max(epoch), 0) FROM attempts
                                ON CONFLICT (name) DO UPDATE SET value = greatest(counters.value, excluded.value)),
                            purge AS (
                                SELECT id, state FROM jobs WHERE ended_at IS NOT NULL AND ended_at < $1 ORDER BY ended_at LIMIT $2),
                            logs_gone AS (DELETE FROM logs WHERE job_id IN (SELECT id FROM purge)),
                            transitions_gone AS (DELETE FROM transitions WHERE job_id IN (SELECT id FROM purge)),
                            attempts_gone AS (DELETE FROM attempts WHERE job_id IN (SELECT id FROM purge)),
                            jobs_gone AS (DELETE FROM jobs WHERE id IN (SELECT id FROM purge))
                        SELECT state, count(*) FROM purge GROUP BY state
                        """,
                        P(cutoff.ToUnixTimeMilliseconds()),
                        P(maxJobs)),
                    Command(
                        """
                        DELETE FROM arrays WHERE complete AND submitted_at < $1
                            AND NOT EXISTS (SELECT 1 FROM jobs WHERE jobs.id BETWEEN arrays.first_job_id AND arrays.first_job_id + (arrays.end_index - arrays.start_index))
                        """,
                        P(cutoff.ToUnixTimeMilliseconds())),
                },
            };
            using var r = batch.ExecuteReader();
            while (r.Read())
            {
                purged[Enum.Parse<JobState>(r.GetString(0))] = checked((int)r.GetInt64(1));
            }

            // The array records' DELETE runs as the reader moves past it.
            while (r.NextResult())
            {
            }
        }

        return purged;
    }

    public void Dispose()
    {
        lock (_writeLock)
        {
            _dataSource.Dispose();
        }
    }

    private static void Migrate(NpgsqlConnection connection, string address)
    {
        try
        {
            using var transaction = connection.BeginTransaction();
            using (var batch = new NpgsqlBatch(connection, transaction)
            {
                BatchCommands =
                {
                    // Replicas starting together wait here for the first one's migrations to commit.
                    Command("SELECT pg_advisory_xact_lock($1)", P(PostgresMigrations.LockKey)),
                    new(PostgresMigrations.VersionTable),
                },
            })
            {
                batch.ExecuteNonQuery();
            }

            long version;
            using (var command = new NpgsqlCommand("SELECT version FROM schema_version", connection, transaction))
            {
                version = command.ExecuteScalar() is int v ? v : 0;
            }

            var scripts = PostgresMigrations.Scripts;
            if (version > scripts.Length)
            {
                throw new StoreException($"the database {address} is at schema version {version}, newer than this gantry understands ({scripts.Length}); use a newer gantry");
            }

            if (version == scripts.Length)
            {
                transaction.Commit();
                return;
            }

            // Scripts hold several statements and no parameters: NpgsqlCommand splits them.
            using (var command = new NpgsqlCommand(string.Join(";\n", scripts[(int)version..]), connection, transaction))
            {
                command.ExecuteNonQuery();
            }

            using (var command = new NpgsqlCommand("INSERT INTO schema_version (version) VALUES ($1) ON CONFLICT (id) DO UPDATE SET version = excluded.version", connection, transaction))
            {
                command.Parameters.Add(P(scripts.Length));
                command.ExecuteNonQuery();
            }

            transaction.Commit();
        }
        catch (PostgresException ex)
        {
            throw new StoreException($"cannot bring the schema of {address} up to date: {ex.MessageText}");
        }
    }

    /// <summary>What went wrong, in the server's or the network's words.</summary>
    private static string Reason(NpgsqlException ex)
    {
        if (ex is PostgresException postgres)
        {
            return postgres.MessageText;
        }

        for (Exception? inner = ex.InnerException; inner is not null; inner = inner.InnerException)
        {
            switch (inner)
            {
                case SocketException socket:
                    return socket.Message;
                case TimeoutException:
                    return "no answer in time";
            }
        }

        return ex.Message;
    }

    /// <summary><c>postgres://user@host:port/database</c>: the address without the password.</summary>
    private static string AddressOf(NpgsqlConnectionStringBuilder settings)
    {
        var host = settings.Host ?? "localhost";
        if (host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('['))
        {
            host = "[" + host + "]";
        }

        var user = settings.Username is { Length: > 0 } name ? Uri.EscapeDataString(name) + "@" : "";
        var database = settings.Database is { Length: > 0 } db ? "/" + Uri.EscapeDataString(db) : "";
        return string.Create(CultureInfo.InvariantCulture, $"postgres://{user}{host}:{settings.Port}{database}");
    }

    /// <summary>A failure Npgsql calls transient: the connection lost or timed out, the server shutting down or out of resources.</summary>
    /// <summary>A write refused because the leader lease passed on counts too: this replica no longer leads.</summary>
    internal static bool IsTransient(Exception exception) =>
        exception is NpgsqlException { IsTransient: true } or PostgresException { SqlState: Leadership.PostgresLeaderLease.FencedState };

    /// <summary>
    /// A connection from the pool. Failing to get one, whatever the server said (unreachable, not
    /// accepting connections, too many clients), makes the store unavailable, not the request wrong.
    /// </summary>
    private static NpgsqlConnection Open(NpgsqlDataSource dataSource)
    {
        try
        {
            return dataSource.OpenConnection();
        }
        catch (NpgsqlException ex)
        {
            throw new StoreUnavailableException($"cannot connect to the database: {Reason(ex)}", ex);
        }
    }

    private static NpgsqlBatchCommand Command(string sql, params NpgsqlParameter[] parameters)
    {
        var command = new NpgsqlBatchCommand(sql);
        foreach (var parameter in parameters)
        {
            command.Parameters.Add(parameter);
        }

        return command;
    }

    // Positional parameters ($1, $2, …) with their types fixed: no SQL rewriting, no type guessing,
    // and a null is sent as a typed null.
    private static NpgsqlParameter<long> P(long value) => new() { TypedValue = value };

    private static NpgsqlParameter P(long? value) => value is { } v ? P(v) : Null(NpgsqlDbType.Bigint);

    private static NpgsqlParameter<int> P(int value) => new() { TypedValue = value };

    private static NpgsqlParameter P(int? value) => value is { } v ? P(v) : Null(NpgsqlDbType.Integer);

    private static NpgsqlParameter<bool> P(bool value) => new() { TypedValue = value };

    private static NpgsqlParameter P(string? value) => value is null ? Null(NpgsqlDbType.Text) : new NpgsqlParameter<string> { TypedValue = value };

    private static NpgsqlParameter<byte[]> P(byte[] value) => new() { TypedValue = value };

    private static NpgsqlParameter<long[]> P(long[] value) => new() { TypedValue = value };

    private static NpgsqlParameter P(DateTimeOffset? time) => P(time?.ToUnixTimeMilliseconds());

    // Job energy.
    private static NpgsqlParameter P(double? value) => value is { } v ? new NpgsqlParameter<double> { TypedValue = v } : Null(NpgsqlDbType.Double);

    private static NpgsqlParameter PFlag(bool? value) => value is { } v ? P(v) : Null(NpgsqlDbType.Boolean);

    private static NpgsqlParameter Null(NpgsqlDbType type) => new() { Value = DBNull.Value, NpgsqlDbType = type };

    /// <summary>Attempts and transitions of some jobs, read from two result sets in that order.</summary>
    private sealed class History
    {
        private readonly List<JobRow> _jobs;
        private readonly Dictionary<long, (List<AttemptRow> Attempts, List<JobTransition> Transitions)> _byJob;

        public History(List<JobRow> jobs)
        {
            _jobs = jobs;
            _byJob = new Dictionary<long, (List<AttemptRow>, List<JobTransition>)>(jobs.Count);
            foreach (var job in jobs)
            {
                _byJob[job.Id] = ([], []);
            }
        }

        public List<StoredJob> Stored
        {
            get
            {
                var stored = new List<StoredJob>(_jobs.Count);
                foreach (var job in _jobs)
                {
                    var (attempts, transitions) = _byJob[job.Id];
                    stored.Add(new StoredJob(job, attempts, transitions));
                }

                return stored;
            }
        }

        /// <summary>Reads the attempts result set the reader is at, then the transitions one.</summary>
        public void Read(NpgsqlDataReader r)
        {
            while (r.Read())
            {
                var attempt = StoreRows.ReadAttempt(r);
                _byJob[attempt.JobId].Attempts.Add(attempt);
            }

            r.NextResult();
            while (r.Read())
            {
                _byJob[r.GetInt64(0)].Transitions.Add(new JobTransition
                {
                    Time = StoreRows.Millis(r.GetInt64(1)),
                    From = r.IsDBNull(2) ? null : Enum.Parse<JobState>(r.GetString(2)),
                    To = Enum.Parse<JobState>(r.GetString(3)),
                    Reason = r.GetString(4),
                });
            }
        }
    }

    /// <summary>
    /// The writes of one unit of work, queued into a batch and sent when the unit ends (or when
    /// <see cref="InsertLog"/> needs an answer); a connection is taken from the pool only then.
    /// </summary>
    /// <param name="dataSource">Where the unit takes its connection.</param>
    /// <param name="fenceEpoch">The leader epoch every batch is fenced to; 0 for none.</param>
    private sealed class UnitOfWork(NpgsqlDataSource dataSource, long fenceEpoch) : IStateWriter, IDisposable
    {
        private readonly NpgsqlBatch _batch = new();
        private NpgsqlConnection? _connection;
        private NpgsqlTransaction? _transaction;
        private bool _fenced;

        public void SaveToken(string kind, byte[] hash, DateTimeOffset now) =>
            Queue(
                "INSERT INTO tokens (kind, hash, created_at) VALUES ($1, $2, $3) ON CONFLICT (kind) DO UPDATE SET hash = excluded.hash, created_at = excluded.created_at",
                P(kind), P(hash), P(now.ToUnixTimeMilliseconds()));

        public void SavePerson(PersonRow row) =>
            Queue(
                $"""
                INSERT INTO people ({StoreRows.PersonColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
                ON CONFLICT (name) DO UPDATE SET hash = excluded.hash, role = excluded.role, unix_user = excluded.unix_user,
                    allow_root = excluded.allow_root, max_gpus = excluded.max_gpus, max_pending = excluded.max_pending,
                    created_at = excluded.created_at, expires_at = excluded.expires_at, revoked_at = excluded.revoked_at
                """,
                P(row.Person.Name),
                P(row.Hash),
                P(row.Person.Role.ToString()),
                P(row.Person.UnixUser),
                P(row.Person.AllowRoot),
                P(row.Person.MaxGpus),
                P(row.Person.MaxPending),
                P(row.Person.CreatedAt),
                P(row.Person.ExpiresAt),
                P(row.Person.RevokedAt));

        public void UpsertNode(NodeRow node) =>
            Queue(
                $"""
                INSERT INTO nodes ({StoreRows.NodeColumns})
                VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
                ON CONFLICT (id) DO UPDATE SET name = excluded.name, os = excluded.os, architecture = excluded.architecture,
                    cpu_cores = excluded.cpu_cores, memory_bytes = excluded.memory_bytes, labels = excluded.labels, gpus = excluded.gpus,
                    drain = excluded.drain, credential_hash = excluded.credential_hash, last_heartbeat_at = excluded.last_heartbeat_at,
                    agent_version = excluded.agent_version, agent_url = excluded.agent_url, container_runtimes = excluded.container_runtimes
                """,
                P(node.Id),
                P(node.Name),
                P(node.Os),
                P(node.Architecture),
                P(node.CpuCores),
                P(node.MemoryBytes),
                P(JsonSerializer.Serialize(new Dictionary<string, string>(node.Labels), StoreJson.Default.DictionaryStringString)),
                P(JsonSerializer.Serialize(node.Gpus.ToList(), StoreJson.Default.ListGpuInventory)),
                P(node.Drain),
                P(node.CredentialHash),
                P(node.RegisteredAt.ToUnixTimeMilliseconds()),
                P(node.LastHeartbeatAt.ToUnixTimeMilliseconds()),
                P(node.AgentVersion),
                P(node.AgentUrl),
                P(StoreRows.ContainerRuntimes(node)));

        public void SetNodeDrain(string id, bool drain) =>
            Queue("UPDATE nodes SET drain = $2 WHERE id = $1", P(id), P(drain));

        public void InsertArray(ArrayRow array) =>
            Queue(
                $"INSERT INTO arrays ({StoreRows.ArrayColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                P(array.FirstJobId), P(array.Start), P(array.End), P(StoreRows.Json(array.Spec)), P(array.SubmittedAt.ToUnixTimeMilliseconds()),
                P(array.Owner?.Name), P(array.Owner?.RunAsUser), P(array.Owner?.AllowRoot == true));

        public void CompleteArray(long firstJobId) =>
            Queue("UPDATE arrays SET complete = true WHERE first_job_id = $1", P(firstJobId));

        public void InsertJob(JobRow job) =>
            Queue(
                $"INSERT INTO jobs ({StoreRows.JobColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)",
                P(job.Id),
                P(StoreRows.Json(job.Spec)),
                P(job.ArrayIndex),
                P(job.State.ToString()),
                P(job.Reason),
                P(job.CancelRequested),
                P(job.SubmittedAt.ToUnixTimeMilliseconds()),
                P(job.QueuedAt.ToUnixTimeMilliseconds()),
                P(job.StartedAt),
                P(job.EndedAt),
                P(job.ExitCode),
                P(job.RetriesUsed),
                P(job.PlannedStart),
                P(job.PlannedLocation),
                P(job.PlannedGramsPerKwh),
                P(job.Owner?.Name),
                P(job.Owner?.RunAsUser),
                P(job.Owner?.AllowRoot == true),
                P(StoreRows.Kind(job.Spec))); // services (migration 12)

        public void UpdateJob(JobRow job) =>
            Queue(
                """
                UPDATE jobs SET state = $2, reason = $3, cancel_requested = $4, queued_at = $5, started_at = $6,
                    ended_at = $7, exit_code = $8, retries_used = $9, planned_start = $10, planned_location = $11,
                    planned_grams_per_kwh = $12 WHERE id = $1
                """,
                P(job.Id),
                P(job.State.ToString()),
                P(job.Reason),
                P(job.CancelRequested),
                P(job.QueuedAt.ToUnixTimeMilliseconds()),
                P(job.StartedAt),
                P(job.EndedAt),
                P(job.ExitCode),
                P(job.RetriesUsed),
                P(job.PlannedStart),
                P(job.PlannedLocation),
                P(job.PlannedGramsPerKwh));

        public void InsertTransition(long jobId, JobTransition transition) =>
            Queue(
                "INSERT INTO transitions (job_id, time, from_state, to_state, reason) VALUES ($1, $2, $3, $4, $5)",
                P(jobId), P(transition.Time.ToUnixTimeMilliseconds()), P(transition.From?.ToString()), P(transition.To.ToString()), P(transition.Reason));

        public void InsertAttempt(AttemptRow a) =>
            Queue(
                $"INSERT INTO attempts ({StoreRows.AttemptColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24)",
                P(a.JobId),
                P(a.Number),
                P(a.Epoch),
                P(a.NodeId),
                P(JsonSerializer.Serialize(a.Gpus, StoreJson.Default.Int32Array)),
                P(JsonSerializer.Serialize(a.GpuUuids, StoreJson.Default.StringArray)),
                P(a.Cpus),
                P(a.MemoryBytes),
                P(a.State.ToString()),
                P(a.AssignedAt.ToUnixTimeMilliseconds()),
                P(a.StartedAt),
                P(a.EndedAt),
                P(a.ExitCode),
                P(a.Signal),
                P(a.Reason),
                P(a.EndedByAgent),
                P(a.Energy?.GpuJoules),
                P(a.Energy?.CpuJoules),
                P(a.Energy?.AverageGpuWatts),
                P(a.Energy?.PeakGpuWatts),
                P(a.Energy?.Co2Grams),
                PFlag(a.Energy?.Estimated),
                P(a.Energy?.MeasuredAt),
                PFlag(a.Energy?.Simulated));

        public void UpdateAttempt(AttemptRow a) =>
            Queue(
                """
                UPDATE attempts SET state = $3, started_at = $4, ended_at = $5, exit_code = $6, signal = $7,
                    reason = $8, ended_by_agent = $9, energy_gpu_joules = $10, energy_cpu_joules = $11, energy_gpu_avg_watts = $12,
                    energy_gpu_peak_watts = $13, energy_co2_grams = $14, energy_estimated = $15, energy_measured_at = $16,
                    energy_simulated = $17
                WHERE job_id = $1 AND attempt = $2
                """,
                P(a.JobId),
                P(a.Number),
                P(a.State.ToString()),
                P(a.StartedAt),
                P(a.EndedAt),
                P(a.ExitCode),
                P(a.Signal),
                P(a.Reason),
                P(a.EndedByAgent),
                P(a.Energy?.GpuJoules),
                P(a.Energy?.CpuJoules),
                P(a.Energy?.AverageGpuWatts),
                P(a.Energy?.PeakGpuWatts),
                P(a.Energy?.Co2Grams),
                PFlag(a.Energy?.Estimated),
                P(a.Energy?.MeasuredAt),
                PFlag(a.Energy?.Simulated));

        public void UpdateAttemptEnergy(AttemptRow a) =>
            Queue(
                """
                UPDATE attempts SET energy_gpu_joules = $4, energy_cpu_joules = $5, energy_gpu_avg_watts = $6,
                    energy_gpu_peak_watts = $7, energy_co2_grams = $8, energy_estimated = $9, energy_measured_at = $10,
                    energy_simulated = $11
                WHERE job_id = $1 AND attempt = $2 AND epoch = $3 AND ended_at IS NULL
                """,
                P(a.JobId),
                P(a.Number),
                P(a.Epoch),
                P(a.Energy?.GpuJoules),
                P(a.Energy?.CpuJoules),
                P(a.Energy?.AverageGpuWatts),
                P(a.Energy?.PeakGpuWatts),
                P(a.Energy?.Co2Grams),
                PFlag(a.Energy?.Estimated),
                P(a.Energy?.MeasuredAt),
                PFlag(a.Energy?.Simulated));

        public void UpsertHealth(HealthRow health) =>
            Queue(
                $"""
                INSERT INTO gpu_health ({StoreRows.HealthColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (node_id, gpu) DO UPDATE SET state = excluded.state, cause = excluded.cause, since = excluded.since,
                    until = excluded.until, manual = excluded.manual, detail = excluded.detail
                """,
                P(health.NodeId),
                P(health.Gpu),
                P(health.State.ToString()),
                P(health.Cause),
                P(health.Since),
                P(health.Until?.ToString()),
                P(health.Manual),
                P(health.Detail));

        public void DeleteHealth(string nodeId, int gpu) =>
            Queue("DELETE FROM gpu_health WHERE node_id = $1 AND gpu = $2", P(nodeId), P(gpu));

        public void PutAlertDocument(string kind, string id, string body, DateTimeOffset updatedAt) =>
            Queue(
                """
                INSERT INTO alert_documents (kind, id, body, updated_at) VALUES ($1, $2, $3, $4)
                ON CONFLICT (kind, id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at
                """,
                P(kind),
                P(id),
                P(body),
                P(updatedAt.ToUnixTimeMilliseconds()));

        public void DeleteAlertDocument(string kind, string id) =>
            Queue("DELETE FROM alert_documents WHERE kind = $1 AND id = $2", P(kind), P(id));
        public void UpsertNodePower(NodePowerRow power) =>
            Queue(
                $"""
                INSERT INTO node_power ({StoreRows.NodePowerColumns}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                ON CONFLICT (node_id) DO UPDATE SET mode = excluded.mode, since = excluded.since, resume_deadline = excluded.resume_deadline,
                    suspended_watts = excluded.suspended_watts, saved_joules = excluded.saved_joules, last_event = excluded.last_event, down_reason = excluded.down_reason
                """,
                P(power.NodeId),
                P(power.Mode),
                P(power.Since),
                P(power.ResumeDeadline),
                new NpgsqlParameter<double> { TypedValue = power.SuspendedWatts },
                new NpgsqlParameter<double> { TypedValue = power.SavedJoules },
                P(power.LastEvent),
                P(power.DownReason));

        public void UpsertAccountUsage(AccountUsageRow usage) =>
            Queue(
                $"""
                INSERT INTO account_usage ({StoreRows.AccountUsageColumns}) VALUES ($1, $2, $3)
                ON CONFLICT (account) DO UPDATE SET gpu_seconds = excluded.gpu_seconds, as_of = excluded.as_of
                """,
                P(usage.Account),
                new NpgsqlParameter<double> { TypedValue = usage.GpuSeconds },
                P(usage.AsOf.ToUnixTimeMilliseconds()));

        public void InsertHealthEvent(string nodeId, HealthEvent change) =>
            Queue(
                "INSERT INTO health_events (node_id, gpu, time, change, cause, evidence, actor, job_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                P(nodeId),
                P(change.Gpu),
                P(change.Time.ToUnixTimeMilliseconds()),
                P(change.Change.ToString()),
                P(change.Cause),
                P(change.Evidence),
                P(change.Actor.ToString()),
                P(change.JobId));

        public bool InsertLog(long jobId, int attempt, LogSource stream, long offset, string data)
        {
            var insert = Queue(
                """INSERT INTO logs (job_id, attempt, stream, "offset", data) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (job_id, attempt, stream, "offset") DO NOTHING""",
                P(jobId), P(attempt), P(stream == LogSource.Stdout ? "stdout" : "stderr"), P(offset), P(Encoding.UTF8.GetBytes(data)));

            // The answer is wanted now: from here on the unit is an explicit transaction (its BEGIN goes
            // with this batch), so what was queued before is sent along and the rest follows at commit.
            _transaction ??= Connection().BeginTransaction();
            Send();
            return insert.RecordsAffected == 1;
        }

        /// <summary>Sends what is queued and, when a transaction was opened along the way, commits it.</summary>
        public void Commit()
        {
            if (_batch.BatchCommands.Count > 0)
            {
                Send();
            }

            _transaction?.Commit();
        }

        /// <summary>Returns the connection to the pool; an open transaction (the unit failed) is rolled back first.</summary>
        public void Dispose()
        {
            _transaction?.Dispose();
            _connection?.Dispose();
            _batch.Dispose();
        }

        private NpgsqlBatchCommand Queue(string sql, params NpgsqlParameter[] parameters)
        {
            var command = Command(sql, parameters);
            _batch.BatchCommands.Add(command);
            return command;
        }

        private NpgsqlConnection Connection() => _connection ??= Open(dataSource);

        private void Send()
        {
            if (fenceEpoch > 0 && !_fenced)
            {
                // Once per unit: in an explicit transaction its lock on the lease row lasts to the commit.
                _batch.BatchCommands.Insert(0, Command("SELECT gantry_fence_v1($1)", P(fenceEpoch)));
                _fenced = true;
            }

            _batch.Connection = Connection();
            _batch.Transaction = _transaction;
            _batch.ExecuteNonQuery();
            _batch.BatchCommands.Clear();
        }
    }
}
