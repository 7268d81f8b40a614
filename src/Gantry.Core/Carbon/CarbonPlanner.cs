namespace Gantry.Core.Carbon;

/// <summary>
/// Decides when and where a deferrable job (one with a deadline and an expected runtime) should
/// start: the best window (<see cref="CarbonWindows.Best"/>) over the forecasts of every location
/// its selector allows, so a fleet in several zones shifts in space as well as in time. The server's
/// scheduler and <c>gantry carbon simulate</c> both decide through this one class.
/// <para>
/// The plan is re-made whenever a fresh forecast arrives and is only acted on at its planned start:
/// a job whose plan says "now" (or a start before the next forecast is due) starts then.
/// </para>
/// </summary>
public sealed class CarbonPlanner
{
    /// <summary>The planner the server and the simulation use (<see cref="DefaultSmoothing"/>).</summary>
    public static CarbonPlanner Default { get; } = new(DefaultSmoothing, DefaultSwitchMargin);

    /// <summary>
    /// How much forecast on each side of a window is ranked with it: half an hour, which with a
    /// noisy forecast keeps much more of the saving for little loss with a perfect one (measured in
    /// docs/benchmarks.md; zero is the SDK's exact ranking).
    /// </summary>
    public static readonly TimeSpan DefaultSmoothing = TimeSpan.FromMinutes(30);

    /// <summary>
    /// How much better (relatively) a fresh forecast's best window must be than the window already
    /// planned, on that same fresh forecast, to replace it.
    /// </summary>
    public static readonly double DefaultSwitchMargin = 0.15;

    /// <summary>
    /// A planner that ranks windows with <paramref name="smoothing"/> on each side (zero: the SDK's
    /// exact ranking) and keeps a plan unless a fresh forecast finds one better by <paramref name="switchMargin"/>.
    /// </summary>
    public CarbonPlanner(TimeSpan smoothing, double switchMargin = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(smoothing, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfNegative(switchMargin);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(switchMargin, 1);
        Smoothing = smoothing;
        SwitchMargin = switchMargin;
    }

    /// <summary>
    /// The relative improvement a re-plan needs to replace the current plan. With a perfect forecast
    /// a re-plan finds the same window again, so this costs nothing; with a noisy one it keeps a
    /// single lucky draw for "now" (or a later point) from undoing a plan that several forecasts agreed on.
    /// </summary>
    public double SwitchMargin { get; }

    /// <summary>
    /// Re-plans a held job on fresh forecasts: the fresh best window replaces <paramref name="current"/>
    /// only when it is lower than <paramref name="current"/>'s window on the same fresh forecast by
    /// more than <see cref="SwitchMargin"/>. Null when no forecast covers the job any more (it is then
    /// not deferred). The result is never later than deadline − runtime.
    /// </summary>
    public CarbonPlan? Replan(CarbonPlan current, DateTimeOffset now, DateTimeOffset deadline, TimeSpan runtime, IReadOnlyList<CarbonForecast> forecasts)
    {
        ArgumentNullException.ThrowIfNull(forecasts);
        if (Plan(now, deadline, runtime, forecasts) is not { } fresh)
        {
            return null;
        }

        if (SwitchMargin <= 0 || fresh.Start == current.Start && fresh.Location == current.Location)
        {
            return fresh;
        }

        var start = current.Start > now ? current.Start : now;
        if (start + runtime > deadline)
        {
            return fresh;
        }

        for (var i = 0; i < forecasts.Count; i++)
        {
            if (forecasts[i].Location == current.Location && forecasts[i].AverageOver(start, start + runtime) is { } kept)
            {
                return fresh.PlannedGramsPerKwh < kept * (1 - SwitchMargin)
                    ? fresh
                    : new CarbonPlan(start, current.Location, kept, fresh.NowGramsPerKwh);
            }
        }

        return fresh;
    }

    /// <summary>The extra forecast ranked on each side of a window.</summary>
    public TimeSpan Smoothing { get; }

    /// <summary>
    /// The plan for a job, or null when it is not to be deferred: no forecast covers now and a
    /// window of its runtime in any allowed location, or the deadline leaves no room. A plan whose
    /// <see cref="CarbonPlan.Start"/> is at or before <paramref name="now"/> means "run now".
    /// The planned start is never later than <paramref name="deadline"/> − <paramref name="runtime"/>.
    /// </summary>
    public CarbonPlan? Plan(DateTimeOffset now, DateTimeOffset deadline, TimeSpan runtime, IReadOnlyList<CarbonForecast> forecasts)
    {
        ArgumentNullException.ThrowIfNull(forecasts);
        if (runtime <= TimeSpan.Zero || deadline - runtime < now)
        {
            return null;
        }

        CarbonWindow? best = null;
        string? bestLocation = null;
        double? nowGrams = null;
        for (var i = 0; i < forecasts.Count; i++)
        {
            var forecast = forecasts[i];
            var window = CarbonWindows.Best(forecast, now, deadline, runtime, Smoothing);
            if (window is not { } w)
            {
                continue;
            }

            if (forecast.IntensityAt(now) is { } current && (nowGrams is null || current < nowGrams))
            {
                nowGrams = current;
            }

            if (best is null || w.AverageGramsPerKwh < best.Value.AverageGramsPerKwh - 1e-9
                || (Math.Abs(w.AverageGramsPerKwh - best.Value.AverageGramsPerKwh) <= 1e-9 && w.Start < best.Value.Start))
            {
                best = w;
                bestLocation = forecast.Location;
            }
        }

        return best is { } b ? new CarbonPlan(b.Start, bestLocation!, b.AverageGramsPerKwh, nowGrams ?? b.AverageGramsPerKwh) : null;
    }
}

/// <summary>
/// Where and when a deferrable job is planned to run, with the forecast figures behind it (for its
/// wait reason): the lowest intensity now among its locations and the planned window's average.
/// </summary>
public readonly record struct CarbonPlan(DateTimeOffset Start, string Location, double PlannedGramsPerKwh, double NowGramsPerKwh)
{
    /// <summary>Whether the plan is to start at <paramref name="now"/> (or earlier).</summary>
    public bool RunsNow(DateTimeOffset now) => Start <= now;
}
