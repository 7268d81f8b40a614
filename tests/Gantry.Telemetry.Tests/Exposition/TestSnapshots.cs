using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Tests.Exposition;

/// <summary>Hand-built snapshots that exercise every family the renderers write.</summary>
internal static class TestSnapshots
{
    public static GpuSample Gpu(int index, bool simulated = false) => new()
    {
        Index = index,
        Uuid = $"GPU-0000000{index}-aaaa-bbbb-cccc-dddddddddddd",
        Name = "NVIDIA H100 80GB HBM3",
        PciBusId = $"00000000:{index + 0x18:X2}:00.0",
        Simulated = simulated,
        MemoryTotalBytes = 85_899_345_920,
        MemoryUsedBytes = 1_073_741_824,
        MemoryFreeBytes = 84_825_604_096,
        UtilizationGpuPercent = 87,
        UtilizationMemoryPercent = 40,
        TemperatureCelsius = 61,
        MemoryTemperatureCelsius = 70,
        PowerWatts = 512.25,
        EnergyJoules = 123_456.789,
        PowerLimitWatts = 700,
        EnforcedPowerLimitWatts = 700,
        DefaultPowerLimitWatts = 700,
        MinPowerLimitWatts = 200,
        MaxPowerLimitWatts = 700,
        SmClockHz = 1_980_000_000,
        MemoryClockHz = 2_619_000_000,
        GraphicsClockHz = 1_980_000_000,
        MaxSmClockHz = 1_980_000_000,
        ClockEventReasons = 0x4 | 0x20,
        PerformanceState = 0,
        FanSpeedPercent = null,
        EccCorrectedVolatile = 2,
        EccUncorrectedVolatile = 0,
        EccCorrectedAggregate = 10,
        EccUncorrectedAggregate = 0,
        RemappedRowsCorrectable = 1,
        RemappedRowsUncorrectable = 0,
        RemappedRowsPending = false,
        RemappedRowsFailure = false,
        PcieReplays = 3,
        PcieLinkGeneration = 5,
        PcieLinkWidth = 16,
        NvLinks = [new NvLinkSample(0, true, 1000, 2000, 0, 1, 0), new NvLinkSample(1, false, null, null, null, null, null)],
        Processes = [new GpuProcessSample(4242, "python3", 1_073_741_824)],
        XidErrors = new Dictionary<ulong, ulong> { [79] = 2, [48] = 1 },
        LastXid = 79,
        MigEnabled = false,
    };

    public static NodeSnapshot Full(bool simulated = false, bool withLostGpu = true)
    {
        var gpus = new List<GpuSample> { Gpu(0, simulated), Gpu(1, simulated) };
        if (withLostGpu)
        {
            gpus.Add(new GpuSample { Index = 2, Uuid = "GPU-lost", Name = "NVIDIA H100 80GB HBM3", Lost = true });
        }

        return new NodeSnapshot
        {
            Sequence = 7,
            Timestamp = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero),
            Host = new HostSnapshot(
                "node-1", "linux", "x64", "6.1.0",
                new CpuSample([new CpuCoreTimes(0, 10.5, 0, 3, 100, 1, 0, 0.25, 0), new CpuCoreTimes(1, 9, 0, 2, 101, 0, 0, 0, 0)], 0.5, 0.25, 0.125, 123456, 999, 500, 2, 0, 1_700_000_000, 2),
                new MemorySample(24_000_000_000, 20_000_000_000, 18_000_000_000, 1_000_000_000, 100_000_000, 0, 0),
                [new DiskSample("sda", 10, 20, 4096, 8192, 0.5, 1.5, 2, 0)],
                [new FilesystemSample("/dev/sda1", "/", "ext4", 100_000, 50_000, 40_000, 1000, 900, false)],
                [new NetworkSample("eth0", 100, 200, 1, 2, 0, 0, 0, 0, true), new NetworkSample("lo", 5, 5, null, null, null, null, null, null, null)],
                [new TemperatureSample("hwmon", "coretemp", "Package id 0", 55), new TemperatureSample("thermal_zone", "thermal_zone0", "x86_pkg_temp", 54)]),
            Power = new PowerSnapshot(
                [new RaplDomainSample(0, "package", "intel-rapl:0", 1234.5), new RaplDomainSample(0, "dram", "intel-rapl:0:0", 200), new RaplDomainSample(1, "package", "intel-rapl:1", 1100)],
                [new PowerMeterSample("power_meter", "power1", 850)],
                null),
            Gpus = new GpuSnapshot(simulated ? "simulated" : "ok", null, "550.54.15", "12.4", "12.550.54.15", gpus),
            Apps = [new AppSample("http://127.0.0.1:8000/metrics", "vllm", true, null, 1000, 5000, 10, 50, 0.02, 0.1)],
            NodePower = new NodePowerSample(850, "power_meter", 800, true),
            Collectors = [new CollectorStatus("cpu", true, 0.001, 0, null, null), new CollectorStatus("nvml", false, 4, 3, "timed out after 4s", new DateTimeOffset(2026, 11, 23, 11, 59, 0, TimeSpan.Zero))],
            Self = new SelfSample("0.1.0", new DateTimeOffset(2026, 11, 23, 11, 0, 0, TimeSpan.Zero), 1.5, 30_000_000, 4_000_000, 7),
        };
    }
}
