using System.Globalization;
using Gantry.Agent.Jobs;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Power;
using Gantry.Testing;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>
/// The energy meter against a procfs written by the test (the job processes' CPU times) and samples
/// built by it (RAPL counters, CPU times, GPU readings), with GPU counters read through a scripted reader.
/// </summary>
public sealed class AttemptEnergyMeterTests : IDisposable
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 6, 0, 0, TimeSpan.Zero);
    private readonly string _proc = Directory.CreateTempSubdirectory("gantry-meter-proc-").FullName;
    private readonly FakeTimeProvider _time = new(T0);
    private readonly ScriptedGpus _gpus = new();

    public void Dispose() => Directory.Delete(_proc, recursive: true);

    private static readonly AttemptKey A = new(1, 1, 10);
    private static readonly AttemptKey B = new(2, 1, 20);

    [Fact]
    public void Sample_RaplShare_SplitByTheGroupsCpuTimeOverTheNodesBusyTime()
    {
        var meter = new AttemptEnergyMeter(_gpus, _proc, _time);
        meter.Begin(A, []);
        meter.Attach(A, 100);
        meter.Begin(B, []);
        meter.Attach(B, 200);
        Stat(100, group: 100, utime: 0, stime: 0);
        Stat(200, group: 200, utime: 0, stime: 0);
        meter.Sample(Snapshot(T0, busySeconds: 1000, package: 1000, dram: 100));

        // Ten seconds later: attempt A used 3 s of CPU (leader 2.5 s, a child in its group 0.5 s), B 1 s,
        // a process outside both 4 s; the node was busy 10 s and RAPL counted 500 + 100 J.
        Stat(100, group: 100, utime: 200, stime: 50);
        Stat(101, group: 100, utime: 50, stime: 0);
        Stat(200, group: 200, utime: 60, stime: 40);
        Stat(300, group: 300, utime: 400, stime: 0);
        meter.Sample(Snapshot(T0.AddSeconds(10), busySeconds: 1010, package: 1500, dram: 200));

        var reports = meter.Current().ToDictionary(r => r.JobId);
        Assert.Equal(600 * 3 / 10.0, reports[1].CpuEnergyJoules!.Value, 6);
        Assert.Equal(600 * 1 / 10.0, reports[2].CpuEnergyJoules!.Value, 6);
        Assert.True(reports[1].Estimated);
    }

    [Fact]
    public void SimulatedGpus_EveryReportSaysSo()
    {
        var simulated = new AttemptEnergyMeter(_gpus, _proc, _time, simulated: true);
        simulated.Begin(A, []);
        Assert.True(Assert.Single(simulated.Current()).Simulated);
        Assert.True(simulated.End(A)!.Simulated);

        var measured = new AttemptEnergyMeter(_gpus, _proc, _time);
        measured.Begin(A, []);
        Assert.False(Assert.Single(measured.Current()).Simulated);
    }

    [Fact]
    public void Sample_JobsCpuAboveTheNodesBusyTime_TheWholeRaplEnergyIsSharedAndNoMore()
    {
        var meter = new AttemptEnergyMeter(_gpus, _proc, _time);
        meter.Begin(A, []);
        meter.Attach(A, 100);
        meter.Begin(B, []);
        meter.Attach(B, 200);
        meter.Sample(Snapshot(T0, busySeconds: 50, package: 0, dram: 0));
        Stat(100, group: 100, utime: 300, stime: 0);
        Stat(200, group: 200, utime: 100, stime: 0);
        meter.Sample(Snapshot(T0.AddSeconds(5), busySeconds: 52, package: 400, dram: 0));

        var reports = meter.Current().ToDictionary(r => r.JobId);
        Assert.Equal(300, reports[1].CpuEnergyJoules!.Value, 6);
        Assert.Equal(100, reports[2].CpuEnergyJoules!.Value, 6);
    }

    [Fact]
    public void End_CounterDeltasFromStartToEnd_ExactAndOnlyTheAttemptsGpus()
    {
        var meter = new AttemptEnergyMeter(_gpus, _proc, _time);
        _gpus.Set(0, 1000, 300);
        _gpus.Set(1, 5000, 100);
        meter.Begin(A, [1]);
        meter.Attach(A, 100);

        _time.Advance(TimeSpan.FromSeconds(1));
        meter.Sample(Snapshot(_time.GetUtcNow(), 0, 0, 0, Gpu(0, 1300, 300), Gpu(1, 5250, 250)));
        _time.Advance(TimeSpan.FromSeconds(1));
        _gpus.Set(1, 5400, 150);
        var report = meter.End(A)!;

        Assert.Equal(400, report.GpuEnergyJoules, 9);
        Assert.Equal(200, report.AverageGpuPowerWatts!.Value, 9);
        Assert.Equal(250, report.PeakGpuPowerWatts);
        Assert.False(report.Estimated);
        Assert.Null(meter.End(A));
    }

    [Fact]
    public void End_CounterUnsupported_PowerIntegratedAndEstimated()
    {
        var meter = new AttemptEnergyMeter(_gpus, _proc, _time);
        _gpus.Set(0, null, 100);
        meter.Begin(A, [0]);
        _time.Advance(TimeSpan.FromSeconds(2));
        meter.Sample(Snapshot(_time.GetUtcNow(), 0, 0, 0, Gpu(0, null, 300)));
        _time.Advance(TimeSpan.FromSeconds(2));
        _gpus.Set(0, null, 300);
        var report = meter.End(A)!;

        // Trapezoids: (100 + 300) / 2 × 2 s + 300 × 2 s.
        Assert.Equal(1000, report.GpuEnergyJoules, 9);
        Assert.True(report.Estimated);
    }

    [Fact]
    public void Sample_OlderThanTheStartReading_Ignored()
    {
        var meter = new AttemptEnergyMeter(_gpus, _proc, _time);
        _gpus.Set(0, 2000, 300);
        meter.Begin(A, [0]);

        // Collected before the attempt started: its counter is behind the start reading.
        meter.Sample(Snapshot(_time.GetUtcNow(), 0, 0, 0, Gpu(0, 1900, 300)));
        _time.Advance(TimeSpan.FromSeconds(1));
        _gpus.Set(0, 2300, 300);
        var report = meter.End(A)!;

        Assert.Equal(300, report.GpuEnergyJoules, 9);
        Assert.False(report.Estimated);
    }

    [Fact]
    public void ParseCpu_CommandWithSpacesAndParentheses_FieldsCountedFromTheLastParenthesis()
    {
        var parsed = AttemptEnergyMeter.ParseCpu("42 (my (odd) job) S 1 42 42 0 -1 4194560 100 0 0 0 7 3 2 1 20 0 1 0 100 0 0");
        Assert.Equal((42, 13.0), parsed);
    }

    private void Stat(int pid, int group, long utime, long stime)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_proc, pid.ToString(CultureInfo.InvariantCulture)));
        File.WriteAllText(Path.Combine(dir.FullName, "stat"), string.Create(CultureInfo.InvariantCulture, $"{pid} (sh) S 1 {group} {group} 0 -1 0 0 0 0 0 {utime} {stime} 0 0 20 0 1 0 100 0 0\n"));
    }

    private static GpuSample Gpu(int index, double? energy, double power) => new()
    {
        Index = index,
        Uuid = $"GPU-{index}",
        Name = "Fake GPU",
        EnergyJoules = energy,
        PowerWatts = power,
    };

    private static NodeSnapshot Snapshot(DateTimeOffset at, double busySeconds, double package, double dram, params GpuSample[] gpus) => new()
    {
        Sequence = 1,
        Timestamp = at,
        Host = new HostSnapshot("n", "linux", "x64", "6", new CpuSample([new CpuCoreTimes(0, busySeconds, 0, 0, 100_000, 0, 0, 0, 0)], null, null, null, null, null, null, null, null, null, 1), null, null, null, null, null),
        Power = new PowerSnapshot([new RaplDomainSample(0, "package", "intel-rapl:0", package), new RaplDomainSample(0, "core", "intel-rapl:0:0", package / 2), new RaplDomainSample(0, "dram", "intel-rapl:0:1", dram)], [], null),
        Gpus = new GpuSnapshot("ok", null, null, null, null, gpus),
        Collectors = [],
        Self = new SelfSample("test", at, 0, 0, 0, 1),
    };

    /// <summary>GPU counters the test sets, read as NVML would answer them.</summary>
    private sealed class ScriptedGpus : IGpuEnergyReader
    {
        private readonly Dictionary<int, GpuEnergyReading> _readings = [];

        public void Set(int gpu, double? joules, double? watts) => _readings[gpu] = new GpuEnergyReading(joules, watts);

        public GpuEnergyReading? ReadEnergy(int gpuIndex) => _readings.TryGetValue(gpuIndex, out var r) ? r : null;
    }
}
