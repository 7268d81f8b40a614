using System.Globalization;
using System.Runtime.InteropServices;
using Gantry.Core.Protocol;
using Gantry.Server.Storage;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gantry.Server.Telemetry;

/// <summary>
/// Telemetry history in its own SQLite file (WAL, its own connection and migrations), so writing
/// samples never waits on the state store. Raw samples are kept for the raw retention, clustered
/// by minute so a batch only touches the current minute's pages, and rolled up into per-minute
/// rollups (min, max, sum, count) kept longer: a whole minute at a time once it is complete, and
/// a query aggregates the minutes not rolled up yet from raw. One writer at a time (the ingest
/// worker or the retention worker, under a lock); queries read on pooled read-only connections.
/// </summary>
internal sealed class TelemetryStore : IDisposable
{
    private const long MinuteMs = 60_000;

    /// <summary>
    /// Minutes a minute stays open after the newest sample's minute before it is rolled up.
    /// Samples may arrive up to a minute late (the ingest's allowed clock skew) and nodes' clocks
    /// differ; a sample that arrives later still is folded into its rolled-up minute directly.
    /// </summary>
    private const long RollupLagMinutes = 3;

    // The rollup query: rolled-up minutes from the rollup table, the rest aggregated from raw with
    // one seek per minute of the range (raw is clustered by minute, then series; `minute IN` a
    // list of minutes reads them in key order, so GROUP BY and ORDER BY need no sort). One
    // statement, so both halves read the same snapshot of `rolled`.
    private const string RollupQuery = """
        WITH RECURSIVE m(k) AS (
            SELECT max($fromMin, (SELECT minute FROM rolled)) WHERE max($fromMin, (SELECT minute FROM rolled)) <= $toMin
            UNION ALL SELECT k + 1 FROM m WHERE k < $toMin)
        SELECT minute, lo, hi, total, n FROM rollup
            WHERE series_id = $s AND minute >= $from AND minute <= $to AND minute < (SELECT minute * 60000 FROM rolled)
        UNION ALL
        SELECT minute * 60000, min(value), max(value), sum(value), count(*) FROM raw
            WHERE minute IN (SELECT k FROM m) AND series_id = $s GROUP BY minute
        ORDER BY 1
        """;

    private const string RawQuery = """
        WITH RECURSIVE m(k) AS (SELECT $fromMin WHERE $fromMin <= $toMin UNION ALL SELECT k + 1 FROM m WHERE k < $toMin)
        SELECT minute * 60000 + ms, value, value, value, 1 FROM raw
            WHERE minute IN (SELECT k FROM m) AND series_id = $s AND minute * 60000 + ms >= $from AND minute * 60000 + ms <= $to
        ORDER BY minute, ms
        """;

    private readonly Lock _lock = new();
    private readonly SqliteConnection _write;
    private readonly string _readConnectionString;
    private readonly Dictionary<string, NodeSeries> _series = new(StringComparer.Ordinal);
    private readonly Dictionary<(long Series, long Minute), Aggregate> _rollups = [];
    private readonly sqlite3_stmt _insertRaw;
    private readonly sqlite3_stmt _upsertRollup;
    private readonly sqlite3_stmt _rollUp;
    private readonly sqlite3_stmt _setRolled;
    private readonly SqliteCommand _upsertSeries;
    private SqliteTransaction? _transaction;
    private int _written;

    // The first minute (Unix minutes) not rolled up yet; below it rollups are in the rollup table.
    private long _rolled;

    private TelemetryStore(SqliteConnection write, string readConnectionString)
    {
        _write = write;
        _readConnectionString = readConnectionString;
        // The per-sample insert goes straight to SQLite: bind, step, reset, with no command,
        // reader or boxed parameter per row (ADO.NET cost ~1.3 KB and most of the time per sample).
        var rc = raw.sqlite3_prepare_v2(write.Handle, "INSERT OR IGNORE INTO raw (minute, series_id, ms, value) VALUES (?1, ?2, ?3, ?4)", out _insertRaw);
        SqliteException.ThrowExceptionForRC(rc, write.Handle);
        rc = raw.sqlite3_prepare_v2(
            write.Handle,
            """
            INSERT INTO rollup (series_id, minute, lo, hi, total, n) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
            ON CONFLICT (series_id, minute) DO UPDATE SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi),
                total = total + excluded.total, n = n + excluded.n
            """,
            out _upsertRollup);
        SqliteException.ThrowExceptionForRC(rc, write.Handle);
        // Minutes [?1, ?2) in one pass over their contiguous range of raw, already in (minute, series)
        // order. No rollup row exists yet for a minute not rolled up; were there one, it is merged.
        rc = raw.sqlite3_prepare_v2(
            write.Handle,
            """
            INSERT INTO rollup (series_id, minute, lo, hi, total, n)
            SELECT series_id, minute * 60000, min(value), max(value), sum(value), count(*) FROM raw
            WHERE minute >= ?1 AND minute < ?2 GROUP BY minute, series_id
            ON CONFLICT (series_id, minute) DO UPDATE SET lo = min(lo, excluded.lo), hi = max(hi, excluded.hi),
                total = total + excluded.total, n = n + excluded.n
            """,
            out _rollUp);
        SqliteException.ThrowExceptionForRC(rc, write.Handle);
        rc = raw.sqlite3_prepare_v2(write.Handle, "UPDATE rolled SET minute = ?1", out _setRolled);
        SqliteException.ThrowExceptionForRC(rc, write.Handle);
        // Once per new series: ADO.NET is fine here.
        _upsertSeries = Prepare(
            "INSERT INTO series (node_id, gpu, metric) VALUES ($node, $gpu, $metric) ON CONFLICT (node_id, gpu, metric) DO UPDATE SET gpu = excluded.gpu RETURNING id",
            ("$node", SqliteType.Text), ("$gpu", SqliteType.Integer), ("$metric", SqliteType.Text));
    }

    /// <summary>Opens (creating when missing) the telemetry database at <paramref name="path"/> and applies pending migrations.</summary>
    public static TelemetryStore Open(string path)
    {
        var (write, read) = SqliteFile.Open(path, TelemetryMigrations.Scripts, "the telemetry database", foreignKeys: false);
        TelemetryStore? store = null;
        try
        {
            // Measured (docs/benchmarks.md): a 64 MiB page cache gained nothing over the default
            // 2 MiB now that a batch only touches the current minute's pages, and synchronous=OFF
            // only sped up small batches, which come when the writer keeps up anyway, so the
            // file keeps SqliteFile's NORMAL (a power loss may drop the last commits, never
            // corrupts). Sorts and GROUP BY temp tables stay in memory.
            using (var pragma = write.CreateCommand())
            {
                pragma.CommandText = "PRAGMA temp_store = MEMORY;";
                pragma.ExecuteNonQuery();
            }

            store = new TelemetryStore(write, read);
            store.LoadSeries();
            return store;
        }
        catch
        {
            if (store is null)
            {
                write.Dispose();
            }
            else
            {
                store.Dispose();
            }

            throw;
        }
    }

    /// <summary>
    /// Writes the samples of <paramref name="items"/> in one transaction and rolls up the minutes
    /// that are now complete (more than <see cref="RollupLagMinutes"/> before the newest sample's
    /// minute). A sample for a minute already rolled up is folded into its rollup, each
    /// (series, minute) updated once. A sample whose (series, time) is already stored (a repeated
    /// heartbeat) is skipped, in raw and rollup alike. Returns the number of samples stored.
    /// </summary>
    public int Write(ReadOnlySpan<TelemetryItem> items)
    {
        lock (_lock)
        {
            _written = 0;
            _rollups.Clear();
            _transaction = _write.BeginTransaction();
            try
            {
                var newest = long.MinValue;
                foreach (var item in items)
                {
                    newest = Math.Max(newest, WriteItem(item));
                }

                FlushRollups();
                var rolled = newest == long.MinValue ? _rolled : RollUp(newest - RollupLagMinutes);
                _transaction.Commit();
                _rolled = rolled;
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

            return _written;
        }
    }

    /// <summary>Writes one summary's samples; returns its minute.</summary>
    private long WriteItem(in TelemetryItem item)
    {
        var summary = item.Summary;
        var time = item.Time.ToUnixTimeMilliseconds();
        var minute = FloorDiv(time, MinuteMs);
        var ms = time - (minute * MinuteMs);
        if (!_series.TryGetValue(item.NodeId, out var node))
        {
            node = new NodeSeries();
            _series[item.NodeId] = node;
        }

        var ids = node.Node;
        Add(item.NodeId, -1, ids, 0, minute, ms, summary.CpuUtilization);
        Add(item.NodeId, -1, ids, 1, minute, ms, summary.MemoryUsedBytes);
        Add(item.NodeId, -1, ids, 2, minute, ms, summary.PowerWatts);
        var gpus = summary.Gpus;
        for (var i = 0; i < gpus.Count; i++)
        {
            var gpu = gpus[i];
            // A lost GPU's readings are stale or absent; an index outside NVML's range is not a GPU.
            if (gpu.Lost || gpu.Index is < 0 or > 1023)
            {
                continue;
            }

            ids = node.Gpu(gpu.Index);
            Add(item.NodeId, gpu.Index, ids, 0, minute, ms, gpu.Utilization);
            Add(item.NodeId, gpu.Index, ids, 1, minute, ms, gpu.MemoryUsedBytes);
            Add(item.NodeId, gpu.Index, ids, 2, minute, ms, gpu.TemperatureCelsius);
            Add(item.NodeId, gpu.Index, ids, 3, minute, ms, gpu.PowerWatts);
            Add(item.NodeId, gpu.Index, ids, 4, minute, ms, gpu.EnergyJoules);
            Add(item.NodeId, gpu.Index, ids, 5, minute, ms, gpu.SmClockHertz);
            Add(item.NodeId, gpu.Index, ids, 6, minute, ms, gpu.MemoryClockHertz);
            Add(item.NodeId, gpu.Index, ids, 7, minute, ms, gpu.ThrottleReasons.Count > 0 ? 1 : 0);
        }

        return minute;
    }

    private void Add(string nodeId, int gpu, long[] ids, int slot, long minute, long ms, double? value)
    {
        if (value is not { } v || !double.IsFinite(v))
        {
            return;
        }

        var series = ids[slot];
        if (series == 0)
        {
            series = ids[slot] = CreateSeries(nodeId, gpu, gpu < 0 ? TelemetryMetrics.Node[slot] : TelemetryMetrics.Gpu[slot]);
        }

        raw.sqlite3_bind_int64(_insertRaw, 1, minute);
        raw.sqlite3_bind_int64(_insertRaw, 2, series);
        raw.sqlite3_bind_int64(_insertRaw, 3, ms);
        raw.sqlite3_bind_double(_insertRaw, 4, v);
        var rc = raw.sqlite3_step(_insertRaw);
        raw.sqlite3_reset(_insertRaw);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _write.Handle);
        }

        // 0 changes: this (series, time) was stored before (a repeated heartbeat).
        if (raw.sqlite3_changes(_write.Handle) != 1)
        {
            return;
        }

        _written++;
        if (minute >= _rolled)
        {
            // Rolled up with its minute.
            return;
        }

        // A late sample: its minute is rolled up already.
        ref var aggregate = ref CollectionsMarshal.GetValueRefOrAddDefault(_rollups, (series, minute * MinuteMs), out var exists);
        if (!exists)
        {
            aggregate = new Aggregate(v);
        }
        else
        {
            aggregate.Add(v);
        }
    }

    private void FlushRollups()
    {
        var statement = _upsertRollup;
        foreach (var ((series, minute), aggregate) in _rollups)
        {
            raw.sqlite3_bind_int64(statement, 1, series);
            raw.sqlite3_bind_int64(statement, 2, minute);
            raw.sqlite3_bind_double(statement, 3, aggregate.Min);
            raw.sqlite3_bind_double(statement, 4, aggregate.Max);
            raw.sqlite3_bind_double(statement, 5, aggregate.Sum);
            raw.sqlite3_bind_int64(statement, 6, aggregate.Count);
            var rc = raw.sqlite3_step(statement);
            raw.sqlite3_reset(statement);
            if (rc != raw.SQLITE_DONE)
            {
                SqliteException.ThrowExceptionForRC(rc, _write.Handle);
            }
        }
    }

    /// <summary>
    /// Rolls up the minutes from <see cref="_rolled"/> to before <paramref name="until"/> (Unix
    /// minutes) in the current transaction; returns the new first minute not rolled up.
    /// </summary>
    private long RollUp(long until)
    {
        if (until <= _rolled)
        {
            return _rolled;
        }

        Step(_rollUp, _rolled, until);
        Step(_setRolled, until, 0);
        return until;
    }

    private void Step(sqlite3_stmt statement, long first, long second)
    {
        raw.sqlite3_bind_int64(statement, 1, first);
        if (raw.sqlite3_bind_parameter_count(statement) > 1)
        {
            raw.sqlite3_bind_int64(statement, 2, second);
        }

        var rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _write.Handle);
        }
    }

    private long CreateSeries(string nodeId, int gpu, string metric)
    {
        _upsertSeries.Transaction = _transaction;
        var p = _upsertSeries.Parameters;
        p[0].Value = nodeId;
        p[1].Value = gpu;
        p[2].Value = metric;
        return Convert.ToInt64(_upsertSeries.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Deletes raw samples older than <paramref name="rawBefore"/> (rolling up their minutes first
    /// if that is not done yet) and rollups of minutes that ended before
    /// <paramref name="rollupBefore"/>, a few minutes of raw or a few hundred series of rollups per
    /// transaction so the ingest is never held up for long. Returns the rows deleted from each table.
    /// </summary>
    public (long Raw, long Rollup) DeleteBefore(DateTimeOffset rawBefore, DateTimeOffset rollupBefore)
    {
        const long MinutesPerChunk = 10;
        var rawCutoff = rawBefore.ToUnixTimeMilliseconds();
        var lastMinute = FloorDiv(rawCutoff, MinuteMs);
        long[] all;
        long? next;
        lock (_lock)
        {
            all = [.. _series.Values.SelectMany(static s => s.All())];
            using var tx = _write.BeginTransaction();
            _transaction = tx;
            try
            {
                var rolled = RollUp(lastMinute + 1);
                tx.Commit();
                _rolled = rolled;
            }
            finally
            {
                _transaction = null;
            }

            next = OldestMinute(long.MinValue);
        }

        long raw = 0, rollup = 0;
        // Raw is clustered by minute: what is too old is a contiguous range at the start.
        while (next is { } from && from <= lastMinute)
        {
            lock (_lock)
            {
                using var tx = _write.BeginTransaction();
                using var deleteRaw = Command("DELETE FROM raw WHERE minute >= $from AND minute < $until AND minute * 60000 + ms < $cut", tx);
                deleteRaw.Parameters.AddWithValue("$from", from);
                deleteRaw.Parameters.AddWithValue("$until", from + MinutesPerChunk);
                deleteRaw.Parameters.AddWithValue("$cut", rawCutoff);
                raw += deleteRaw.ExecuteNonQuery();
                tx.Commit();
                next = OldestMinute(from + MinutesPerChunk);
            }
        }

        // A minute is dropped once all of it lies before the cutoff.
        var rollupCutoff = rollupBefore.ToUnixTimeMilliseconds() - MinuteMs;
        const int Chunk = 500;
        for (var start = 0; start < all.Length; start += Chunk)
        {
            lock (_lock)
            {
                using var tx = _write.BeginTransaction();
                using var deleteRollup = Command("DELETE FROM rollup WHERE series_id = $s AND minute <= $cut", tx);
                deleteRollup.Parameters.AddWithValue("$cut", rollupCutoff);
                var rollupSeries = deleteRollup.Parameters.Add("$s", SqliteType.Integer);
                for (var i = start; i < Math.Min(all.Length, start + Chunk); i++)
                {
                    rollupSeries.Value = all[i];
                    rollup += deleteRollup.ExecuteNonQuery();
                }

                tx.Commit();
            }
        }

        return (raw, rollup);
    }

    /// <summary>The first minute at or after <paramref name="from"/> that holds raw samples, or null.</summary>
    private long? OldestMinute(long from)
    {
        using var command = Command("SELECT min(minute) FROM raw WHERE minute >= $from", null);
        command.Parameters.AddWithValue("$from", from);
        return command.ExecuteScalar() is long minute ? minute : null;
    }

    /// <summary>The id of a series, or null when nothing was ever stored for it.</summary>
    public long? FindSeries(string nodeId, int? gpu, string metric)
    {
        using var connection = new SqliteConnection(_readConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM series WHERE node_id = $node AND gpu = $gpu AND metric = $metric";
        command.Parameters.AddWithValue("$node", nodeId);
        command.Parameters.AddWithValue("$gpu", gpu ?? -1);
        command.Parameters.AddWithValue("$metric", metric);
        return command.ExecuteScalar() is long id ? id : null;
    }

    /// <summary>
    /// The series' points in [<paramref name="start"/>, <paramref name="end"/>] (both ends included), one per bucket of
    /// <paramref name="step"/> that holds data; buckets start at whole multiples of the step since
    /// the Unix epoch. From <see cref="TelemetrySource.Rollup"/> the step must be whole minutes.
    /// </summary>
    public List<TelemetryPoint> Query(long series, TelemetrySource source, DateTimeOffset start, DateTimeOffset end, TimeSpan step)
    {
        var stepMs = (long)step.TotalMilliseconds;
        ArgumentOutOfRangeException.ThrowIfLessThan(stepMs, 1L, nameof(step));
        if (source == TelemetrySource.Rollup && stepMs % MinuteMs != 0)
        {
            throw new ArgumentOutOfRangeException(nameof(step), "a rollup query's step must be whole minutes");
        }

        var from = start.ToUnixTimeMilliseconds();
        var to = end.ToUnixTimeMilliseconds();
        using var connection = new SqliteConnection(_readConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        if (source == TelemetrySource.Raw)
        {
            command.CommandText = RawQuery;
        }
        else
        {
            // The minute holding `start` counts whole: with a step of whole minutes it falls in the
            // same bucket as `start` does.
            command.CommandText = RollupQuery;
            from -= FloorMod(from, MinuteMs);
        }

        command.Parameters.AddWithValue("$s", series);
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
        command.Parameters.AddWithValue("$fromMin", FloorDiv(from, MinuteMs));
        command.Parameters.AddWithValue("$toMin", FloorDiv(to, MinuteMs));
        using var reader = command.ExecuteReader();
        var points = new List<TelemetryPoint>();
        var bucket = long.MinValue;
        var current = default(Aggregate);
        long count = 0;
        while (reader.Read())
        {
            var time = reader.GetInt64(0);
            var at = time - FloorMod(time, stepMs);
            if (at != bucket)
            {
                if (count > 0)
                {
                    points.Add(current.ToPoint(bucket));
                }

                bucket = at;
                current = new Aggregate(reader.GetDouble(1), reader.GetDouble(2), reader.GetDouble(3), reader.GetInt64(4));
                count = 1;
            }
            else
            {
                current.Merge(reader.GetDouble(1), reader.GetDouble(2), reader.GetDouble(3), reader.GetInt64(4));
            }
        }

        if (count > 0)
        {
            points.Add(current.ToPoint(bucket));
        }

        return points;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _insertRaw.Dispose();
            _upsertRollup.Dispose();
            _rollUp.Dispose();
            _setRolled.Dispose();
            _upsertSeries.Dispose();
            _write.Dispose();
        }
    }

    private void LoadSeries()
    {
        using (var rolled = Command("SELECT minute FROM rolled", null))
        {
            _rolled = Convert.ToInt64(rolled.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        using var command = Command("SELECT id, node_id, gpu, metric FROM series", null);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var nodeId = reader.GetString(1);
            var gpu = reader.GetInt32(2);
            var metric = reader.GetString(3);
            if (!_series.TryGetValue(nodeId, out var node))
            {
                node = new NodeSeries();
                _series[nodeId] = node;
            }

            var slot = Array.IndexOf(gpu < 0 ? TelemetryMetrics.Node : TelemetryMetrics.Gpu, metric);
            if (slot >= 0 && gpu <= 1023)
            {
                (gpu < 0 ? node.Node : node.Gpu(gpu))[slot] = reader.GetInt64(0);
            }
        }
    }

    private static long FloorDiv(long value, long divisor) => (value - FloorMod(value, divisor)) / divisor;

    private static long FloorMod(long value, long divisor)
    {
        var r = value % divisor;
        return r < 0 ? r + divisor : r;
    }

    private SqliteCommand Prepare(string sql, params (string Name, SqliteType Type)[] parameters)
    {
        var command = _write.CreateCommand();
        command.CommandText = sql;
        foreach (var (name, type) in parameters)
        {
            command.Parameters.Add(name, type);
        }

        return command;
    }

    private SqliteCommand Command(string sql, SqliteTransaction? transaction)
    {
        var command = _write.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    /// <summary>Series ids of one node, by slot; 0 where the series does not exist yet.</summary>
    private sealed class NodeSeries
    {
        private long[]?[] _gpus = [];

        public long[] Node { get; } = new long[TelemetryMetrics.Node.Length];

        public long[] Gpu(int index)
        {
            if (index >= _gpus.Length)
            {
                Array.Resize(ref _gpus, Math.Max(index + 1, 8));
            }

            return _gpus[index] ??= new long[TelemetryMetrics.Gpu.Length];
        }

        public IEnumerable<long> All()
        {
            foreach (var id in Node)
            {
                if (id != 0)
                {
                    yield return id;
                }
            }

            foreach (var gpu in _gpus)
            {
                if (gpu is null)
                {
                    continue;
                }

                foreach (var id in gpu)
                {
                    if (id != 0)
                    {
                        yield return id;
                    }
                }
            }
        }
    }

    /// <summary>Min, max, sum and count of samples.</summary>
    private struct Aggregate(double min, double max, double sum, long count)
    {
        public Aggregate(double value)
            : this(value, value, value, 1)
        {
        }

        public double Min { get; private set; } = min;

        public double Max { get; private set; } = max;

        public double Sum { get; private set; } = sum;

        public long Count { get; private set; } = count;

        public void Add(double value) => Merge(value, value, value, 1);

        public void Merge(double min, double max, double sum, long count)
        {
            Min = Math.Min(Min, min);
            Max = Math.Max(Max, max);
            Sum += sum;
            Count += count;
        }

        public readonly TelemetryPoint ToPoint(long bucket) => new()
        {
            T = DateTimeOffset.FromUnixTimeMilliseconds(bucket),
            Value = Sum / Count,
            Min = Min,
            Max = Max,
        };
    }
}
