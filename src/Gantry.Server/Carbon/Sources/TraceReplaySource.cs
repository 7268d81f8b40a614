using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon.Sources;

/// <summary>
/// <c>file:PATH</c>: a trace (read once, with <see cref="CarbonTraceCsv"/>) replayed against the clock.
/// The traces that ship cover about a year in the past (2019-12-20 to 2021-01-09), so each real instant is
/// mapped onto the trace by shifting it a whole number of weeks (<see cref="MapToTrace"/>): the weekday and
/// the time of day stay, and so do the weekly and daily shapes of the grid. The same trace serves every
/// location. Forecasts run from one step before now to <c>--carbon-horizon</c> ahead; they are the trace
/// itself, a perfect forecast.
/// </summary>
internal sealed class TraceReplaySource : ICarbonSource
{
    private static readonly TimeSpan Week = TimeSpan.FromDays(7);
    private readonly CarbonForecast _trace;
    private readonly TimeSpan _horizon;
    private readonly long _weeks;

    public TraceReplaySource(CarbonForecast trace, TimeSpan horizon)
    {
        ArgumentNullException.ThrowIfNull(trace);
        if (trace.Start is null || trace.End - trace.Start < Week)
        {
            throw new ArgumentException("the trace must cover at least a week", nameof(trace));
        }

        _trace = trace;
        _horizon = horizon;
        // Whole weeks the trace covers: real time cycles through them.
        _weeks = (trace.End!.Value - trace.Start!.Value).Ticks / Week.Ticks;
    }

    public bool Local => true;

    /// <summary>The trace's step, which each forecast keeps.</summary>
    public TimeSpan Resolution => _trace.Resolution;

    /// <summary>
    /// The trace instant that stands for <paramref name="real"/>: <c>real − k weeks</c> for the whole
    /// <c>k</c> that lands it in the trace's first <c>W</c> whole weeks (<c>W</c> = the weeks it covers).
    /// Real time thus cycles through the trace every <c>W</c> weeks; the weekday and time of day never change.
    /// </summary>
    public DateTimeOffset MapToTrace(DateTimeOffset real)
    {
        var start = _trace.Start!.Value;
        var weeksSinceStart = FloorDiv((real - start).Ticks, Week.Ticks);
        var cycle = ((weeksSinceStart % _weeks) + _weeks) % _weeks;
        return real - TimeSpan.FromTicks((weeksSinceStart - cycle) * Week.Ticks);
    }

    public Task<CarbonForecast> FetchAsync(string location, DateTimeOffset now, CancellationToken cancellationToken) =>
        Task.FromResult(Build(location, now));

    public CarbonForecast Build(string location, DateTimeOffset now)
    {
        var step = _trace.Resolution;
        var start = _trace.Start!.Value;
        // Points on the trace's grid (whole weeks are whole steps for the steps traces have: 30m, 1h).
        var first = start + TimeSpan.FromTicks(FloorDiv((now - start).Ticks, step.Ticks) * step.Ticks) - step;
        var count = (int)Math.Ceiling((now + _horizon - first) / step);
        var points = new List<IntensityPoint>(count);
        for (var i = 0; i < count; i++)
        {
            var at = first + (i * step);
            // A gap in the trace is a gap in the forecast.
            if (_trace.IntensityAt(MapToTrace(at)) is { } grams)
            {
                points.Add(new IntensityPoint(at, grams));
            }
        }

        return new CarbonForecast(location, points, step, now);
    }

    private static long FloorDiv(long a, long b) => a >= 0 ? a / b : -((-a + b - 1) / b);
}
