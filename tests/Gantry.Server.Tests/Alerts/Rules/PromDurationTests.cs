using Gantry.Server.Alerts.Rules;

namespace Gantry.Server.Tests.Alerts.Rules;

/// <summary>Prometheus' duration syntax, both ways.</summary>
public sealed class PromDurationTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("0s", 0L)]
    [InlineData("500ms", 500L)]
    [InlineData("10s", 10_000L)]
    [InlineData("5m", 300_000L)]
    [InlineData("1h30m", 5_400_000L)]
    [InlineData("1d", 86_400_000L)]
    [InlineData("1w", 604_800_000L)]
    [InlineData("1y", 31_536_000_000L)]
    [InlineData("1y2w3d4h5m6s7ms", 31_536_000_000L + 1_209_600_000L + 259_200_000L + 14_400_000L + 300_000L + 6_000L + 7L)]
    [InlineData("90s", 90_000L)]
    [InlineData("1m0s", 60_000L)]
    public void Parse_PrometheusDuration_ReadsIt(string text, long milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), PromDuration.Parse(text));

    [Theory]
    [InlineData("", "empty duration")]
    [InlineData("5", "a number needs a unit")]
    [InlineData("m", "expected a number")]
    [InlineData("5x", "unknown unit \"x\"")]
    [InlineData("1m1h", "largest to smallest")]
    [InlineData("1m1m", "largest to smallest")]
    [InlineData("-5m", "expected a number")]
    [InlineData("1.5h", "unknown unit")]
    [InlineData(" 5m", "expected a number")]
    [InlineData("5 m", "unknown unit")]
    [InlineData("300y", "out of range")]
    [InlineData("99999999999999999999s", "out of range")]
    public void TryParse_NotADuration_SaysWhy(string text, string phrase)
    {
        Assert.False(PromDuration.TryParse(text, out _, out var problem));
        Assert.Contains(phrase, problem, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0L, "0s")]
    [InlineData(500L, "500ms")]
    [InlineData(90_000L, "1m30s")]
    [InlineData(5_400_000L, "1h30m")]
    [InlineData(604_800_000L, "1w")]
    [InlineData(691_200_000L, "8d")]
    [InlineData(7_776_000_000L, "90d")]
    [InlineData(31_536_000_000L, "1y")]
    [InlineData(90_061_001L, "1d1h1m1s1ms")]
    public void Format_Duration_WritesPrometheusSyntax(long milliseconds, string expected)
    {
        Assert.Equal(expected, PromDuration.Format(TimeSpan.FromMilliseconds(milliseconds)));
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), PromDuration.Parse(expected));
    }

    [Fact]
    public void Format_SubMillisecond_IsDropped() =>
        Assert.Equal("1ms", PromDuration.Format(TimeSpan.FromTicks(15_000)));
}
