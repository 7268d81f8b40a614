using Gantry.Telemetry.Model;
using Gantry.Telemetry.Power;
using Gantry.Telemetry.Simulation;
using Gantry.Testing;

namespace Gantry.Telemetry.Tests.Simulation;

public sealed class SimulatedGpuCollectorTests
{
    private static async Task<GpuSnapshot> Collect(SimulatedGpuCollector collector) =>
        await collector.CollectAsync(CancellationToken.None);

    [Fact]
    public async Task CollectAsync_Always_MarksEverythingSimulated()
    {
        var collector = new SimulatedGpuCollector(3, new FakeTimeProvider());

        var snapshot = await Collect(collector);

        Assert.Equal("simulated-gpus", collector.Name);
        Assert.Equal("simulated", snapshot.Status);
        Assert.Equal("3 simulated GPUs (--simulate-gpus); no real GPU is measured", snapshot.Message);
        Assert.Null(snapshot.DriverVersion);
        Assert.Null(snapshot.CudaVersion);
        Assert.Null(snapshot.NvmlVersion);
        Assert.All(snapshot.Gpus, g =>
        {
            Assert.True(g.Simulated);
            Assert.False(g.Lost);
            Assert.StartsWith("Simulated ", g.Name, StringComparison.Ordinal);
            Assert.StartsWith("GPU-sim-", g.Uuid, StringComparison.Ordinal);
        });
    }

    [Theory]
    [InlineData(1)]
    [InlineData(8)]
    [InlineData(12)]
    public async Task CollectAsync_Count_HonouredWithDistinctIdentities(int count)
    {
        var snapshot = await Collect(new SimulatedGpuCollector(count, new FakeTimeProvider()));

        Assert.Equal(count, snapshot.Gpus.Count);
        Assert.Equal(Enumerable.Range(0, count), snapshot.Gpus.Select(g => g.Index));
        Assert.Equal(count, snapshot.Gpus.Select(g => g.Uuid).Distinct().Count());
        Assert.Equal(count, snapshot.Gpus.Select(g => g.PciBusId).Distinct().Count());
    }

    [Fact]
    public async Task CollectAsync_CountZero_EmptyList()
    {
        var snapshot = await Collect(new SimulatedGpuCollector(0, new FakeTimeProvider()));

        Assert.Equal("simulated", snapshot.Status);
        Assert.Empty(snapshot.Gpus);
    }

    [Theory]
    [InlineData(-1)]
    [InlineData(SimulatedGpuCollector.MaxCount + 1)]
    public void Ctor_CountOutOfRange_Throws(int count) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new SimulatedGpuCollector(count, new FakeTimeProvider()));

    [Fact]
    public async Task CollectAsync_Uuids_StableAcrossSeedsAndSamples()
    {
        var clock = new FakeTimeProvider();
        var a = new SimulatedGpuCollector(2, clock, seed: 1);
        var b = new SimulatedGpuCollector(2, clock, seed: 2);

        var first = await Collect(a);
        clock.Advance(TimeSpan.FromMinutes(5));
        var later = await Collect(a);
        var other = await Collect(b);

        Assert.Equal(first.Gpus.Select(g => g.Uuid), later.Gpus.Select(g => g.Uuid));
        Assert.Equal(first.Gpus.Select(g => g.Uuid), other.Gpus.Select(g => g.Uuid));
    }

    [Fact]
    public async Task CollectAsync_OverAnHour_ReadingsStayInRange()
    {
        var clock = new FakeTimeProvider();
        var collector = new SimulatedGpuCollector(4, clock, seed: 7);

        for (var i = 0; i < 3600; i += 5)
        {
            var snapshot = await Collect(collector);
            foreach (var g in snapshot.Gpus)
            {
                Assert.InRange(g.UtilizationGpuPercent!.Value, 0, 100);
                Assert.InRange(g.UtilizationMemoryPercent!.Value, 0, 100);
                Assert.InRange(g.PowerWatts!.Value, 60, 700);
                Assert.Equal(700, g.PowerLimitWatts);
                Assert.InRange(g.TemperatureCelsius!.Value, 30, 85);
                Assert.Equal(g.MemoryTotalBytes, g.MemoryUsedBytes + g.MemoryFreeBytes);
                Assert.InRange(g.MemoryUsedBytes!.Value, 1UL, g.MemoryTotalBytes!.Value);
                Assert.InRange(g.SmClockHz!.Value, 300e6, g.MaxSmClockHz!.Value);
                Assert.Equal(g.SmClockHz, g.GraphicsClockHz);
                Assert.True(g.MemoryClockHz > 0);
                Assert.Contains(g.PerformanceState, new int?[] { 0, 8 });
                Assert.Null(g.FanSpeedPercent);
                Assert.Equal(0UL, g.EccUncorrectedVolatile);
                Assert.Equal(0UL, g.EccCorrectedAggregate);
                Assert.Equal(0UL, g.PcieReplays);
                Assert.Equal(5, g.PcieLinkGeneration);
                Assert.Equal(16, g.PcieLinkWidth);
                Assert.Equal(18, g.NvLinks.Count);
                Assert.All(g.NvLinks, l => Assert.True(l.Active));
                Assert.False(g.MigEnabled);
                Assert.Empty(g.MigInstances);
                Assert.Empty(g.Processes!);
                Assert.Empty(g.XidErrors);
                // Only gpu_idle and sw_power_cap are ever raised.
                Assert.Equal(0UL, g.ClockEventReasons!.Value & ~0x5UL);
                Assert.Equal(g.PerformanceState == 8, (g.ClockEventReasons.Value & 0x1) != 0);
            }

            clock.Advance(TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public async Task CollectAsync_OverAnHour_VisitsIdleAndBusyPhases()
    {
        var clock = new FakeTimeProvider();
        var collector = new SimulatedGpuCollector(4, clock, seed: 3);
        bool sawIdle = false, sawBusy = false, sawPowerCap = false;

        for (var i = 0; i < 3600; i += 5)
        {
            foreach (var g in (await Collect(collector)).Gpus)
            {
                sawIdle |= g.PerformanceState == 8;
                sawBusy |= g.UtilizationGpuPercent >= 90;
                sawPowerCap |= (g.ClockEventReasons & 0x4) != 0;
            }

            clock.Advance(TimeSpan.FromSeconds(5));
        }

        Assert.True(sawIdle);
        Assert.True(sawBusy);
        Assert.True(sawPowerCap);
    }

    [Fact]
    public async Task CollectAsync_EverySecond_EnergyGrowsByPowerTimesTime()
    {
        var clock = new FakeTimeProvider();
        var collector = new SimulatedGpuCollector(2, clock, seed: 11);
        var previous = await Collect(collector);

        for (var i = 0; i < 600; i++)
        {
            clock.Advance(TimeSpan.FromSeconds(1));
            var current = await Collect(collector);
            for (var g = 0; g < current.Gpus.Count; g++)
            {
                var delta = current.Gpus[g].EnergyJoules!.Value - previous.Gpus[g].EnergyJoules!.Value;
                Assert.True(delta > 0);
                // Each one-second step counts that step's power.
                Assert.Equal(current.Gpus[g].PowerWatts!.Value, delta, 0.01);
            }

            previous = current;
        }
    }

    [Fact]
    public async Task CollectAsync_LongIntervals_EnergyMonotonicAndWithinPowerBounds()
    {
        var clock = new FakeTimeProvider();
        var collector = new SimulatedGpuCollector(3, clock, seed: 5);
        var previous = await Collect(collector);

        foreach (var seconds in new[] { 0.4, 0.6, 15, 60, 7200 })
        {
            clock.Advance(TimeSpan.FromSeconds(seconds));
            var current = await Collect(collector);
            for (var g = 0; g < current.Gpus.Count; g++)
            {
                var delta = current.Gpus[g].EnergyJoules!.Value - previous.Gpus[g].EnergyJoules!.Value;
                Assert.True(delta >= 0);
                var wholeSeconds = Math.Floor(clock.GetElapsedTime(0).TotalSeconds)
                    - Math.Floor(clock.GetElapsedTime(0).TotalSeconds - seconds);
                Assert.InRange(delta, 65 * wholeSeconds - 0.01, 700 * wholeSeconds + 0.01);
            }

            previous = current;
        }
    }

    [Fact]
    public async Task CollectAsync_OverTime_ReadingsChange()
    {
        var clock = new FakeTimeProvider();
        var collector = new SimulatedGpuCollector(1, clock);
        var first = (await Collect(collector)).Gpus[0];

        clock.Advance(TimeSpan.FromMinutes(3));
        var later = (await Collect(collector)).Gpus[0];

        Assert.NotEqual(first.EnergyJoules, later.EnergyJoules);
        Assert.NotEqual(first.PowerWatts, later.PowerWatts);
        Assert.NotEqual(first.NvLinks[0].TransmitBytes, later.NvLinks[0].TransmitBytes);
        Assert.True(later.NvLinks[0].TransmitBytes > first.NvLinks[0].TransmitBytes);
    }

    [Fact]
    public async Task CollectAsync_NoTimePassed_SameReadings()
    {
        var clock = new FakeTimeProvider();
        var collector = new SimulatedGpuCollector(2, clock);
        clock.Advance(TimeSpan.FromSeconds(30));

        var a = await Collect(collector);
        var b = await Collect(collector);

        Assert.Equal(a.Gpus.Select(g => (g.PowerWatts, g.EnergyJoules, g.TemperatureCelsius)),
            b.Gpus.Select(g => (g.PowerWatts, g.EnergyJoules, g.TemperatureCelsius)));
    }

    [Fact]
    public async Task CollectAsync_SameSeedAndClock_SameReadingsHoweverOftenCalled()
    {
        var clockA = new FakeTimeProvider();
        var clockB = new FakeTimeProvider();
        var a = new SimulatedGpuCollector(3, clockA, seed: 42);
        var b = new SimulatedGpuCollector(3, clockB, seed: 42);

        for (var i = 0; i < 120; i++)
        {
            clockA.Advance(TimeSpan.FromSeconds(1));
            await Collect(a);
        }

        clockB.Advance(TimeSpan.FromSeconds(120));
        var sa = await Collect(a);
        var sb = await Collect(b);

        Assert.Equal(Readings(sa), Readings(sb));
    }

    [Fact]
    public async Task CollectAsync_DifferentSeeds_DifferentReadings()
    {
        var clock = new FakeTimeProvider();
        var a = new SimulatedGpuCollector(2, clock, seed: 1);
        var b = new SimulatedGpuCollector(2, clock, seed: 2);
        clock.Advance(TimeSpan.FromSeconds(60));

        Assert.NotEqual(Readings(await Collect(a)), Readings(await Collect(b)));
    }

    [Fact]
    public async Task CollectAsync_Cancelled_Throws()
    {
        using var cts = new CancellationTokenSource();
        await cts.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(
            async () => await new SimulatedGpuCollector(1, new FakeTimeProvider()).CollectAsync(cts.Token));
    }

    [Fact]
    public async Task ReadEnergy_BetweenSamples_TheCounterAdvancesWithTheClockAndMatchesTheSample()
    {
        var clock = new FakeTimeProvider();
        var collector = new SimulatedGpuCollector(2, clock);
        IGpuEnergyReader reader = collector;

        var before = reader.ReadEnergy(1)!.Value;
        clock.Advance(TimeSpan.FromSeconds(5));
        var after = reader.ReadEnergy(1)!.Value;
        var sample = (await Collect(collector)).Gpus[1];

        Assert.True(after.EnergyJoules > before.EnergyJoules, $"{after.EnergyJoules} after 5 s, {before.EnergyJoules} before");
        Assert.InRange(after.EnergyJoules!.Value - before.EnergyJoules!.Value, 5 * SimulatedGpuCollector.MinPowerWatts, 5 * 1000);
        Assert.Equal(sample.EnergyJoules, after.EnergyJoules);
        Assert.Equal(sample.PowerWatts, after.PowerWatts);
        Assert.Null(reader.ReadEnergy(2));
    }

    private static string Readings(GpuSnapshot snapshot) => string.Join(
        ";",
        snapshot.Gpus.Select(g => FormattableString.Invariant(
            $"{g.UtilizationGpuPercent}/{g.PowerWatts}/{g.EnergyJoules}/{g.TemperatureCelsius}/{g.MemoryUsedBytes}/{g.SmClockHz}/{g.NvLinks[3].ReceiveBytes}")));
}
