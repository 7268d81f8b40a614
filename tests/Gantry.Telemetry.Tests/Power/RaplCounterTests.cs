using Gantry.Telemetry.Power;

namespace Gantry.Telemetry.Tests.Power;

public sealed class RaplCounterTests
{
    [Fact]
    public void Update_FirstReading_EqualsRawValue()
    {
        var counter = new RaplCounter();

        var joules = counter.Update(123_456_789, 262_143_328_850, out var reset);

        Assert.Equal(123.456789, joules, 9);
        Assert.False(reset);
    }

    [Fact]
    public void Update_GrowingReadings_AccumulatesDeltas()
    {
        var counter = new RaplCounter();
        counter.Update(1_000_000, 10_000_000, out _);

        counter.Update(3_000_000, 10_000_000, out _);
        var joules = counter.Update(3_500_000, 10_000_000, out _);

        Assert.Equal(3.5, joules, 9);
    }

    [Fact]
    public void Update_RawWentDown_AddsMaxRange()
    {
        var counter = new RaplCounter();
        counter.Update(9_000_000, 10_000_000, out _);

        // 9 J → wrap at 10 J → 0.5 J: 1.5 J more.
        var joules = counter.Update(500_000, 10_000_000, out var reset);

        Assert.Equal(10.5, joules, 9);
        Assert.False(reset);
    }

    [Fact]
    public void Update_SeveralWraps_NeverDecreases()
    {
        var counter = new RaplCounter();
        var previous = 0.0;
        ulong raw = 0;
        for (var i = 0; i < 50; i++)
        {
            raw = (raw + 3_700_000) % 10_000_000;
            var joules = counter.Update(raw, 10_000_000, out _);
            Assert.True(joules >= previous);
            previous = joules;
        }

        // First reading 3.7 J, then 49 steps of 3.7 J each.
        Assert.Equal(50 * 3.7, previous, 6);
    }

    [Fact]
    public void Update_WentDownWithoutRange_ReportsResetAndKeepsTotal()
    {
        var counter = new RaplCounter();
        counter.Update(9_000_000, null, out _);

        var joules = counter.Update(1_000_000, null, out var reset);
        var after = counter.Update(2_000_000, null, out _);

        Assert.True(reset);
        Assert.Equal(9.0, joules, 9);
        Assert.Equal(10.0, after, 9);
    }
}
