using Gantry.Core.Protocol;
using Gantry.Server.Telemetry;
using Gantry.Testing;
using Microsoft.Data.Sqlite;

namespace Gantry.Server.Tests.Telemetry;

/// <summary>The telemetry store on a real SQLite file, driven by a fake clock.</summary>
public sealed class TelemetryStoreTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-telemetry-").FullName;
    private readonly FakeTimeProvider _clock = new(new DateTimeOffset(2026, 3, 1, 12, 0, 0, TimeSpan.Zero));
    private readonly TelemetryStore _store;

    public TelemetryStoreTests() => _store = TelemetryStore.Open(Path.Combine(_dir, "telemetry.db"));

    public void Dispose()
    {
        _store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
    }

    internal static NodeSummary Summary(DateTimeOffset at, double cpu, double? gpuTemperature = 60, params string[] throttle) => new()
    {
        SampledAt = at,
        CpuUtilization = cpu,
        MemoryUsedBytes = 1L << 30,
        PowerWatts = null,
        Gpus =
        [
            new GpuSummary
            {
                Index = 0,
                Utilization = cpu,
                MemoryUsedBytes = 2L << 30,
                TemperatureCelsius = gpuTemperature,
                PowerWatts = 300,
                EnergyJoules = 1e6,
                SmClockHertz = 1.98e9,
                MemoryClockHertz = 2.6e9,
                ThrottleReasons = throttle,
            },
            new GpuSummary { Index = 1, Lost = true, Utilization = 0.5 },
        ],
    };

    private int Write(params (DateTimeOffset At, double Cpu)[] samples) =>
        _store.Write(samples.Select(s => new TelemetryItem("n1", s.At, Summary(s.At, s.Cpu))).ToArray());

    [Fact]
    public void Write_SamplesAcrossBatchesInOneMinute_RollupHoldsMinMaxMean()
    {
        var minute = _clock.GetUtcNow();
        Write((minute, 0.2), (minute.AddSeconds(20), 0.8));
        Write((minute.AddSeconds(40), 0.5));
        Write((minute.AddSeconds(65), 0.9));

        var series = _store.FindSeries("n1", null, "cpu_utilization")!.Value;
        var points = _store.Query(series, TelemetrySource.Rollup, minute, minute.AddMinutes(2), TimeSpan.FromMinutes(1));

        Assert.Equal(2, points.Count);
        Assert.Equal(minute, points[0].T);
        Assert.Equal(0.2, points[0].Min, 12);
        Assert.Equal(0.8, points[0].Max, 12);
        Assert.Equal(0.5, points[0].Value, 12);
        Assert.Equal(minute.AddMinutes(1), points[1].T);
        Assert.Equal(0.9, points[1].Value, 12);
    }

    [Fact]
    public void Query_RawWithStep_BucketsAlignedToStep()
    {
        var start = _clock.GetUtcNow();
        Write((start, 0.1), (start.AddSeconds(5), 0.3), (start.AddSeconds(10), 0.7));

        var series = _store.FindSeries("n1", 0, "utilization")!.Value;
        var points = _store.Query(series, TelemetrySource.Raw, start, start.AddSeconds(15), TimeSpan.FromSeconds(10));

        Assert.Equal(2, points.Count);
        Assert.Equal(0.2, points[0].Value, 12);
        Assert.Equal(0.1, points[0].Min, 12);
        Assert.Equal(0.3, points[0].Max, 12);
        Assert.Equal(start.AddSeconds(10), points[1].T);
        Assert.Equal(0.7, points[1].Value, 12);
    }

    [Fact]
    public void Write_NullReadingsLostGpusAndRepeats_NotStored()
    {
        var at = _clock.GetUtcNow();
        var stored = _store.Write([new TelemetryItem("n1", at, Summary(at, 0.5, gpuTemperature: null, "sw_power_cap"))]);
        var repeated = _store.Write([new TelemetryItem("n1", at, Summary(at, 0.5, gpuTemperature: null, "sw_power_cap"))]);

        // Node: cpu and memory (power is null); GPU 0: every metric but temperature; GPU 1 is lost.
        Assert.Equal(2 + 7, stored);
        Assert.Equal(0, repeated);
        Assert.Empty(_store.Query(_store.FindSeries("n1", null, "power_watts")!.Value, TelemetrySource.Raw, at, at.AddMinutes(1), TimeSpan.FromSeconds(5)));
        Assert.Empty(_store.Query(_store.FindSeries("n1", 0, "temperature_celsius")!.Value, TelemetrySource.Rollup, at, at.AddMinutes(1), TimeSpan.FromMinutes(1)));
        Assert.Null(_store.FindSeries("n1", 1, "utilization"));
        Assert.Null(_store.FindSeries("n1", 0, "no_such_metric"));
        Assert.Null(_store.FindSeries("n1", null, "utilization"));
        var throttled = _store.FindSeries("n1", 0, "throttled")!.Value;
        var point = Assert.Single(_store.Query(throttled, TelemetrySource.Rollup, at, at.AddMinutes(1), TimeSpan.FromMinutes(1)));
        Assert.Equal(1, point.Value);
        Assert.Equal(1, point.Max);
    }

    [Fact]
    public void DeleteBefore_OldRawThenOldRollups_Deleted()
    {
        var old = _clock.GetUtcNow();
        Write((old, 0.4));
        _clock.Advance(TimeSpan.FromHours(25));
        var recent = _clock.GetUtcNow();
        Write((recent, 0.6));
        var series = _store.FindSeries("n1", null, "cpu_utilization")!.Value;

        var (raw, rollup) = _store.DeleteBefore(recent - TimeSpan.FromHours(24), recent - TimeSpan.FromDays(30));

        // One row for the node, one for GPU 0.
        Assert.Equal(2, raw);
        Assert.Equal(0, rollup);
        var rawLeft = Assert.Single(_store.Query(series, TelemetrySource.Raw, old, recent.AddMinutes(1), TimeSpan.FromSeconds(30)));
        Assert.Equal(0.6, rawLeft.Value, 12);
        Assert.Equal(2, _store.Query(series, TelemetrySource.Rollup, old, recent.AddMinutes(1), TimeSpan.FromMinutes(1)).Count);

        _clock.Advance(TimeSpan.FromDays(30) - TimeSpan.FromHours(24));
        var now = _clock.GetUtcNow();
        (raw, rollup) = _store.DeleteBefore(now - TimeSpan.FromHours(24), now - TimeSpan.FromDays(30));

        Assert.Equal(2, raw);
        Assert.Equal(2, rollup);
        var rollupLeft = Assert.Single(_store.Query(series, TelemetrySource.Rollup, old, recent.AddMinutes(1), TimeSpan.FromMinutes(1)));
        Assert.Equal(0.6, rollupLeft.Value, 12);
    }

    [Fact]
    public void Open_ExistingFile_SeriesAndSamplesKept()
    {
        var at = _clock.GetUtcNow();
        Write((at, 0.25));
        var series = _store.FindSeries("n1", null, "cpu_utilization");
        _store.Dispose();

        using var reopened = TelemetryStore.Open(Path.Combine(_dir, "telemetry.db"));
        reopened.Write([new TelemetryItem("n1", at.AddSeconds(5), Summary(at.AddSeconds(5), 0.75))]);

        Assert.Equal(series, reopened.FindSeries("n1", null, "cpu_utilization"));
        var point = Assert.Single(reopened.Query(series!.Value, TelemetrySource.Rollup, at, at.AddMinutes(1), TimeSpan.FromMinutes(1)));
        Assert.Equal(0.5, point.Value, 12);
    }

    [Fact]
    public void Write_SampleForRolledUpMinute_FoldedIntoItsRollup()
    {
        var minute = _clock.GetUtcNow();
        Write((minute, 0.2), (minute.AddSeconds(10), 0.4));
        var series = _store.FindSeries("n1", null, "cpu_utilization")!.Value;
        // Ten minutes on: the first minute is complete and rolled up.
        Write((minute.AddMinutes(10), 0.5));
        var before = _store.Query(series, TelemetrySource.Rollup, minute, minute.AddSeconds(59), TimeSpan.FromMinutes(1));

        var stored = Write((minute.AddSeconds(30), 0.9));
        var repeated = Write((minute.AddSeconds(30), 0.9));

        Assert.Equal(0.3, Assert.Single(before).Value, 12);
        Assert.Equal(2 + 8, stored);
        Assert.Equal(0, repeated);
        var point = Assert.Single(_store.Query(series, TelemetrySource.Rollup, minute, minute.AddSeconds(59), TimeSpan.FromMinutes(1)));
        Assert.Equal(0.5, point.Value, 12);
        Assert.Equal(0.2, point.Min, 12);
        Assert.Equal(0.9, point.Max, 12);
        Assert.Equal(3, _store.Query(series, TelemetrySource.Raw, minute, minute.AddSeconds(59), TimeSpan.FromSeconds(5)).Count);
    }

    [Fact]
    public void Query_RollupBeforeAndAfterRollUp_SamePoints()
    {
        var start = _clock.GetUtcNow();
        for (var i = 0; i < 36; i++)
        {
            Write((start.AddSeconds(i * 5), i / 36.0));
        }

        var series = _store.FindSeries("n1", 0, "utilization")!.Value;
        var fromRaw = _store.Query(series, TelemetrySource.Rollup, start, start.AddMinutes(3), TimeSpan.FromMinutes(1));

        Write((start.AddMinutes(30), 0.5));
        var fromRollups = _store.Query(series, TelemetrySource.Rollup, start, start.AddMinutes(3), TimeSpan.FromMinutes(1));

        Assert.Equal(3, fromRaw.Count);
        Assert.Equal(fromRaw.Count, fromRollups.Count);
        for (var i = 0; i < fromRaw.Count; i++)
        {
            Assert.Equal(fromRaw[i].T, fromRollups[i].T);
            Assert.Equal(fromRaw[i].Min, fromRollups[i].Min, 12);
            Assert.Equal(fromRaw[i].Max, fromRollups[i].Max, 12);
            Assert.Equal(fromRaw[i].Value, fromRollups[i].Value, 12);
        }
    }

    [Fact]
    public void DeleteBefore_RawOfMinutesNotRolledUp_RolledUpFirst()
    {
        var at = _clock.GetUtcNow();
        Write((at, 0.4), (at.AddSeconds(5), 0.6));
        var series = _store.FindSeries("n1", null, "cpu_utilization")!.Value;

        var (raw, rollup) = _store.DeleteBefore(at.AddHours(1), at.AddDays(-30));

        Assert.Equal(2 * 2, raw);
        Assert.Equal(0, rollup);
        Assert.Empty(_store.Query(series, TelemetrySource.Raw, at, at.AddMinutes(1), TimeSpan.FromSeconds(5)));
        var point = Assert.Single(_store.Query(series, TelemetrySource.Rollup, at, at.AddMinutes(1), TimeSpan.FromMinutes(1)));
        Assert.Equal(0.5, point.Value, 12);
    }

    [Fact]
    public void Open_VersionOneFile_SamplesAndRollupsMigrated()
    {
        var path = Path.Combine(_dir, "v1.db");
        var at = _clock.GetUtcNow();
        var ms = at.ToUnixTimeMilliseconds();
        using (var v1 = new SqliteConnection($"Data Source={path};Pooling=False"))
        {
            v1.Open();
            using var command = v1.CreateCommand();
            command.CommandText = TelemetryMigrations.Scripts[0] + $"""
                INSERT INTO series (id, node_id, gpu, metric) VALUES (7, 'n1', -1, 'cpu_utilization'), (8, 'n1', 0, 'power_watts'), (9, 'n1', 0, 'utilization');
                INSERT INTO raw (series_id, time, value) VALUES (7, {ms}, 0.2), (7, {ms + 5_000}, 0.4), (8, {ms}, 300), (9, {ms}, 0.75), (9, {ms + 5_000}, 0.25);
                INSERT INTO rollup (series_id, minute, lo, hi, total, n) VALUES (7, {ms - 3_600_000}, 0.1, 0.3, 0.4, 2), (7, {ms}, 0.2, 0.4, 0.6, 2), (8, {ms - 3_600_000}, 250, 350, 600, 2);
                PRAGMA user_version = 1;
                """;
            command.ExecuteNonQuery();
        }

        using var store = TelemetryStore.Open(path);
        // A late sample in the newest migrated minute: that minute was rolled up by version 1.
        store.Write([new TelemetryItem("n1", at.AddSeconds(10), Summary(at.AddSeconds(10), 0.9))]);

        var cpu = store.FindSeries("n1", null, "cpu_utilization")!.Value;
        var raw = store.Query(cpu, TelemetrySource.Raw, at, at.AddMinutes(1), TimeSpan.FromSeconds(5));
        Assert.Equal([0.2, 0.4, 0.9], raw.Select(p => p.Value));
        Assert.Equal(at, raw[0].T);
        // Two metrics of one GPU, each in its own column of the same rows.
        var utilization = store.FindSeries("n1", 0, "utilization")!.Value;
        Assert.Equal([0.75, 0.25, 0.9], store.Query(utilization, TelemetrySource.Raw, at, at.AddMinutes(1), TimeSpan.FromSeconds(5)).Select(p => p.Value));
        var power = store.FindSeries("n1", 0, "power_watts")!.Value;
        Assert.Equal(utilization.Source, power.Source);
        Assert.Equal([300.0, 300.0], store.Query(power, TelemetrySource.Raw, at, at.AddMinutes(1), TimeSpan.FromSeconds(5)).Select(p => p.Value));
        var powerRollups = store.Query(power, TelemetrySource.Rollup, at.AddHours(-1), at.AddMinutes(1), TimeSpan.FromMinutes(1));
        Assert.Equal([300.0, 300.0], powerRollups.Select(p => p.Value));
        Assert.Equal(250, powerRollups[0].Min, 12);
        var rollups = store.Query(cpu, TelemetrySource.Rollup, at.AddHours(-1), at.AddMinutes(1), TimeSpan.FromMinutes(1));
        Assert.Equal(2, rollups.Count);
        Assert.Equal(0.2, rollups[0].Value, 12);
        Assert.Equal(at, rollups[1].T);
        Assert.Equal(0.5, rollups[1].Value, 12);
        Assert.Equal(0.9, rollups[1].Max, 12);
    }

    [Theory]
    [InlineData(-1, 15, "Raw", 15)]
    [InlineData(-23, 59, "Raw", 59)]
    [InlineData(-1, 60, "Rollup", 60)]
    [InlineData(-25, 15, "Rollup", 60)]
    [InlineData(-48, 90, "Rollup", 120)]
    public void Plan_RangeAndStep_RawOnlyInsideRawRetentionBelowAMinute(int startHours, int stepSeconds, string source, int planned)
    {
        var now = _clock.GetUtcNow();

        var (chosen, step) = TelemetryEndpoints.Plan(now.AddHours(startHours), TimeSpan.FromSeconds(stepSeconds), now, TimeSpan.FromHours(24));

        Assert.Equal(Enum.Parse<TelemetrySource>(source), chosen);
        Assert.Equal(TimeSpan.FromSeconds(planned), step);
    }

    [Theory]
    [InlineData(3_600, 15)]
    [InlineData(86_400, 300)]
    [InlineData(30 * 86_400, 3 * 3_600)]
    public void DefaultStep_Range_AtMostThreeHundredPoints(int rangeSeconds, int expectedSeconds)
    {
        var step = TelemetryEndpoints.DefaultStep(TimeSpan.FromSeconds(rangeSeconds));

        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), step);
        Assert.True(rangeSeconds / step.TotalSeconds <= TelemetryEndpoints.TargetPoints);
    }
}
