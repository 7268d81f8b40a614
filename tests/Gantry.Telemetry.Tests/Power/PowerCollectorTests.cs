using Gantry.Telemetry.Model;
using Gantry.Telemetry.Power;
using Gantry.Telemetry.Procfs;
using Gantry.Telemetry.Tests.Procfs;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Tests.Power;

public sealed class PowerCollectorTests
{
    private const string Range = "262143328850\n";

    private static FixtureTree TwoSockets() => new FixtureTree()
        .Write("sys/class/powercap/intel-rapl/enabled", "1\n")
        .Write("sys/class/powercap/intel-rapl:0/name", "package-0\n")
        .Write("sys/class/powercap/intel-rapl:0/energy_uj", "1000000\n")
        .Write("sys/class/powercap/intel-rapl:0/max_energy_range_uj", Range)
        .Write("sys/class/powercap/intel-rapl:0:0/name", "dram\n")
        .Write("sys/class/powercap/intel-rapl:0:0/energy_uj", "200000\n")
        .Write("sys/class/powercap/intel-rapl:0:0/max_energy_range_uj", Range)
        .Write("sys/class/powercap/intel-rapl:1/name", "package-1\n")
        .Write("sys/class/powercap/intel-rapl:1/energy_uj", "3000000\n")
        .Write("sys/class/powercap/intel-rapl:1/max_energy_range_uj", Range)
        .Write("sys/class/powercap/intel-rapl:1:0/name", "dram\n")
        .Write("sys/class/powercap/intel-rapl:1:0/energy_uj", "400000\n")
        .Write("sys/class/powercap/intel-rapl:1:0/max_energy_range_uj", Range)
        // The MMIO interface repeats package-0 and must not be counted twice.
        .Write("sys/class/powercap/intel-rapl-mmio:0/name", "package-0\n")
        .Write("sys/class/powercap/intel-rapl-mmio:0/energy_uj", "999\n");

    [Fact]
    public async Task CollectAsync_TwoSockets_DomainsNeverCollide()
    {
        using var tree = TwoSockets();
        var collector = new PowerCollector(tree.Paths, new ListLogger<PowerCollector>());

        var snapshot = await collector.CollectAsync(CancellationToken.None);

        Assert.Equal(
            [
                new RaplDomainSample(0, "package", "intel-rapl:0", 1.0),
                new RaplDomainSample(1, "package", "intel-rapl:1", 3.0),
                new RaplDomainSample(0, "dram", "intel-rapl:0:0", 0.2),
                new RaplDomainSample(1, "dram", "intel-rapl:1:0", 0.4),
            ],
            snapshot.Rapl);
        Assert.Equal(snapshot.Rapl.Count, snapshot.Rapl.Select(r => (r.Package, r.Domain)).Distinct().Count());
        Assert.Null(snapshot.PermissionNote);
        Assert.Empty(snapshot.Meters);
    }

    [Fact]
    public async Task CollectAsync_PsysAndCoreSubzones_NamedByDomain()
    {
        using var tree = new FixtureTree()
            .Write("sys/class/powercap/intel-rapl:0/name", "package-0\n")
            .Write("sys/class/powercap/intel-rapl:0/energy_uj", "5\n")
            .Write("sys/class/powercap/intel-rapl:0:0/name", "core\n")
            .Write("sys/class/powercap/intel-rapl:0:0/energy_uj", "6\n")
            .Write("sys/class/powercap/intel-rapl:0:1/name", "uncore\n")
            .Write("sys/class/powercap/intel-rapl:0:1/energy_uj", "7\n")
            .Write("sys/class/powercap/intel-rapl:1/name", "psys\n")
            .Write("sys/class/powercap/intel-rapl:1/energy_uj", "8\n")
            .Write("sys/class/powercap/amd-rapl:0/name", "package-0\n")
            .Write("sys/class/powercap/amd-rapl:0/energy_uj", "9\n");

        var snapshot = await new PowerCollector(tree.Paths, new ListLogger<PowerCollector>()).CollectAsync(CancellationToken.None);

        Assert.Equal(
            ["amd-rapl:0 0 package", "intel-rapl:0 0 package", "intel-rapl:1 0 psys", "intel-rapl:0:0 0 core", "intel-rapl:0:1 0 uncore"],
            snapshot.Rapl.Select(r => $"{r.Zone} {r.Package} {r.Domain}"));
    }

    [Fact]
    public async Task CollectAsync_CounterWraps_EnergyKeepsGrowing()
    {
        using var tree = new FixtureTree()
            .Write("sys/class/powercap/intel-rapl:0/name", "package-0\n")
            .Write("sys/class/powercap/intel-rapl:0/energy_uj", "9000000\n")
            .Write("sys/class/powercap/intel-rapl:0/max_energy_range_uj", "10000000\n");
        var collector = new PowerCollector(tree.Paths, new ListLogger<PowerCollector>());

        var first = await collector.CollectAsync(CancellationToken.None);
        tree.Write("sys/class/powercap/intel-rapl:0/energy_uj", "1000000\n");
        var second = await collector.CollectAsync(CancellationToken.None);
        tree.Write("sys/class/powercap/intel-rapl:0/energy_uj", "4000000\n");
        var third = await collector.CollectAsync(CancellationToken.None);

        Assert.Equal(9.0, Assert.Single(first.Rapl).EnergyJoules, 9);
        Assert.Equal(11.0, Assert.Single(second.Rapl).EnergyJoules, 9);
        Assert.Equal(14.0, Assert.Single(third.Rapl).EnergyJoules, 9);
    }

    [Fact]
    public async Task CollectAsync_EnergyNotReadable_NotesPermissionAndLogsOnce()
    {
        using var tree = TwoSockets()
            .Write("sys/class/hwmon/hwmon0/name", "power_meter\n")
            .Write("sys/class/hwmon/hwmon0/power1_average", "350000000\n");
        var logger = new ListLogger<PowerCollector>();
        // Tests run as root, for whom a mode-000 file still reads: the reader denies instead,
        // as the kernel does for energy_uj since Linux 5.10.
        var collector = new PowerCollector(tree.Paths, logger, path => path.EndsWith("energy_uj", StringComparison.Ordinal)
            ? throw new UnauthorizedAccessException($"Access to the path '{path}' is denied.")
            : KernelFile.TryReadText(path));

        var first = await collector.CollectAsync(CancellationToken.None);
        var second = await collector.CollectAsync(CancellationToken.None);

        Assert.Empty(first.Rapl);
        Assert.Equal(PowerCollector.RaplPermissionNote, first.PermissionNote);
        Assert.Equal(PowerCollector.RaplPermissionNote, second.PermissionNote);
        Assert.Single(second.Meters);
        var warning = Assert.Single(logger.Entries, e => e.Level == LogLevel.Warning);
        Assert.Equal(1100, warning.EventId.Id);
        Assert.IsType<UnauthorizedAccessException>(warning.Exception);
    }

    [Fact]
    public async Task CollectAsync_HwmonPowerMeters_ReadsWatts()
    {
        using var tree = new FixtureTree()
            .Write("sys/class/hwmon/hwmon0/name", "power_meter\n")
            .Write("sys/class/hwmon/hwmon0/power1_average", "412500000\n")
            .Write("sys/class/hwmon/hwmon0/power1_average_interval", "1000\n")
            .Write("sys/class/hwmon/hwmon1/name", "coretemp\n")
            .Write("sys/class/hwmon/hwmon1/temp1_input", "40000\n")
            .Write("sys/class/hwmon/hwmon2/name", "amdgpu\n")
            .Write("sys/class/hwmon/hwmon2/power1_input", "15000000\n")
            .Write("sys/class/hwmon/hwmon2/power1_average", "99\n")
            .Write("sys/class/hwmon/hwmon2/power1_label", "PPT\n")
            .Write("sys/class/hwmon/hwmon2/power2_average", "2500000\n");

        var snapshot = await new PowerCollector(tree.Paths, new ListLogger<PowerCollector>()).CollectAsync(CancellationToken.None);

        Assert.Equal(
            [
                new PowerMeterSample("power_meter", "power1", 412.5),
                new PowerMeterSample("amdgpu", "PPT", 15.0),
                new PowerMeterSample("amdgpu", "power2", 2.5),
            ],
            snapshot.Meters);
        Assert.Empty(snapshot.Rapl);
        Assert.Null(snapshot.PermissionNote);
    }

    [Fact]
    public async Task CollectAsync_NoPowercapOrHwmon_ReturnsEmptySnapshot()
    {
        using var tree = new FixtureTree();

        var snapshot = await new PowerCollector(tree.Paths, new ListLogger<PowerCollector>()).CollectAsync(CancellationToken.None);

        Assert.Empty(snapshot.Rapl);
        Assert.Empty(snapshot.Meters);
        Assert.Null(snapshot.PermissionNote);
    }

    [Fact]
    public async Task CollectAsync_LiveMachine_DoesNotThrow()
    {
        var snapshot = await new PowerCollector(Collection.HostPaths.Live, new ListLogger<PowerCollector>()).CollectAsync(CancellationToken.None);

        // Machines without RAPL (VMs, ARM) report nothing; those with it report growing energy.
        foreach (var domain in snapshot.Rapl)
        {
            Assert.True(domain.EnergyJoules >= 0);
        }
    }
}

/// <summary>Keeps what was logged, for assertions.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    public List<(LogLevel Level, EventId EventId, string Message, Exception? Exception)> Entries { get; } = [];

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (Entries)
        {
            Entries.Add((logLevel, eventId, formatter(state, exception), exception));
        }
    }
}
