using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Gantry.Core.Protocol;
using Gantry.Server.Storage;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gantry.Server.Telemetry;

/// <summary>
/// Telemetry history in its own SQLite file (WAL, its own connection and migrations), so writing
/// samples never waits on the state store. A <em>source</em> is a node or one of its GPUs; each
/// heartbeat stores one row per source with a column per metric (<see cref="TelemetryMetrics"/>
/// gives the slots), so an 8-GPU heartbeat is 9 rows. Raw rows are kept for the raw retention,
/// clustered by minute so a batch only touches the current minute's pages, and rolled up into
/// per-minute rows (min, max, sum, count per metric) kept longer: a whole minute at a time once
/// it is complete, and a query aggregates the minutes not rolled up yet from raw. One writer at a
/// time (the ingest worker or the retention worker, under a lock); queries read on pooled
/// read-only connections.
/// </summary>
internal sealed class TelemetryStore : IDisposable
{
    /// <summary>Metric columns of a row: the longer of the node's and a GPU's metric lists.</summary>
    public const int Slots = 8;

    private const long MinuteMs = 60_000;

    /// <summary>
    /// Minutes a minute stays open after the newest sample's minute before it is rolled up.
    /// Samples may arrive up to a minute late (the ingest's allowed clock skew) and nodes' clocks
    /// differ; a sample that arrives later still is folded into its rolled-up minute directly.
    /// </summary>
    private const long RollupLagMinutes = 3;

    // Merging a minute's aggregates into a stored rollup row: min/max skip a side with no samples
    // (NULL), sums and counts add.
    private static readonly string MergeRollup = string.Join(", ", Enumerable.Range(0, Slots).Select(static k =>
        $"lo{k} = min(coalesce(lo{k}, excluded.lo{k}), coalesce(excluded.lo{k}, lo{k})), "
        + $"hi{k} = max(coalesce(hi{k}, excluded.hi{k}), coalesce(excluded.hi{k}, hi{k})), "
        + $"sum{k} = sum{k} + excluded.sum{k}, n{k} = n{k} + excluded.n{k}"));

    private static readonly string RollupColumns = string.Join(", ", Enumerable.Range(0, Slots).Select(static k => $"lo{k}, hi{k}, sum{k}, n{k}"));

    // Per-slot queries, made on first use.
    private static readonly string?[] RollupQueries = new string?[Slots];
    private static readonly string?[] RawQueries = new string?[Slots];

    private readonly Lock _lock = new();
    private readonly SqliteConnection _write;
    private readonly string _readConnectionString;
    private readonly Dictionary<string, NodeSources> _sources = new(StringComparer.Ordinal);
    private readonly Dictionary<(long Source, long Minute), Aggregate[]> _late = [];
    private readonly sqlite3_stmt _insertSample;
    private readonly sqlite3_stmt _upsertRollup;
    private readonly sqlite3_stmt _readMinutes;
    private readonly sqlite3_stmt _setRolled;
    private readonly SqliteCommand _upsertSource;
    private readonly double?[] _values = new double?[Slots];
    private SqliteTransaction? _transaction;
    private int _written;

    // The first minute (Unix minutes) not rolled up yet; below it rollups are in the minutes table.
    private long _rolled;

    private TelemetryStore(SqliteConnection write, string readConnectionString)
    {
        _write = write;
        _readConnectionString = readConnectionString;
        var metricColumns = string.Join(", ", Enumerable.Range(0, Slots).Select(static k => $"m{k}"));
        var metricParameters = string.Join(", ", Enumerable.Range(0, Slots).Select(static k => $"?{k + 4}"));
        // The per-row insert goes straight to SQLite: bind, step, reset, with no command, reader
        // or boxed parameter per row (ADO.NET cost ~1.3 KB and most of the time per row).
        _insertSample = PrepareRaw($"INSERT OR IGNORE INTO samples (minute, source_id, ms, {metricColumns}) VALUES (?1, ?2, ?3, {metricParameters})");
        var rollupParameters = string.Join(", ", Enumerable.Range(0, Slots * 4).Select(static i => $"?{i + 3}"));
        _upsertRollup = PrepareRaw($"INSERT INTO minutes (source_id, minute, {RollupColumns}) VALUES (?1, ?2, {rollupParameters}) ON CONFLICT (source_id, minute) DO UPDATE SET {MergeRollup}");
        // Minutes [?1, ?2) read in one pass over their contiguous range of raw, in (minute, source)
        // order, and aggregated here: SQLite's 32 aggregate functions per row cost ~5 µs a row,
        // four times the insert's.
        _readMinutes = PrepareRaw($"SELECT minute, source_id, {metricColumns} FROM samples WHERE minute >= ?1 AND minute < ?2");
        _setRolled = PrepareRaw("UPDATE rolled SET minute = ?1");
        // Once per new source: ADO.NET is fine here.
        _upsertSource = _write.CreateCommand();
        _upsertSource.CommandText = "INSERT INTO sources (node_id, gpu) VALUES ($node, $gpu) ON CONFLICT (node_id, gpu) DO UPDATE SET gpu = excluded.gpu RETURNING id";
        _upsertSource.Parameters.Add("$node", SqliteType.Text);
        _upsertSource.Parameters.Add("$gpu", SqliteType.Integer);
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
            store.LoadSources();
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
    /// (source, minute) updated once. A row whose (source, time) is already stored (a repeated
    /// heartbeat) is skipped, in raw and rollup alike. Returns the number of readings stored.
    /// </summary>
    public int Write(ReadOnlySpan<TelemetryItem> items)
    {
        lock (_lock)
        {
            _written = 0;
            _late.Clear();
            _transaction = _write.BeginTransaction();
            try
            {
                var newest = long.MinValue;
                foreach (var item in items)
                {
                    newest = Math.Max(newest, WriteItem(item));
                }

                FlushLate();
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

    /// <summary>Writes one summary's rows; returns its minute.</summary>
    private long WriteItem(in TelemetryItem item)
    {
        var summary = item.Summary;
        var time = item.Time.ToUnixTimeMilliseconds();
        var minute = FloorDiv(time, MinuteMs);
        var ms = time - (minute * MinuteMs);
        if (!_sources.TryGetValue(item.NodeId, out var node))
        {
            node = new NodeSources();
            _sources[item.NodeId] = node;
        }

        var values = _values;
        Array.Clear(values);
        values[0] = summary.CpuUtilization;
        values[1] = summary.MemoryUsedBytes;
        values[2] = summary.PowerWatts;
        if (node.Node == 0)
        {
            node.Node = CreateSource(item.NodeId, -1);
        }

        AddRow(node.Node, minute, ms, values);
        var gpus = summary.Gpus;
        for (var i = 0; i < gpus.Count; i++)
        {
            var gpu = gpus[i];
            // A lost GPU's readings are stale or absent; an index outside NVML's range is not a GPU.
            if (gpu.Lost || gpu.Index is < 0 or > 1023)
            {
                continue;
            }

            values[0] = gpu.Utilization;
            values[1] = gpu.MemoryUsedBytes;
            values[2] = gpu.TemperatureCelsius;
            values[3] = gpu.PowerWatts;
            values[4] = gpu.EnergyJoules;
            values[5] = gpu.SmClockHertz;
            values[6] = gpu.MemoryClockHertz;
            values[7] = gpu.ThrottleReasons.Count > 0 ? 1 : 0;
            ref var source = ref node.Gpu(gpu.Index);
            if (source == 0)
            {
                source = CreateSource(item.NodeId, gpu.Index);
            }

            AddRow(source, minute, ms, values);
        }

        return minute;
    }

    private void AddRow(long source, long minute, long ms, double?[] values)
    {
        var statement = _insertSample;
        raw.sqlite3_bind_int64(statement, 1, minute);
        raw.sqlite3_bind_int64(statement, 2, source);
        raw.sqlite3_bind_int64(statement, 3, ms);
        var readings = 0;
        for (var k = 0; k < Slots; k++)
        {
            if (values[k] is { } v && double.IsFinite(v))
            {
                raw.sqlite3_bind_double(statement, k + 4, v);
                readings++;
            }
            else
            {
                values[k] = null;
                raw.sqlite3_bind_null(statement, k + 4);
            }
        }

        var rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _write.Handle);
        }

        // 0 changes: this (source, time) was stored before (a repeated heartbeat).
        if (raw.sqlite3_changes(_write.Handle) != 1)
        {
            return;
        }

        _written += readings;
        if (minute >= _rolled)
        {
            // Rolled up with its minute.
            return;
        }

        // A late row: its minute is rolled up already.
        ref var aggregates = ref CollectionsMarshal.GetValueRefOrAddDefault(_late, (source, minute), out _);
        aggregates ??= new Aggregate[Slots];
        for (var k = 0; k < Slots; k++)
        {
            if (values[k] is { } v)
            {
                aggregates[k].Merge(v, v, v, 1);
            }
        }
    }

    private void FlushLate()
    {
        foreach (var ((source, minute), aggregates) in _late)
        {
            UpsertRollup(source, minute, aggregates);
        }
    }

    /// <summary>Adds one source's aggregates of one minute to its rollup row (made when missing).</summary>
    private void UpsertRollup(long source, long minute, Aggregate[] aggregates)
    {
        var statement = _upsertRollup;
        raw.sqlite3_bind_int64(statement, 1, source);
        raw.sqlite3_bind_int64(statement, 2, minute);
        for (var k = 0; k < Slots; k++)
        {
            var a = aggregates[k];
            var at = 3 + (k * 4);
            if (a.Count == 0)
            {
                raw.sqlite3_bind_null(statement, at);
                raw.sqlite3_bind_null(statement, at + 1);
            }
            else
            {
                raw.sqlite3_bind_double(statement, at, a.Min);
                raw.sqlite3_bind_double(statement, at + 1, a.Max);
            }

            raw.sqlite3_bind_double(statement, at + 2, a.Sum);
            raw.sqlite3_bind_int64(statement, at + 3, a.Count);
        }

        var rc = raw.sqlite3_step(statement);
        raw.sqlite3_reset(statement);
        if (rc != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(rc, _write.Handle);
        }
    }

    /// <summary>
    /// Rolls up the minutes from <see cref="_rolled"/> to before <paramref name="until"/> (Unix
    /// minutes) in the current transaction; returns the new first minute not rolled up. No rollup
    /// row exists yet for a minute not rolled up; were there one, it is merged.
    /// </summary>
    private long RollUp(long until)
    {
        if (until <= _rolled)
        {
            return _rolled;
        }

        var read = _readMinutes;
        raw.sqlite3_bind_int64(read, 1, _rolled);
        raw.sqlite3_bind_int64(read, 2, until);
        try
        {
            var aggregates = new Aggregate[Slots];
            long minute = 0, source = 0;
            var any = false;
            int rc;
            while ((rc = raw.sqlite3_step(read)) == raw.SQLITE_ROW)
            {
                var rowMinute = raw.sqlite3_column_int64(read, 0);
                var rowSource = raw.sqlite3_column_int64(read, 1);
                if (any && (rowMinute != minute || rowSource != source))
                {
                    UpsertRollup(source, minute, aggregates);
                    Array.Clear(aggregates);
                }

                any = true;
                minute = rowMinute;
                source = rowSource;
                for (var k = 0; k < Slots; k++)
                {
                    if (raw.sqlite3_column_type(read, k + 2) != raw.SQLITE_NULL)
                    {
                        var v = raw.sqlite3_column_double(read, k + 2);
                        aggregates[k].Merge(v, v, v, 1);
                    }
                }
            }

            if (rc != raw.SQLITE_DONE)
            {
                SqliteException.ThrowExceptionForRC(rc, _write.Handle);
            }

            if (any)
            {
                UpsertRollup(source, minute, aggregates);
            }
        }
        finally
        {
            raw.sqlite3_reset(read);
        }

        raw.sqlite3_bind_int64(_setRolled, 1, until);
        var set = raw.sqlite3_step(_setRolled);
        raw.sqlite3_reset(_setRolled);
        if (set != raw.SQLITE_DONE)
        {
            SqliteException.ThrowExceptionForRC(set, _write.Handle);
        }

        return until;
    }

    private long CreateSource(string nodeId, int gpu)
    {
        _upsertSource.Transaction = _transaction;
        var p = _upsertSource.Parameters;
        p[0].Value = nodeId;
        p[1].Value = gpu;
        return Convert.ToInt64(_upsertSource.ExecuteScalar(), CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// Deletes raw rows older than <paramref name="rawBefore"/> (rolling up their minutes first
    /// if that is not done yet) and rollups of minutes that ended before
    /// <paramref name="rollupBefore"/>, a few minutes of raw or a few hundred sources of rollups per
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
            all = [.. _sources.Values.SelectMany(static s => s.All())];
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
                using var deleteRaw = Command("DELETE FROM samples WHERE minute >= $from AND minute < $until AND minute * 60000 + ms < $cut", tx);
                deleteRaw.Parameters.AddWithValue("$from", from);
                deleteRaw.Parameters.AddWithValue("$until", from + MinutesPerChunk);
                deleteRaw.Parameters.AddWithValue("$cut", rawCutoff);
                raw += deleteRaw.ExecuteNonQuery();
                tx.Commit();
                next = OldestMinute(from + MinutesPerChunk);
            }
        }

        // A minute is dropped once all of it lies before the cutoff.
        var rollupCutoff = FloorDiv(rollupBefore.ToUnixTimeMilliseconds() - MinuteMs, MinuteMs);
        const int Chunk = 500;
        for (var start = 0; start < all.Length; start += Chunk)
        {
            lock (_lock)
            {
                using var tx = _write.BeginTransaction();
                using var deleteRollup = Command("DELETE FROM minutes WHERE source_id = $s AND minute <= $cut", tx);
                deleteRollup.Parameters.AddWithValue("$cut", rollupCutoff);
                var rollupSource = deleteRollup.Parameters.Add("$s", SqliteType.Integer);
                for (var i = start; i < Math.Min(all.Length, start + Chunk); i++)
                {
                    rollupSource.Value = all[i];
                    rollup += deleteRollup.ExecuteNonQuery();
                }

                tx.Commit();
            }
        }

        return (raw, rollup);
    }

    /// <summary>The first minute at or after <paramref name="from"/> that holds raw rows, or null.</summary>
    private long? OldestMinute(long from)
    {
        using var command = Command("SELECT min(minute) FROM samples WHERE minute >= $from", null);
        command.Parameters.AddWithValue("$from", from);
        return command.ExecuteScalar() is long minute ? minute : null;
    }

    /// <summary>
    /// The series of <paramref name="metric"/> for a node (<paramref name="gpu"/> null) or one of
    /// its GPUs, or null when the metric is not one of <see cref="TelemetryMetrics"/> or nothing
    /// was ever stored for that node or GPU.
    /// </summary>
    public TelemetrySeries? FindSeries(string nodeId, int? gpu, string metric)
    {
        var slot = Array.IndexOf(gpu is null ? TelemetryMetrics.Node : TelemetryMetrics.Gpu, metric);
        if (slot < 0)
        {
            return null;
        }

        using var connection = new SqliteConnection(_readConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id FROM sources WHERE node_id = $node AND gpu = $gpu";
        command.Parameters.AddWithValue("$node", nodeId);
        command.Parameters.AddWithValue("$gpu", gpu ?? -1);
        return command.ExecuteScalar() is long id ? new TelemetrySeries(id, slot) : null;
    }

    /// <summary>
    /// The series' points in [<paramref name="start"/>, <paramref name="end"/>] (both ends included), one per bucket of
    /// <paramref name="step"/> that holds data; buckets start at whole multiples of the step since
    /// the Unix epoch. From <see cref="TelemetrySource.Rollup"/> the step must be whole minutes.
    /// </summary>
    public List<TelemetryPoint> Query(TelemetrySeries series, TelemetrySource source, DateTimeOffset start, DateTimeOffset end, TimeSpan step)
    {
        var stepMs = (long)step.TotalMilliseconds;
        ArgumentOutOfRangeException.ThrowIfLessThan(stepMs, 1L, nameof(step));
        ArgumentOutOfRangeException.ThrowIfNegative(series.Slot, nameof(series));
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(series.Slot, Slots, nameof(series));
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
            command.CommandText = RawQueries[series.Slot] ??= RawQuery(series.Slot);
        }
        else
        {
            // The minute holding `start` counts whole: with a step of whole minutes it falls in the
            // same bucket as `start` does.
            command.CommandText = RollupQueries[series.Slot] ??= RollupQuery(series.Slot);
            from -= FloorMod(from, MinuteMs);
        }

        command.Parameters.AddWithValue("$s", series.Source);
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
        command.Parameters.AddWithValue("$fromMin", FloorDiv(from, MinuteMs));
        command.Parameters.AddWithValue("$toMin", FloorDiv(to, MinuteMs));
        using var reader = command.ExecuteReader();
        var points = new List<TelemetryPoint>();
        var bucket = long.MinValue;
        var current = default(Aggregate);
        while (reader.Read())
        {
            var time = reader.GetInt64(0);
            var at = time - FloorMod(time, stepMs);
            if (at != bucket)
            {
                if (current.Count > 0)
                {
                    points.Add(current.ToPoint(bucket));
                }

                bucket = at;
                current = default;
            }

            current.Merge(reader.GetDouble(1), reader.GetDouble(2), reader.GetDouble(3), reader.GetInt64(4));
        }

        if (current.Count > 0)
        {
            points.Add(current.ToPoint(bucket));
        }

        return points;
    }

    // The rollup query of one slot: rolled-up minutes from the minutes table, the rest aggregated
    // from raw with one seek per minute of the range (raw is clustered by minute, then source;
    // `minute IN` a list of minutes reads them in key order, so GROUP BY and ORDER BY need no
    // sort). One statement, so both halves read the same snapshot of `rolled`.
    private static string RollupQuery(int k) => new StringBuilder()
        .Append("WITH RECURSIVE m(k) AS (")
        .Append("SELECT max($fromMin, (SELECT minute FROM rolled)) WHERE max($fromMin, (SELECT minute FROM rolled)) <= $toMin ")
        .Append("UNION ALL SELECT k + 1 FROM m WHERE k < $toMin) ")
        .Append(CultureInfo.InvariantCulture, $"SELECT minute * 60000, lo{k}, hi{k}, sum{k}, n{k} FROM minutes ")
        .Append(CultureInfo.InvariantCulture, $"WHERE source_id = $s AND minute >= $fromMin AND minute <= $toMin AND minute < (SELECT minute FROM rolled) AND n{k} > 0 ")
        .Append("UNION ALL ")
        .Append(CultureInfo.InvariantCulture, $"SELECT minute * 60000, min(m{k}), max(m{k}), total(m{k}), count(m{k}) FROM samples ")
        .Append(CultureInfo.InvariantCulture, $"WHERE minute IN (SELECT k FROM m) AND source_id = $s GROUP BY minute HAVING count(m{k}) > 0 ")
        .Append("ORDER BY 1")
        .ToString();

    private static string RawQuery(int k) => new StringBuilder()
        .Append("WITH RECURSIVE m(k) AS (SELECT $fromMin WHERE $fromMin <= $toMin UNION ALL SELECT k + 1 FROM m WHERE k < $toMin) ")
        .Append(CultureInfo.InvariantCulture, $"SELECT minute * 60000 + ms, m{k}, m{k}, m{k}, 1 FROM samples ")
        .Append(CultureInfo.InvariantCulture, $"WHERE minute IN (SELECT k FROM m) AND source_id = $s AND m{k} IS NOT NULL ")
        .Append("AND minute * 60000 + ms >= $from AND minute * 60000 + ms <= $to ")
        .Append("ORDER BY minute, ms")
        .ToString();

    public void Dispose()
    {
        lock (_lock)
        {
            _insertSample.Dispose();
            _upsertRollup.Dispose();
            _readMinutes.Dispose();
            _setRolled.Dispose();
            _upsertSource.Dispose();
            _write.Dispose();
        }
    }

    private void LoadSources()
    {
        using (var rolled = Command("SELECT minute FROM rolled", null))
        {
            _rolled = Convert.ToInt64(rolled.ExecuteScalar(), CultureInfo.InvariantCulture);
        }

        using var command = Command("SELECT id, node_id, gpu FROM sources", null);
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            var nodeId = reader.GetString(1);
            var gpu = reader.GetInt32(2);
            if (!_sources.TryGetValue(nodeId, out var node))
            {
                node = new NodeSources();
                _sources[nodeId] = node;
            }

            if (gpu < 0)
            {
                node.Node = reader.GetInt64(0);
            }
            else if (gpu <= 1023)
            {
                node.Gpu(gpu) = reader.GetInt64(0);
            }
        }
    }

    private static long FloorDiv(long value, long divisor) => (value - FloorMod(value, divisor)) / divisor;

    private static long FloorMod(long value, long divisor)
    {
        var r = value % divisor;
        return r < 0 ? r + divisor : r;
    }

    private sqlite3_stmt PrepareRaw(string sql)
    {
        var rc = raw.sqlite3_prepare_v2(_write.Handle, sql, out var statement);
        SqliteException.ThrowExceptionForRC(rc, _write.Handle);
        return statement;
    }

    private SqliteCommand Command(string sql, SqliteTransaction? transaction)
    {
        var command = _write.CreateCommand();
        command.CommandText = sql;
        command.Transaction = transaction;
        return command;
    }

    /// <summary>Source ids of one node: the node's own and each GPU's by index; 0 where none exists yet.</summary>
    private sealed class NodeSources
    {
        private long[] _gpus = [];

        public long Node { get; set; }

        public ref long Gpu(int index)
        {
            if (index >= _gpus.Length)
            {
                Array.Resize(ref _gpus, Math.Max(index + 1, 8));
            }

            return ref _gpus[index];
        }

        public IEnumerable<long> All()
        {
            if (Node != 0)
            {
                yield return Node;
            }

            foreach (var id in _gpus)
            {
                if (id != 0)
                {
                    yield return id;
                }
            }
        }
    }

    /// <summary>Min, max, sum and count of samples; the default is empty.</summary>
    private struct Aggregate
    {
        public double Min { get; private set; }

        public double Max { get; private set; }

        public double Sum { get; private set; }

        public long Count { get; private set; }

        public void Merge(double min, double max, double sum, long count)
        {
            Min = Count == 0 ? min : Math.Min(Min, min);
            Max = Count == 0 ? max : Math.Max(Max, max);
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

/// <summary>One stored metric of a node or GPU: its source's row id and the metric's column slot.</summary>
internal readonly record struct TelemetrySeries(long Source, int Slot);
