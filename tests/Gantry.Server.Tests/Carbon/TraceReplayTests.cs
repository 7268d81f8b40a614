using System.Globalization;
using System.Text;
using Gantry.Core.Carbon;
using Gantry.Server.Carbon.Sources;

namespace Gantry.Server.Tests.Carbon;

/// <summary>file:PATH: real time mapped onto the trace by whole weeks, keeping the weekday and the time of day.</summary>
public sealed class TraceReplayTests
{
    // A trace like the shipped ones: from Friday 2019-12-20, half-hourly, three weeks and two days.
    private static readonly DateTimeOffset TraceStart = new(2019, 12, 20, 0, 0, 0, TimeSpan.Zero);

    /// <summary>Each row's value encodes its week, weekday and half hour: week × 10000 + weekday × 100 + half hour (0–47).</summary>
    private static CarbonForecast Trace()
    {
        var csv = new StringBuilder("Time,Carbon Intensity\n");
        for (var t = TraceStart; t < TraceStart.AddDays(23); t = t.AddMinutes(30))
        {
            csv.Append(CultureInfo.InvariantCulture, $"{t:yyyy-MM-dd HH:mm:ss},{Encode(t)}\n");
        }

        return CarbonTraceCsv.Read(new StringReader(csv.ToString()), "trace", TraceStart);
    }

    private static int Encode(DateTimeOffset t) => (int)((t - TraceStart).TotalDays / 7) * 10000 + (int)t.DayOfWeek * 100 + (t.Hour * 2) + (t.Minute / 30);

    [Theory]
    [InlineData("2026-12-03T06:17:00Z")]
    [InlineData("2019-12-20T00:00:00Z")]
    [InlineData("2021-01-08T23:59:00Z")]
    [InlineData("2031-06-15T12:45:00Z")]
    [InlineData("2001-02-03T04:05:00Z")]
    public void MapToTrace_AnyInstant_KeepsWeekdayAndTimeOfDayWithinTheTrace(string text)
    {
        var real = DateTimeOffset.Parse(text, CultureInfo.InvariantCulture);
        var source = new TraceReplaySource(Trace(), TimeSpan.FromHours(24));

        var mapped = source.MapToTrace(real);

        Assert.InRange(mapped, TraceStart, TraceStart.AddDays(21).AddTicks(-1));
        Assert.Equal(0, (real - mapped).Ticks % TimeSpan.FromDays(7).Ticks);
        Assert.Equal(real.DayOfWeek, mapped.DayOfWeek);
        Assert.Equal(real.TimeOfDay, mapped.TimeOfDay);
    }

    [Fact]
    public void MapToTrace_WeekByWeek_CyclesThroughTheTracesWholeWeeks()
    {
        var source = new TraceReplaySource(Trace(), TimeSpan.FromHours(24));
        var real = new DateTimeOffset(2026, 12, 3, 6, 0, 0, TimeSpan.Zero);

        var weeks = Enumerable.Range(0, 6).Select(w => (int)((source.MapToTrace(real.AddDays(7 * w)) - TraceStart).TotalDays / 7)).ToArray();

        // Three whole weeks (the last two days are not a whole week): 0, 1, 2, then again.
        Assert.Equal(3, weeks.Distinct().Count());
        Assert.Equal(weeks[0], weeks[3]);
        Assert.Equal((weeks[0] + 1) % 3, weeks[1]);
    }

    [Fact]
    public void Build_Now_GivesTheTracesFiguresForTheSameWeekdayAndTime()
    {
        var source = new TraceReplaySource(Trace(), TimeSpan.FromHours(24));
        var now = new DateTimeOffset(2026, 12, 3, 6, 17, 0, TimeSpan.Zero); // a Thursday

        var forecast = source.Build("GB", now);

        Assert.Equal(TimeSpan.FromMinutes(30), forecast.Resolution);
        Assert.Equal("GB", forecast.Location);
        Assert.True(forecast.Start <= now && forecast.End >= now.AddHours(24));
        var value = (int)forecast.IntensityAt(now)!.Value;
        Assert.Equal((int)DayOfWeek.Thursday, value % 10000 / 100);
        Assert.Equal(12, value % 100); // 06:00–06:30
        foreach (var point in forecast.Points)
        {
            var encoded = (int)point.GramsPerKwh;
            Assert.Equal((int)point.Time.DayOfWeek, encoded % 10000 / 100);
            Assert.Equal((point.Time.Hour * 2) + (point.Time.Minute / 30), encoded % 100);
        }
    }

    [Fact]
    public void Build_AcrossTheEndOfTheCycle_WrapsToTheFirstWeek()
    {
        var source = new TraceReplaySource(Trace(), TimeSpan.FromHours(48));
        // The instant that maps to the last half hour of the third week: the forecast runs on into the first.
        var lastSlot = TraceStart.AddDays(21).AddMinutes(-30);
        var real = lastSlot.AddDays(7 * 3 * 100);
        Assert.Equal(lastSlot, source.MapToTrace(real));

        var forecast = source.Build("GB", real);

        Assert.Equal(2 * 10000 + (int)lastSlot.DayOfWeek * 100 + 47, forecast.IntensityAt(real));
        Assert.Equal(0 * 10000 + (int)DayOfWeek.Friday * 100 + 0, forecast.IntensityAt(real.AddMinutes(30)));
        Assert.Equal(forecast.Points.Length, (int)((forecast.End!.Value - forecast.Start!.Value) / TimeSpan.FromMinutes(30)));
    }

    [Fact]
    public void Constructor_TraceShorterThanAWeek_IsRefused()
    {
        var trace = CarbonTraceCsv.Read(new StringReader("Time,Carbon Intensity\n2020-01-01 00:00:00,100\n2020-01-02 00:00:00,120\n"), "t", TraceStart);

        Assert.Throws<ArgumentException>(() => new TraceReplaySource(trace, TimeSpan.FromHours(24)));
    }
}
