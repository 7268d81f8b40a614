using Gantry.Telemetry.Apps;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Tests.Apps;

public sealed class AppRateCalculatorTests
{
    private const string Url = "http://127.0.0.1:8000/metrics";

    private static AppScrape Up(double? prompt, double? generated, string kind = "vllm") => new(Url, kind, true, null, prompt, generated);

    [Fact]
    public void Calculate_FirstSample_TotalsWithoutRates()
    {
        var sample = AppRateCalculator.Calculate(null, Up(100, 50), 10, 1000);

        Assert.Equal(new AppSample(Url, "vllm", true, null, 100, 50, null, null, null, null), sample);
    }

    [Fact]
    public void Calculate_TwoSamples_RatesKeptApart()
    {
        var sample = AppRateCalculator.Calculate(Up(100, 50), Up(1100, 250), 10, 4000);

        Assert.Equal(100, sample.PromptTokensPerSecond);
        Assert.Equal(20, sample.GeneratedTokensPerSecond);
        Assert.Equal(0.25, sample.PromptTokensPerJoule);
        Assert.Equal(0.05, sample.GeneratedTokensPerJoule);
        Assert.Equal(1100, sample.PromptTokensTotal);
        Assert.Equal(250, sample.GeneratedTokensTotal);
    }

    [Fact]
    public void Calculate_NoTokensInInterval_ZeroRates()
    {
        var sample = AppRateCalculator.Calculate(Up(100, 50), Up(100, 50), 5, 500);

        Assert.Equal(0, sample.PromptTokensPerSecond);
        Assert.Equal(0, sample.GeneratedTokensPerSecond);
        Assert.Equal(0, sample.GeneratedTokensPerJoule);
    }

    [Theory]
    [InlineData(null)]
    [InlineData(0.0)]
    [InlineData(-3.0)]
    [InlineData(double.NaN)]
    public void Calculate_NoUsableEnergy_RatesButNoTokensPerJoule(double? energy)
    {
        var sample = AppRateCalculator.Calculate(Up(0, 0), Up(10, 20), 2, energy);

        Assert.Equal(5, sample.PromptTokensPerSecond);
        Assert.Equal(10, sample.GeneratedTokensPerSecond);
        Assert.Null(sample.PromptTokensPerJoule);
        Assert.Null(sample.GeneratedTokensPerJoule);
    }

    [Fact]
    public void Calculate_CounterWentBackwards_NoRates()
    {
        // The server restarted: generated fell back, prompt happens to have grown past the old value.
        var sample = AppRateCalculator.Calculate(Up(100, 5000), Up(150, 20), 10, 1000);

        Assert.Equal(new AppSample(Url, "vllm", true, null, 150, 20, null, null, null, null), sample);
    }

    [Fact]
    public void Calculate_AfterRestart_RatesResume()
    {
        var sample = AppRateCalculator.Calculate(Up(150, 20), Up(250, 120), 10, 1000);

        Assert.Equal(10, sample.PromptTokensPerSecond);
        Assert.Equal(10, sample.GeneratedTokensPerSecond);
    }

    [Fact]
    public void Calculate_PreviousDown_NoRates()
    {
        var sample = AppRateCalculator.Calculate(AppScrape.Down(Url, "refused"), Up(10, 10), 10, 100);

        Assert.Null(sample.PromptTokensPerSecond);
        Assert.Null(sample.GeneratedTokensPerSecond);
    }

    [Fact]
    public void Calculate_CurrentDown_ErrorKeptNoTotalsNoRates()
    {
        var sample = AppRateCalculator.Calculate(Up(10, 10), AppScrape.Down(Url, "timed out after 3 s"), 10, 100);

        Assert.Equal(new AppSample(Url, null, false, "timed out after 3 s", null, null, null, null, null, null), sample);
    }

    [Fact]
    public void Calculate_KindChanged_NoRates()
    {
        var sample = AppRateCalculator.Calculate(Up(10, 10, "tgi"), Up(20, 20, "vllm"), 10, 100);

        Assert.Null(sample.PromptTokensPerSecond);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-1.0)]
    public void Calculate_NoTimePassed_NoRates(double elapsed)
    {
        var sample = AppRateCalculator.Calculate(Up(10, 10), Up(20, 20), elapsed, 100);

        Assert.Null(sample.PromptTokensPerSecond);
        Assert.Null(sample.GeneratedTokensPerJoule);
    }

    [Fact]
    public void Calculate_OneCounterMissing_OnlyTheOtherRate()
    {
        var sample = AppRateCalculator.Calculate(Up(null, 10, "tgi"), Up(null, 30, "tgi"), 2, 10);

        Assert.Null(sample.PromptTokensPerSecond);
        Assert.Null(sample.PromptTokensPerJoule);
        Assert.Equal(10, sample.GeneratedTokensPerSecond);
        Assert.Equal(2, sample.GeneratedTokensPerJoule);
    }

    private static GpuSample Gpu(int index, double? energy, bool lost = false, string? uuid = null) =>
        new() { Index = index, Uuid = uuid ?? $"GPU-{index}", Name = "test", EnergyJoules = energy, Lost = lost };

    private static GpuSnapshot Snapshot(params GpuSample[] gpus) => new("ok", null, null, null, null, gpus);

    [Fact]
    public void SumEnergyJoules_SkipsLostAndUnreported()
    {
        Assert.Equal(300, AppRateCalculator.SumEnergyJoules(Snapshot(Gpu(0, 100), Gpu(1, 200), Gpu(2, null), Gpu(3, 999, lost: true))));
    }

    [Fact]
    public void SumEnergyJoules_NoneReported_Null()
    {
        Assert.Null(AppRateCalculator.SumEnergyJoules(Snapshot(Gpu(0, null))));
        Assert.Null(AppRateCalculator.SumEnergyJoules(Snapshot()));
        Assert.Null(AppRateCalculator.SumEnergyJoules(GpuSnapshot.Unavailable("no NVML")));
    }

    [Fact]
    public void EnergyDeltaJoules_MatchesByUuid()
    {
        var before = Snapshot(Gpu(0, 100, uuid: "A"), Gpu(1, 200, uuid: "B"), Gpu(2, 300, uuid: "C"));
        // B fell off the bus, C moved, D is new.
        var after = Snapshot(Gpu(0, 150, uuid: "A"), Gpu(1, 260, lost: true, uuid: "B"), Gpu(2, 9999, uuid: "D"), Gpu(3, 310, uuid: "C"));

        Assert.Equal(60, AppRateCalculator.EnergyDeltaJoules(before, after));
    }

    [Fact]
    public void EnergyDeltaJoules_CounterWentBackwards_Null()
    {
        Assert.Null(AppRateCalculator.EnergyDeltaJoules(Snapshot(Gpu(0, 100), Gpu(1, 500)), Snapshot(Gpu(0, 150), Gpu(1, 5))));
    }

    [Fact]
    public void EnergyDeltaJoules_NothingComparable_Null()
    {
        Assert.Null(AppRateCalculator.EnergyDeltaJoules(Snapshot(Gpu(0, null)), Snapshot(Gpu(0, 10))));
        Assert.Null(AppRateCalculator.EnergyDeltaJoules(GpuSnapshot.Unavailable("x"), GpuSnapshot.Unavailable("x")));
    }
}
