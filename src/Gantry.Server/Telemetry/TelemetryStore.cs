using System.Globalization;
using System.Runtime.InteropServices;
using Gantry.Core.Protocol;
using Gantry.Server.Storage;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Gantry.Server.Telemetry;

/// <summary>
/// Telemetry history in its own SQLite file (WAL, its own connection and migrations), so writing
/// samples never waits on the state store. Raw samples are kept for the raw retention and folded
/// into per-minute rollups (min, max, sum, count) kept longer. One writer at a time (the ingest
/// worker or the retention worker, under a lock); queries read on pooled read-only connections.
/// </summary>
internal sealed class TelemetryStore : IDisposable
{
    private const long MinuteMs = 60_000;

    private readonly Lock _lock = new();
    private readonly SqliteConnection _write;
    private readonly string _readConnectionString;
    private readonly Dictionary<string, NodeSeries> _series = new(StringComparer.Ordinal);
    private readonly Dictionary<(long Series, long Minute), Aggregate> _rollups = [];
    private readonly sqlite3_stmt _insertRaw;
    private readonly sqlite3_stmt _upsertRollup;
    private readonly SqliteCommand _upsertSeries;
    private SqliteTransaction? _transaction;
    private int _written;

    private TelemetryStore(SqliteConnection write, string readConnectionString)
    {
        _write = write;
        _readConnectionString = readConnectionString;
        // The per-sample insert goes straight to SQLite: bind, step, reset, with no command,
        // reader or boxed parameter per row (ADO.NET cost ~1.3 KB and most of the time per sample).
        var rc = raw.sqlite3_prepare_v2(write.Handle, "INSERT OR IGNORE INTO raw (series_id, time, value) VALUES (?1, ?2, ?3)", out _insertRaw);
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
        // Once per new series: ADO.NET is fine here.
        _upsertSeries = Prepare(
            "INSERT INTO series (node_id, gpu, metric) VALUES ($node, $gpu, $metric) ON CONFLICT (node_id, gpu, metric) DO UPDATE SET gpu = excluded.gpu RETURNING id",
            ("$node", SqliteType.Text), ("$gpu", SqliteType.Integer), ("$metric", SqliteType.Text));
    }

    /// <summary>Opens (creating when missing) the telemetry database at <paramref name="path"/> and applies pending migrations.</summary>
    public static TelemetryStore Open(string path)
    {
        var (write, read) = SqliteFile.Open(path, TelemetryMigrations.Scripts, "the telemetry database", foreignKeys: false);
        var store = new TelemetryStore(write, read);
        store.LoadSeries();
        return store;
    }

    /// <summary>
    /// Writes the samples of <paramref name="items"/> in one transaction and folds them into the
    /// minute rollups, each (series, minute) updated once. A sample whose (series, time) is
    /// already stored (a repeated heartbeat) is skipped, in raw and rollup alike. Returns the
    /// number of samples stored.
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
                foreach (var item in items)
                {
                    WriteItem(item);
                }

                FlushRollups();
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

            return _written;
        }
    }

    private void WriteItem(in TelemetryItem item)
    {
        var summary = item.Summary;
        var time = item.Time.ToUnixTimeMilliseconds();
        if (!_series.TryGetValue(item.NodeId, out var node))
        {
            node = new NodeSeries();
            _series[item.NodeId] = node;
        }

        var ids = node.Node;
        Add(item.NodeId, -1, ids, 0, time, summary.CpuUtilization);
        Add(item.NodeId, -1, ids, 1, time, summary.MemoryUsedBytes);
        Add(item.NodeId, -1, ids, 2, time, summary.PowerWatts);
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
            Add(item.NodeId, gpu.Index, ids, 0, time, gpu.Utilization);
            Add(item.NodeId, gpu.Index, ids, 1, time, gpu.MemoryUsedBytes);
            Add(item.NodeId, gpu.Index, ids, 2, time, gpu.TemperatureCelsius);
            Add(item.NodeId, gpu.Index, ids, 3, time, gpu.PowerWatts);
            Add(item.NodeId, gpu.Index, ids, 4, time, gpu.EnergyJoules);
            Add(item.NodeId, gpu.Index, ids, 5, time, gpu.SmClockHertz);
            Add(item.NodeId, gpu.Index, ids, 6, time, gpu.MemoryClockHertz);
            Add(item.NodeId, gpu.Index, ids, 7, time, gpu.ThrottleReasons.Count > 0 ? 1 : 0);
        }
    }

    private void Add(string nodeId, int gpu, long[] ids, int slot, long time, double? value)
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

        raw.sqlite3_bind_int64(_insertRaw, 1, series);
        raw.sqlite3_bind_int64(_insertRaw, 2, time);
        raw.sqlite3_bind_double(_insertRaw, 3, v);
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
        ref var aggregate = ref CollectionsMarshal.GetValueRefOrAddDefault(_rollups, (series, time - (time % MinuteMs)), out var exists);
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
    /// Deletes raw samples older than <paramref name="rawBefore"/> and rollups of minutes that
    /// ended before <paramref name="rollupBefore"/>, a few hundred series per transaction so the
    /// ingest is never held up for long. Returns the rows deleted from each table.
    /// </summary>
    public (long Raw, long Rollup) DeleteBefore(DateTimeOffset rawBefore, DateTimeOffset rollupBefore)
    {
        long[] all;
        lock (_lock)
        {
            all = [.. _series.Values.SelectMany(static s => s.All())];
        }

        var rawCutoff = rawBefore.ToUnixTimeMilliseconds();
        // A minute is dropped once all of it lies before the cutoff.
        var rollupCutoff = rollupBefore.ToUnixTimeMilliseconds() - MinuteMs;
        long raw = 0, rollup = 0;
        const int Chunk = 500;
        for (var start = 0; start < all.Length; start += Chunk)
        {
            lock (_lock)
            {
                using var tx = _write.BeginTransaction();
                using var deleteRaw = Command("DELETE FROM raw WHERE series_id = $s AND time < $cut", tx);
                using var deleteRollup = Command("DELETE FROM rollup WHERE series_id = $s AND minute <= $cut", tx);
                deleteRaw.Parameters.AddWithValue("$cut", rawCutoff);
                var rawSeries = deleteRaw.Parameters.Add("$s", SqliteType.Integer);
                deleteRollup.Parameters.AddWithValue("$cut", rollupCutoff);
                var rollupSeries = deleteRollup.Parameters.Add("$s", SqliteType.Integer);
                for (var i = start; i < Math.Min(all.Length, start + Chunk); i++)
                {
                    rawSeries.Value = all[i];
                    raw += deleteRaw.ExecuteNonQuery();
                    rollupSeries.Value = all[i];
                    rollup += deleteRollup.ExecuteNonQuery();
                }

                tx.Commit();
            }
        }

        return (raw, rollup);
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
            command.CommandText = "SELECT time, value, value, value, 1 FROM raw WHERE series_id = $s AND time >= $from AND time <= $to ORDER BY time";
        }
        else
        {
            // The minute holding `start` counts whole: with a step of whole minutes it falls in the
            // same bucket as `start` does.
            command.CommandText = "SELECT minute, lo, hi, total, n FROM rollup WHERE series_id = $s AND minute >= $from AND minute <= $to ORDER BY minute";
            from -= FloorMod(from, MinuteMs);
        }

        command.Parameters.AddWithValue("$s", series);
        command.Parameters.AddWithValue("$from", from);
        command.Parameters.AddWithValue("$to", to);
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
            _upsertSeries.Dispose();
            _write.Dispose();
        }
    }

    private void LoadSeries()
    {
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
