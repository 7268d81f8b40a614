using System.Runtime.CompilerServices;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Nvml;
using Gantry.Testing;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Tests.Nvml;

[Collection("nvml")]
public sealed class NvmlCollectorTests : IDisposable
{
    private readonly FakeTimeProvider _time = new();
    private readonly ListLogger<NvmlCollector> _logger = new();
    private readonly List<NvmlCollector> _collectors = [];

    public void Dispose()
    {
        foreach (var collector in _collectors)
        {
            collector.Dispose();
        }

        FakeNvmlLibrary.SetScriptVariable(null);
    }

    private NvmlCollector CreateCollector()
    {
        var collector = new NvmlCollector(FakeNvmlLibrary.CurrentDriverPath, _logger, _time);
        _collectors.Add(collector);
        return collector;
    }

    private static async Task<GpuSnapshot> Collect(NvmlCollector collector) => await collector.CollectAsync(CancellationToken.None);

    [Fact]
    public async Task CollectAsync_ScriptedGpu_MapsInventoryAndEveryReadingInBaseUnits()
    {
        FakeNvmlLibrary.UseScript(
            "gpus=1",
            "driver=560.35.03",
            "nvml_version=12.560.35.03",
            "cuda=12060",
            "gpu.0.name=NVIDIA H100 80GB HBM3",
            "gpu.0.uuid=GPU-11111111-2222-3333-4444-555555555555",
            "gpu.0.pci_bus_id=00000000:18:00.0",
            "gpu.0.memory_total=85899345920",
            "gpu.0.memory_used=2147483648",
            "gpu.0.memory_free=83751862272",
            "gpu.0.util_gpu=87",
            "gpu.0.util_mem=41",
            "gpu.0.temp=63",
            "gpu.0.mem_temp=71",
            "gpu.0.power_mw=312500",
            "gpu.0.energy_mj=123456789",
            "gpu.0.power_limit_mw=700000",
            "gpu.0.enforced_limit_mw=650000",
            "gpu.0.default_limit_mw=690000",
            "gpu.0.min_limit_mw=200000",
            "gpu.0.max_limit_mw=710000",
            "gpu.0.clock_sm=1755",
            "gpu.0.clock_mem=2619",
            "gpu.0.clock_graphics=1740",
            "gpu.0.max_clock_sm=1980",
            "gpu.0.clock_reasons=0x44",
            "gpu.0.pstate=2",
            "gpu.0.fan=35",
            "gpu.0.ecc_corrected_volatile=5",
            "gpu.0.ecc_uncorrected_volatile=1",
            "gpu.0.ecc_corrected_aggregate=50",
            "gpu.0.ecc_uncorrected_aggregate=2",
            "gpu.0.retired_sbe=3",
            "gpu.0.retired_dbe=1",
            "gpu.0.retired_pending=1",
            "gpu.0.remapped_corr=7",
            "gpu.0.remapped_unc=2",
            "gpu.0.remapped_pending=1",
            "gpu.0.remapped_failure=0",
            "gpu.0.pcie_replay=9",
            "gpu.0.pcie_gen=5",
            "gpu.0.pcie_width=16");

        var snapshot = await Collect(CreateCollector());

        Assert.Equal("ok", snapshot.Status);
        Assert.Null(snapshot.Message);
        Assert.Equal("560.35.03", snapshot.DriverVersion);
        Assert.Equal("12.6", snapshot.CudaVersion);
        Assert.Equal("12.560.35.03", snapshot.NvmlVersion);
        var gpu = Assert.Single(snapshot.Gpus);
        Assert.Equal(0, gpu.Index);
        Assert.Equal("NVIDIA H100 80GB HBM3", gpu.Name);
        Assert.Equal("GPU-11111111-2222-3333-4444-555555555555", gpu.Uuid);
        Assert.Equal("00000000:18:00.0", gpu.PciBusId);
        Assert.False(gpu.Lost);
        Assert.False(gpu.Simulated);
        Assert.Equal(85899345920UL, gpu.MemoryTotalBytes);
        Assert.Equal(2147483648UL, gpu.MemoryUsedBytes);
        Assert.Equal(83751862272UL, gpu.MemoryFreeBytes);
        Assert.Equal(87, gpu.UtilizationGpuPercent);
        Assert.Equal(41, gpu.UtilizationMemoryPercent);
        Assert.Equal(63, gpu.TemperatureCelsius);
        Assert.Equal(71, gpu.MemoryTemperatureCelsius);
        Assert.Equal(312.5, gpu.PowerWatts);
        Assert.Equal(123456.789, gpu.EnergyJoules!.Value, 6);
        Assert.Equal(700, gpu.PowerLimitWatts);
        Assert.Equal(650, gpu.EnforcedPowerLimitWatts);
        Assert.Equal(690, gpu.DefaultPowerLimitWatts);
        Assert.Equal(200, gpu.MinPowerLimitWatts);
        Assert.Equal(710, gpu.MaxPowerLimitWatts);
        Assert.Equal(1755e6, gpu.SmClockHz);
        Assert.Equal(2619e6, gpu.MemoryClockHz);
        Assert.Equal(1740e6, gpu.GraphicsClockHz);
        Assert.Equal(1980e6, gpu.MaxSmClockHz);
        Assert.Equal(0x44UL, gpu.ClockEventReasons);
        Assert.Equal(2, gpu.PerformanceState);
        Assert.Equal(35, gpu.FanSpeedPercent);
        Assert.Equal(5UL, gpu.EccCorrectedVolatile);
        Assert.Equal(1UL, gpu.EccUncorrectedVolatile);
        Assert.Equal(50UL, gpu.EccCorrectedAggregate);
        Assert.Equal(2UL, gpu.EccUncorrectedAggregate);
        Assert.Equal(3U, gpu.RetiredPagesSingleBit);
        Assert.Equal(1U, gpu.RetiredPagesDoubleBit);
        Assert.True(gpu.RetiredPagesPending);
        Assert.Equal(7U, gpu.RemappedRowsCorrectable);
        Assert.Equal(2U, gpu.RemappedRowsUncorrectable);
        Assert.True(gpu.RemappedRowsPending);
        Assert.False(gpu.RemappedRowsFailure);
        Assert.Equal(9UL, gpu.PcieReplays);
        Assert.Equal(5, gpu.PcieLinkGeneration);
        Assert.Equal(16, gpu.PcieLinkWidth);
        Assert.Empty(gpu.NvLinks);
        Assert.NotNull(gpu.Processes);
        Assert.Empty(gpu.Processes);
        Assert.False(gpu.MigEnabled);
        Assert.Empty(gpu.MigInstances);
        Assert.Empty(gpu.XidErrors);
    }

    [Fact]
    public async Task CollectAsync_TwoReadings_EnergyCounterGrows()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "gpu.0.energy_mj=5000", "gpu.0.energy_step_mj=2500");
        var collector = CreateCollector();

        var first = (await Collect(collector)).Gpus[0].EnergyJoules;
        var second = (await Collect(collector)).Gpus[0].EnergyJoules;

        Assert.Equal(5.0, first);
        Assert.Equal(7.5, second);
    }

    [Fact]
    public async Task CollectAsync_UnsupportedReadings_AreNullNotZero()
    {
        FakeNvmlLibrary.UseScript(
            "gpus=1",
            "cuda=unsupported",
            "gpu.0.fan=unsupported",
            "gpu.0.power_mw=noperm",
            "gpu.0.energy_mj=notfound",
            "gpu.0.temp=unsupported",
            "gpu.0.mem_temp=unsupported",
            "gpu.0.memory_total=unsupported",
            "gpu.0.util_gpu=unsupported",
            "gpu.0.power_limit_mw=unsupported",
            "gpu.0.min_limit_mw=unsupported",
            "gpu.0.clock_sm=unsupported",
            "gpu.0.max_clock_sm=unsupported",
            "gpu.0.clock_reasons=unsupported",
            "gpu.0.pstate=unsupported",
            "gpu.0.ecc_corrected_volatile=unsupported",
            "gpu.0.retired_sbe=unsupported",
            "gpu.0.remapped_corr=unsupported",
            "gpu.0.pcie_replay=unsupported",
            "gpu.0.pcie_gen=err:999",
            "gpu.0.processes=unsupported",
            "gpu.0.mig=unsupported",
            "gpu.0.pci=unsupported");

        var snapshot = await Collect(CreateCollector());

        Assert.Equal("ok", snapshot.Status);
        Assert.Null(snapshot.CudaVersion);
        var gpu = Assert.Single(snapshot.Gpus);
        Assert.False(gpu.Lost);
        Assert.Equal("Fake GPU 0", gpu.Name);
        Assert.Null(gpu.PciBusId);
        Assert.Null(gpu.FanSpeedPercent);
        Assert.Null(gpu.PowerWatts);
        Assert.Null(gpu.EnergyJoules);
        Assert.Null(gpu.TemperatureCelsius);
        Assert.Null(gpu.MemoryTemperatureCelsius);
        Assert.Null(gpu.MemoryTotalBytes);
        Assert.Null(gpu.MemoryUsedBytes);
        Assert.Null(gpu.UtilizationGpuPercent);
        Assert.Null(gpu.UtilizationMemoryPercent);
        Assert.Null(gpu.PowerLimitWatts);
        Assert.Null(gpu.MinPowerLimitWatts);
        Assert.Null(gpu.MaxPowerLimitWatts);
        Assert.Null(gpu.SmClockHz);
        Assert.Null(gpu.MaxSmClockHz);
        Assert.Null(gpu.ClockEventReasons);
        Assert.Null(gpu.PerformanceState);
        Assert.Null(gpu.EccCorrectedVolatile);
        Assert.Null(gpu.RetiredPagesSingleBit);
        Assert.Null(gpu.RemappedRowsCorrectable);
        Assert.Null(gpu.RemappedRowsPending);
        Assert.Null(gpu.PcieReplays);
        Assert.Null(gpu.PcieLinkGeneration);
        Assert.Null(gpu.Processes);
        Assert.Null(gpu.MigEnabled);

        // Readings that were not marked keep their values.
        Assert.Equal(1980e6, gpu.GraphicsClockHz);
        Assert.Equal(16, gpu.PcieLinkWidth);
        Assert.Equal(0UL, gpu.EccUncorrectedVolatile);
    }

    [Fact]
    public async Task CollectAsync_LostGpu_ReportedLostOnceWhileOthersHaveReadings()
    {
        FakeNvmlLibrary.UseScript("gpus=3", "gpu.1.lost=1", "gpu.0.power_mw=100000", "gpu.2.power_mw=200000");

        var collector = CreateCollector();
        _ = await Collect(collector);
        var snapshot = await Collect(collector);

        Assert.Equal(3, snapshot.Gpus.Count);
        var lost = snapshot.Gpus[1];
        Assert.True(lost.Lost);
        Assert.Equal(1, lost.Index);
        Assert.Null(lost.PowerWatts);
        Assert.Null(lost.MemoryTotalBytes);
        Assert.False(snapshot.Gpus[0].Lost);
        Assert.Equal(100, snapshot.Gpus[0].PowerWatts);
        Assert.False(snapshot.Gpus[2].Lost);
        Assert.Equal(200, snapshot.Gpus[2].PowerWatts);
        Assert.Single(_logger.Entries, e => e.Id.Id == 1005);
    }

    [Fact]
    public async Task CollectAsync_GpuLostAfterBeingSeen_KeepsCachedIdentity()
    {
        FakeNvmlLibrary.UseScript("gpus=2", "gpu.1.name=NVIDIA A100-SXM4-80GB", "gpu.1.uuid=GPU-a100", "gpu.1.pci_bus_id=00000000:3B:00.0");
        var collector = CreateCollector();
        var before = await Collect(collector);
        Assert.False(before.Gpus[1].Lost);

        FakeNvmlLibrary.UseScript("gpus=2", "gpu.1.lost=1");
        FakeNvmlLibrary.Reload(FakeNvmlLibrary.CurrentDriverPath);
        var after = await Collect(collector);

        var lost = after.Gpus[1];
        Assert.True(lost.Lost);
        Assert.Equal("GPU-a100", lost.Uuid);
        Assert.Equal("NVIDIA A100-SXM4-80GB", lost.Name);
        Assert.Equal("00000000:3B:00.0", lost.PciBusId);
        Assert.Null(lost.TemperatureCelsius);
        Assert.False(after.Gpus[0].Lost);
        Assert.NotNull(after.Gpus[0].TemperatureCelsius);
    }

    [Fact]
    public async Task CollectAsync_XidEvents_CountedPerCodeAndKeepCounting()
    {
        FakeNvmlLibrary.UseScript("gpus=2", "xid=0:79", "xid=0:79", "xid=1:48", "xid=0:13");
        var collector = CreateCollector();

        var snapshot = await WaitFor(collector, s => Total(s) == 4);
        Assert.Equal(2UL, snapshot.Gpus[0].XidErrors[79]);
        Assert.Equal(1UL, snapshot.Gpus[0].XidErrors[13]);
        Assert.Equal(1UL, snapshot.Gpus[1].XidErrors[48]);
        Assert.False(snapshot.Gpus[1].XidErrors.ContainsKey(79));

        // A later XID adds to the count: a counter, not the last value.
        FakeNvmlLibrary.UseScript("gpus=2", "xid=0:79");
        FakeNvmlLibrary.Reload(FakeNvmlLibrary.CurrentDriverPath);
        snapshot = await WaitFor(collector, s => Total(s) == 5);
        Assert.Equal(3UL, snapshot.Gpus[0].XidErrors[79]);
        Assert.Equal(1UL, snapshot.Gpus[0].XidErrors[13]);
        Assert.Equal(79UL, snapshot.Gpus[0].LastXid);
        Assert.Equal(48UL, snapshot.Gpus[1].LastXid);

        static ulong Total(GpuSnapshot s) => (ulong)s.Gpus.Sum(g => g.XidErrors.Values.Sum(v => (decimal)v));
    }

    [Fact]
    public async Task CollectAsync_XidForGpuWithoutEventSupport_NotCounted()
    {
        FakeNvmlLibrary.UseScript("gpus=2", "gpu.1.events=unsupported", "xid=1:79", "xid=0:31");
        var collector = CreateCollector();

        var snapshot = await WaitFor(collector, s => s.Gpus[0].XidErrors.Count == 1);

        Assert.Equal(1UL, snapshot.Gpus[0].XidErrors[31]);
        Assert.Empty(snapshot.Gpus[1].XidErrors);
    }

    [Fact]
    public async Task CollectAsync_NvLinks_ReportedPerLinkInBytes()
    {
        FakeNvmlLibrary.UseScript(
            "gpus=1",
            "gpu.0.nvlinks=4",
            "gpu.0.nvlink.2.active=0",
            "gpu.0.nvlink.0.tx_kib=10",
            "gpu.0.nvlink.0.rx_kib=20",
            "gpu.0.nvlink.1.crc_flit=unsupported",
            "gpu.0.nvlink.3.replay=7");

        var gpu = (await Collect(CreateCollector())).Gpus[0];

        Assert.Equal(4, gpu.NvLinks.Count);
        Assert.Equal([0, 1, 2, 3], gpu.NvLinks.Select(l => l.Link));
        Assert.Equal([true, true, false, true], gpu.NvLinks.Select(l => l.Active));
        Assert.Equal(new NvLinkSample(0, true, 10 * 1024, 20 * 1024, 0, 10, 20) { CrcDataErrors = 30 }, gpu.NvLinks[0]);
        Assert.Null(gpu.NvLinks[1].CrcFlitErrors);
        Assert.Equal(31UL, gpu.NvLinks[1].CrcDataErrors);
        Assert.Equal(2000UL * 1024, gpu.NvLinks[1].TransmitBytes);
        Assert.Equal(4000UL * 1024, gpu.NvLinks[1].ReceiveBytes);
        Assert.Equal(7UL, gpu.NvLinks[3].ReplayErrors);
        Assert.Equal(23UL, gpu.NvLinks[3].RecoveryErrors);
    }

    [Fact]
    public async Task CollectAsync_NvLinkRemotes_ReadForActiveLinksOnly()
    {
        FakeNvmlLibrary.UseScript(
            "gpus=2",
            "gpu.0.nvlinks=3",
            "gpu.0.nvlink.0.remote=00000000:1B:00.0",
            "gpu.0.nvlink.1.remote=00000000:1C:00.0",
            "gpu.0.nvlink.1.active=0",
            "gpu.1.pci_bus_id=00000000:1B:00.0");

        var gpu = (await Collect(CreateCollector())).Gpus[0];

        Assert.Equal("00000000:1B:00.0", gpu.NvLinks[0].RemotePciBusId);
        Assert.Null(gpu.NvLinks[1].RemotePciBusId);
        Assert.Null(gpu.NvLinks[2].RemotePciBusId);
    }

    [Fact]
    public async Task CollectAsync_Processes_ListedWithNameFromProcAndMemory()
    {
        var self = (uint)Environment.ProcessId;
        FakeNvmlLibrary.UseScript("gpus=2", $"gpu.0.processes={self}:1073741824,4000000000:na");

        var snapshot = await Collect(CreateCollector());

        var processes = snapshot.Gpus[0].Processes;
        Assert.NotNull(processes);
        Assert.Equal(2, processes.Count);
        Assert.Equal(self, processes[0].Pid);
        Assert.Equal(File.ReadAllText("/proc/self/comm").TrimEnd('\n'), processes[0].Name);
        Assert.Equal(1073741824UL, processes[0].UsedMemoryBytes);
        Assert.Equal(4000000000U, processes[1].Pid);
        Assert.Null(processes[1].Name);
        Assert.Null(processes[1].UsedMemoryBytes);
        Assert.Empty(snapshot.Gpus[1].Processes!);
    }

    [Fact]
    public async Task CollectAsync_ManyProcesses_BufferGrowsToFitAll()
    {
        var list = string.Join(',', Enumerable.Range(1000, 40).Select(pid => $"{pid}:{pid}"));
        FakeNvmlLibrary.UseScript("gpus=1", $"gpu.0.processes={list}");

        var processes = (await Collect(CreateCollector())).Gpus[0].Processes;

        Assert.NotNull(processes);
        Assert.Equal(40, processes.Count);
        Assert.Equal(1039U, processes[^1].Pid);
        Assert.Equal(1039UL, processes[^1].UsedMemoryBytes);
    }

    [Fact]
    public async Task CollectAsync_MigEnabled_ReportsInstances()
    {
        FakeNvmlLibrary.UseScript(
            "gpus=2",
            "gpu.0.mig=1",
            "gpu.0.mig.0.uuid=MIG-aaaa",
            "gpu.0.mig.0.memory_total=10737418240",
            "gpu.0.mig.0.memory_used=1048576",
            "gpu.0.mig.0.gi=7",
            "gpu.0.mig.0.ci=0",
            "gpu.0.mig.3.uuid=MIG-bbbb",
            "gpu.0.mig.3.ci=unsupported");

        var snapshot = await Collect(CreateCollector());

        var gpu = snapshot.Gpus[0];
        Assert.True(gpu.MigEnabled);
        Assert.Equal(2, gpu.MigInstances.Count);
        Assert.Equal(new MigInstanceSample(0, "MIG-aaaa", 7, 0, 10737418240, 1048576), gpu.MigInstances[0]);
        Assert.Equal(3, gpu.MigInstances[1].Index);
        Assert.Equal("MIG-bbbb", gpu.MigInstances[1].Uuid);
        Assert.Equal(4U, gpu.MigInstances[1].GpuInstanceId);
        Assert.Null(gpu.MigInstances[1].ComputeInstanceId);
        Assert.False(snapshot.Gpus[1].MigEnabled);
        Assert.Empty(snapshot.Gpus[1].MigInstances);
    }

    [Fact]
    public async Task CollectAsync_InitFails_UnavailableAndRetriedAfterAMinute()
    {
        FakeNvmlLibrary.UseScript("init=9");
        var collector = CreateCollector();

        var first = await Collect(collector);
        Assert.Equal("unavailable", first.Status);
        Assert.Contains("NVML_ERROR_DRIVER_NOT_LOADED", first.Message, StringComparison.Ordinal);
        Assert.Empty(first.Gpus);

        FakeNvmlLibrary.UseScript("gpus=1");
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("unavailable", (await Collect(collector)).Status);

        _time.Advance(TimeSpan.FromSeconds(31));
        var recovered = await Collect(collector);
        Assert.Equal("ok", recovered.Status);
        Assert.Single(recovered.Gpus);
        Assert.Single(_logger.Entries, e => e.Id.Id == 1000 && e.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task CollectAsync_InitKeepsFailing_WarnsOnlyOnce()
    {
        FakeNvmlLibrary.UseScript("init=18");
        var collector = CreateCollector();

        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("unavailable", (await Collect(collector)).Status);
            _time.Advance(TimeSpan.FromMinutes(2));
        }

        Assert.Single(_logger.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Equal(2, _logger.Entries.Count(e => e.Id.Id == 1001));
    }

    [Fact]
    public async Task Dispose_AfterReadings_ShutsNvmlDownSoANewCollectorReinitialises()
    {
        FakeNvmlLibrary.UseScript("gpus=1", "xid=0:79");
        var first = CreateCollector();
        await WaitFor(first, s => s.Gpus[0].XidErrors.Count == 1);
        first.Dispose();
        await Assert.ThrowsAsync<ObjectDisposedException>(async () => await Collect(first));

        // The fake re-reads its script only on a fresh init: proof that nvmlShutdown ran.
        FakeNvmlLibrary.UseScript("gpus=2");
        var second = await Collect(CreateCollector());

        Assert.Equal("ok", second.Status);
        Assert.Equal(2, second.Gpus.Count);
        Assert.Empty(second.Gpus[0].XidErrors);
    }

    [Fact]
    public void Constructor_SecondDifferentLibraryPath_ThrowsClearError()
    {
        _ = CreateCollector();

        var error = Assert.Throws<InvalidOperationException>(() => new NvmlCollector("/opt/other/libnvidia-ml.so.1", _logger, _time));

        Assert.Contains("already set", error.Message, StringComparison.Ordinal);
        Assert.Contains("/opt/other/libnvidia-ml.so.1", error.Message, StringComparison.Ordinal);
        Assert.Contains("--nvml-library", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Name_Always_IsNvml() => Assert.Equal("nvml", CreateCollector().Name);

    [Theory]
    [InlineData(12040, "12.4")]
    [InlineData(12060, "12.6")]
    [InlineData(11080, "11.8")]
    [InlineData(13000, "13.0")]
    public void FormatCudaVersion_NvmlInteger_MajorDotMinor(int version, string expected) =>
        Assert.Equal(expected, NvmlCollector.FormatCudaVersion(version));

    [Fact]
    public void StructLayouts_MatchNvmlHeaderOnX64()
    {
        Assert.Equal(24, Unsafe.SizeOf<NvmlMemory>());
        Assert.Equal(40, Unsafe.SizeOf<NvmlMemoryV2>());
        Assert.Equal(12, Unsafe.SizeOf<NvmlTemperature>());
        Assert.Equal(8, Unsafe.SizeOf<NvmlUtilization>());
        Assert.Equal(68, Unsafe.SizeOf<NvmlPciInfo>());
        Assert.Equal(32, Unsafe.SizeOf<NvmlEventData>());
        Assert.Equal(40, Unsafe.SizeOf<NvmlFieldValue>());
    }

    [Fact]
    public void StructVersions_AreSizeOrVersionShiftedLeft24()
    {
        // The header's values, and how NVML_STRUCT_VERSION builds them from the sizes above.
        uint memoryV2 = NvmlConst.MemoryV2Version, temperatureV1 = NvmlConst.TemperatureV1Version;
        Assert.Equal(0x02000028U, memoryV2);
        Assert.Equal((uint)Unsafe.SizeOf<NvmlMemoryV2>() | (2U << 24), memoryV2);
        Assert.Equal(0x0100000CU, temperatureV1);
        Assert.Equal((uint)Unsafe.SizeOf<NvmlTemperature>() | (1U << 24), temperatureV1);
    }

    [Fact]
    public void Collect_MissingLibraryPath_UnavailableWithClearMessage()
    {
        var snapshots = IsolatedNvml.Collect("/nonexistent/gantry/libnvidia-ml.so.1", collects: 2);

        Assert.All(snapshots, s =>
        {
            Assert.Equal("unavailable", s.Status);
            Assert.Empty(s.Gpus);
            Assert.StartsWith("NVML library /nonexistent/gantry/libnvidia-ml.so.1 could not be loaded", s.Message, StringComparison.Ordinal);
        });
    }

    [Fact]
    public void Collect_DefaultLibraryAbsent_SaysNoNvidiaDriver()
    {
        var snapshots = IsolatedNvml.Collect(null, collects: 1);

        var snapshot = Assert.Single(snapshots);
        if (snapshot.Status == "ok")
        {
            // A machine with a real NVIDIA driver: nothing to check here.
            return;
        }

        Assert.Equal("unavailable", snapshot.Status);
        Assert.StartsWith($"NVML library {NvmlLibrary.DefaultName} not found (no NVIDIA driver?): ", snapshot.Message, StringComparison.Ordinal);
        // The loader's reason, on one line, without the runtime's advice about strace.
        Assert.DoesNotContain("strace", snapshot.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", snapshot.Message, StringComparison.Ordinal);
        if (OperatingSystem.IsLinux())
        {
            Assert.EndsWith($"{NvmlLibrary.DefaultName}: cannot open shared object file: No such file or directory", snapshot.Message, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData(
        "Unable to load shared library 'libnvidia-ml.so.1' or one of its dependencies. In order to help diagnose loading problems, consider using a tool like strace. If you're using glibc, consider setting the LD_DEBUG environment variable: \nlibnvidia-ml.so.1: cannot open shared object file: No such file or directory\n",
        "libnvidia-ml.so.1: cannot open shared object file: No such file or directory")]
    [InlineData("An attempt was made to load a program with an incorrect format.", "An attempt was made to load a program with an incorrect format.")]
    [InlineData("… environment variable:   \n  ", "… environment variable:")]
    public void LoaderReason_KeepsTheLoadersWordsOnOneLine(string message, string expected)
    {
        Assert.Equal(expected, NvmlLibrary.LoaderReason(message));
    }

    [Fact]
    public void Collect_OldDriverMissingEntryPoints_ThoseReadingsNullOthersRead()
    {
        FakeNvmlLibrary.UseScript(
            "gpus=1",
            "cuda=12040",
            "gpu.0.clock_reasons=0x4",
            "gpu.0.nvlinks=2",
            "gpu.0.power_mw=250000",
            "gpu.0.mig=1",
            "gpu.0.processes=1234:1",
            "xid=0:94");

        var snapshots = IsolatedNvml.Collect(FakeNvmlLibrary.OldDriverPath, collects: 1, waitForXids: true);

        var snapshot = snapshots[^1];
        Assert.Equal("ok", snapshot.Status);
        Assert.Null(snapshot.CudaVersion);
        Assert.Equal("550.54.15", snapshot.DriverVersion);
        var gpu = Assert.Single(snapshot.Gpus);
        Assert.False(gpu.Lost);
        Assert.Null(gpu.EnergyJoules);
        Assert.Null(gpu.RemappedRowsCorrectable);
        Assert.Null(gpu.RemappedRowsPending);
        Assert.Null(gpu.MemoryTemperatureCelsius);
        Assert.Null(gpu.Processes);
        Assert.Null(gpu.MigEnabled);
        Assert.Empty(gpu.MigInstances);
        Assert.Equal(2, gpu.NvLinks.Count);
        Assert.All(gpu.NvLinks, l => Assert.Null(l.TransmitBytes));
        Assert.All(gpu.NvLinks, l => Assert.Null(l.CrcFlitErrors));

        // The older throttle-reasons entry point stands in for clock-event reasons, and the
        // v1 event wait still delivers XIDs.
        Assert.Equal(0x4UL, gpu.ClockEventReasons);
        Assert.Equal(250, gpu.PowerWatts);
        Assert.Equal(1UL, gpu.XidErrors[94]);
    }

    /// <summary>Collects until <paramref name="done"/> holds; the XID thread delivers asynchronously.</summary>
    private static async Task<GpuSnapshot> WaitFor(NvmlCollector collector, Func<GpuSnapshot, bool> done)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        while (true)
        {
            var snapshot = await Collect(collector);
            if (done(snapshot))
            {
                return snapshot;
            }

            await Task.Delay(25, timeout.Token);
        }
    }
}
