using Gantry.Telemetry.Procfs;

namespace Gantry.Telemetry.Tests.Procfs;

public sealed class TemperatureCollectorTests
{
    [Fact]
    public async Task CollectAsync_HwmonAndThermalZones_ReadsCelsius()
    {
        using var tree = new FixtureTree()
            // sysfs class folders are links into /sys/devices.
            .Link("sys/class/hwmon/hwmon0", "sys/devices/platform/coretemp.0/hwmon/hwmon0")
            .Write("sys/class/hwmon/hwmon0/name", "coretemp\n")
            .Write("sys/class/hwmon/hwmon0/temp1_input", "45000\n")
            .Write("sys/class/hwmon/hwmon0/temp1_label", "Package id 0\n")
            .Write("sys/class/hwmon/hwmon0/temp2_input", "41500\n")
            .Write("sys/class/hwmon/hwmon0/temp2_max", "100000\n")
            .Write("sys/class/hwmon/hwmon2/name", "acpitz\n")
            .Write("sys/class/hwmon/hwmon2/temp1_input", "-5000\n")
            .Write("sys/class/thermal/thermal_zone0/type", "x86_pkg_temp\n")
            .Write("sys/class/thermal/thermal_zone0/temp", "47000\n")
            .Write("sys/class/thermal/thermal_zone1/type", "acpitz\n")
            .Write("sys/class/thermal/cooling_device0/type", "Processor\n");

        var samples = await new TemperatureCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Equal(
            [
                new("hwmon", "coretemp", "Package id 0", 45.0),
                new("hwmon", "coretemp", "temp2", 41.5),
                new("hwmon", "acpitz", "temp1", -5.0),
                new Model.TemperatureSample("thermal_zone", "thermal_zone0", "x86_pkg_temp", 47.0),
            ],
            samples);
    }

    [Fact]
    public async Task CollectAsync_TwoChipsShareName_ChipsKeptApart()
    {
        using var tree = new FixtureTree()
            .Write("sys/class/hwmon/hwmon10/name", "coretemp\n")
            .Write("sys/class/hwmon/hwmon10/temp1_input", "50000\n")
            .Write("sys/class/hwmon/hwmon10/temp1_label", "Package id 1\n")
            .Write("sys/class/hwmon/hwmon3/name", "coretemp\n")
            .Write("sys/class/hwmon/hwmon3/temp1_input", "40000\n")
            .Write("sys/class/hwmon/hwmon3/temp1_label", "Package id 0\n")
            .Write("sys/class/hwmon/hwmon4/temp1_input", "30000\n");

        var samples = await new TemperatureCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Equal(["coretemp-hwmon3", "hwmon4", "coretemp-hwmon10"], samples.Select(s => s.Chip));
    }

    [Fact]
    public async Task CollectAsync_NoSensors_ReturnsEmpty()
    {
        using var tree = new FixtureTree();

        var samples = await new TemperatureCollector(tree.Paths).CollectAsync(CancellationToken.None);

        Assert.Empty(samples);
    }
}
