using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Tests.Exposition;

namespace Gantry.Telemetry.Tests.Power;

public sealed class NodePowerCalculatorTests
{
    private static readonly GpuSnapshot TwoGpus = new("ok", null, "550.54", "12.4", "12.550", [TestSnapshots.Gpu(0) with { PowerWatts = 300 }, TestSnapshots.Gpu(1) with { PowerWatts = 200 }]);

    private static PowerSnapshot Rapl(double package, double dram, params PowerMeterSample[] meters) =>
        new([new RaplDomainSample(0, "package", "intel-rapl:0", package), new RaplDomainSample(0, "dram", "intel-rapl:0:0", dram), new RaplDomainSample(0, "core", "intel-rapl:0:1", package)], meters, null);

    [Fact]
    public void Calculate_GpusAndRapl_NodeIsTheirSum_CpuIsPackagePlusDram()
    {
        var previous = TestSnapshots.Full() with { Power = Rapl(1_000, 100) };
        var power = NodePowerCalculator.Calculate(previous, Rapl(2_000, 300), TwoGpus, 10, null)!;
        Assert.Equal("gpu+rapl", power.Source);
        Assert.Equal(120, power.CpuWatts!.Value, 9);
        Assert.Equal(620, power.Watts, 9);
    }

    [Fact]
    public void Calculate_Meter_NodeIsTheMeter_CpuStillFromRapl()
    {
        var previous = TestSnapshots.Full() with { Power = Rapl(1_000, 100) };
        var power = NodePowerCalculator.Calculate(previous, Rapl(2_000, 300, new PowerMeterSample("acpi", "power1", 900)), TwoGpus, 10, 800)!;
        Assert.Equal("power_meter", power.Source);
        Assert.Equal(900, power.Watts);
        Assert.Equal(120, power.CpuWatts!.Value, 9);
        Assert.True(power.AboveEnvelope);
    }

    [Fact]
    public void Calculate_NoPreviousSample_NoCpuFigure()
    {
        var power = NodePowerCalculator.Calculate(null, Rapl(2_000, 300), TwoGpus, 10, null)!;
        Assert.Equal("gpu", power.Source);
        Assert.Null(power.CpuWatts);
        Assert.Equal(500, power.Watts);
    }
}
