using Gantry.Core.Text;

namespace Gantry.Cli.Tests;

public sealed class DurationsTests
{
    [Theory]
    [InlineData("30s", 30_000)]
    [InlineData("500ms", 500)]
    [InlineData("5m", 300_000)]
    [InlineData("1h", 3_600_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("2d", 172_800_000)]
    [InlineData("1d2h3m4s5ms", 93_784_005)]
    [InlineData("1.5h", 5_400_000)]
    [InlineData("0.1s", 100)]
    [InlineData("90", 90_000)]
    [InlineData("0", 0)]
    [InlineData(" 10s ", 10_000)]
    [InlineData("30m1h", 5_400_000)]
    public void TryParse_ValidText_ReturnsDuration(string text, long milliseconds)
    {
        Assert.True(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), value);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData("-5s")]
    [InlineData("5x")]
    [InlineData("5S")]
    [InlineData("h")]
    [InlineData("1h 30m")]
    [InlineData("1..5s")]
    [InlineData("99999999999d")]
    [InlineData("5s-")]
    public void TryParse_InvalidText_ReturnsFalse(string? text)
    {
        Assert.False(Durations.TryParse(text, out var value));
        Assert.Equal(TimeSpan.Zero, value);
    }

    [Theory]
    [InlineData(0, "0s")]
    [InlineData(500, "500ms")]
    [InlineData(1_500, "1s500ms")]
    [InlineData(5_400_000, "1h30m")]
    [InlineData(93_784_005, "1d2h3m4s5ms")]
    [InlineData(172_800_000, "2d")]
    public void Format_Duration_WritesLargestUnitsFirst(long milliseconds, string expected)
    {
        Assert.Equal(expected, Durations.Format(TimeSpan.FromMilliseconds(milliseconds)));
    }

    [Theory]
    [InlineData(1)]
    [InlineData(5_000)]
    [InlineData(12_345_678)]
    [InlineData(864_000_000_123)]
    public void Format_ThenTryParse_RoundTrips(long ticks)
    {
        var value = TimeSpan.FromTicks(ticks);
        Assert.True(Durations.TryParse(Durations.Format(value), out var parsed));
        Assert.Equal(value, parsed);
    }

    [Fact]
    public void Format_Negative_HasMinusSign()
    {
        Assert.Equal("-1m30s", Durations.Format(TimeSpan.FromSeconds(-90)));
        Assert.StartsWith("-", Durations.Format(TimeSpan.MinValue), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(-5_000, "0s")]
    [InlineData(850, "850ms")]
    [InlineData(42_000, "42s")]
    [InlineData(303_000, "5m3s")]
    [InlineData(300_000, "5m")]
    [InlineData(7_980_000, "2h13m")]
    [InlineData(273_600_000, "3d4h")]
    public void FormatApproximate_Duration_KeepsTwoLargestUnits(long milliseconds, string expected)
    {
        Assert.Equal(expected, Durations.FormatApproximate(TimeSpan.FromMilliseconds(milliseconds)));
    }
}
