using System.Globalization;
using BenchmarkDotNet.Attributes;
using Gantry.Core.Protocol;
using Gantry.Server.Telemetry;
using Microsoft.Data.Sqlite;

namespace Gantry.Benchmarks;

/// <summary>Summaries of 8-GPU nodes with every reading present: 3 node samples + 8 × 8 GPU samples = 67 each.</summary>
internal static class TelemetryData
{
    public const int SamplesPerSummary = 3 + (8 * 8);

    public static readonly DateTimeOffset Start = new(2026, 3, 1, 0, 0, 0, TimeSpan.Zero);

    public static NodeSummary Summary(DateTimeOffset at, int seed)
    {
        var gpus = new GpuSummary[8];
        for (var i = 0; i < gpus.Length; i++)
        {
            var load = ((seed + i) % 100) / 100.0;
            gpus[i] = new GpuSummary
            {
                Index = i,
                Utilization = load,
                MemoryUsedBytes = (long)(load * (80L << 30)),
                TemperatureCelsius = 35 + (40 * load),
                PowerWatts = 70 + (630 * load),
                EnergyJoules = 1e9 + seed,
                SmClockHertz = 1.98e9,
                MemoryClockHertz = 2.619e9,
                ThrottleReasons = load > 0.9 ? ["sw_power_cap"] : [],
            };
        }

        return new NodeSummary { SampledAt = at, CpuUtilization = (seed % 100) / 100.0, MemoryUsedBytes = 200L << 30, PowerWatts = 3_000, Gpus = gpus };
    }

    public static TelemetryStore OpenStore(out string dir)
    {
        dir = Directory.CreateTempSubdirectory("gantry-bench-telemetry-").FullName;
        return TelemetryStore.Open(Path.Combine(dir, "telemetry.db"));
    }

    public static void Delete(TelemetryStore store, string dir)
    {
        store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(dir, recursive: true);
    }
}

/// <summary>
/// Telemetry ingest: <c>TelemetryStore.Write</c> of one batch of <see cref="Nodes"/> heartbeat
/// summaries (8-GPU nodes, 67 samples each) in one transaction, on a real SQLite file, as the
/// writer does under load. Each call is the next 5 s of the same nodes, so the tables grow as
/// they do in service.
/// </summary>
[MemoryDiagnoser]
public class TelemetryIngestBenchmark
{
    [Params(100, 1_000)]
    public virtual int Nodes { get; set; }

    private TelemetryStore _store = null!;
    private string _dir = null!;
    private TelemetryItem[] _items = null!;
    private DateTimeOffset _next;

    /// <summary>Samples one call writes.</summary>
    public int SamplesPerCall => Nodes * TelemetryData.SamplesPerSummary;

    /// <summary>Batches written before measuring (after the first, which creates the series).</summary>
    protected virtual int HistoryBatches => 0;

    [GlobalSetup]
    public void Setup()
    {
        _store = TelemetryData.OpenStore(out _dir);
        _items = new TelemetryItem[Nodes];
        for (var i = 0; i < _items.Length; i++)
        {
            var id = string.Create(CultureInfo.InvariantCulture, $"node-{i:D5}");
            _items[i] = new TelemetryItem(id, TelemetryData.Start, TelemetryData.Summary(TelemetryData.Start, i));
        }

        _next = TelemetryData.Start;
        // Series are created on first sight; measure the steady state.
        Write();
        for (var i = 0; i < HistoryBatches; i++)
        {
            Write();
        }
    }

    [GlobalCleanup]
    public void Cleanup() => TelemetryData.Delete(_store, _dir);

    [Benchmark]
    public int Write()
    {
        for (var i = 0; i < _items.Length; i++)
        {
            _items[i] = _items[i] with { Time = _next };
        }

        _next += TimeSpan.FromSeconds(5);
        return _store.Write(_items);
    }
}

/// <summary>
/// Sustained telemetry ingest: as <see cref="TelemetryIngestBenchmark"/> for 100 nodes, after
/// 30 minutes of their history (360 batches, 2.4 million samples) are stored, so every series
/// already fills pages of its own, as after half an hour in service.
/// </summary>
public class TelemetrySustainedIngestBenchmark : TelemetryIngestBenchmark
{
    [Params(100)]
    public override int Nodes { get; set; }

    protected override int HistoryBatches => 360;
}

/// <summary>
/// Telemetry query: one GPU's utilization over a day (17,280 raw samples at 5 s, 1,440 minute
/// rollups) in 300 buckets of 5 minutes, from raw and from rollup, plus the last hour from raw
/// at 15 s (the endpoint's defaults).
/// </summary>
[MemoryDiagnoser]
public class TelemetryQueryBenchmark
{
    private TelemetryStore _store = null!;
    private string _dir = null!;
    private TelemetrySeries _series;

    [GlobalSetup]
    public void Setup()
    {
        _store = TelemetryData.OpenStore(out _dir);
        var items = new TelemetryItem[720];
        for (var hour = 0; hour < 24; hour++)
        {
            for (var i = 0; i < items.Length; i++)
            {
                var at = TelemetryData.Start + TimeSpan.FromSeconds(((hour * items.Length) + i) * 5);
                items[i] = new TelemetryItem("node-00000", at, TelemetryData.Summary(at, i));
            }

            _store.Write(items);
        }

        _series = _store.FindSeries("node-00000", 0, "utilization")!.Value;
    }

    [GlobalCleanup]
    public void Cleanup() => TelemetryData.Delete(_store, _dir);

    [Benchmark(Baseline = true)]
    public int DayFromRaw() =>
        _store.Query(_series, TelemetrySource.Raw, TelemetryData.Start, TelemetryData.Start.AddDays(1), TimeSpan.FromMinutes(5)).Count;

    [Benchmark]
    public int DayFromRollup() =>
        _store.Query(_series, TelemetrySource.Rollup, TelemetryData.Start, TelemetryData.Start.AddDays(1), TimeSpan.FromMinutes(5)).Count;

    [Benchmark]
    public int HourFromRaw() =>
        _store.Query(_series, TelemetrySource.Raw, TelemetryData.Start.AddHours(23), TelemetryData.Start.AddDays(1), TimeSpan.FromSeconds(15)).Count;
}
