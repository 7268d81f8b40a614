namespace Gantry.Core.Carbon;

/// <summary>
/// Grid carbon intensity over time for one location: points in time order, each holding from its
/// <see cref="IntensityPoint.Time"/> for <see cref="Resolution"/> (or until the next point). A
/// trace replayed against the clock, a static figure and an API's forecast all take this shape, so
/// the scheduler, CO2e accounting and <c>gantry carbon simulate</c> read them alike.
/// </summary>
public sealed class CarbonForecast
{
    private readonly IntensityPoint[] _points;

    /// <summary>A forecast from points in time order (checked) with the step each one holds for.</summary>
    public CarbonForecast(string location, IReadOnlyList<IntensityPoint> points, TimeSpan resolution, DateTimeOffset generatedAt)
    {
        ArgumentNullException.ThrowIfNull(location);
        ArgumentNullException.ThrowIfNull(points);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(resolution, TimeSpan.Zero);
        _points = [.. points];
        for (var i = 1; i < _points.Length; i++)
        {
            if (_points[i].Time <= _points[i - 1].Time)
            {
                throw new ArgumentException($"points must be in strictly increasing time order (point {i} at {_points[i].Time:O}).", nameof(points));
            }
        }

        Location = location;
        Resolution = resolution;
        GeneratedAt = generatedAt;
    }

    /// <summary>The location (a zone, a region) the figures are for.</summary>
    public string Location { get; }

    /// <summary>How long each point holds when no later point follows sooner.</summary>
    public TimeSpan Resolution { get; }

    /// <summary>When the source produced (or Gantry fetched) it.</summary>
    public DateTimeOffset GeneratedAt { get; }

    /// <summary>The points, in time order.</summary>
    public ReadOnlySpan<IntensityPoint> Points => _points;

    /// <summary>The first instant covered; null when there are no points.</summary>
    public DateTimeOffset? Start => _points.Length == 0 ? null : _points[0].Time;

    /// <summary>The instant the last point stops holding; null when there are no points.</summary>
    public DateTimeOffset? End => _points.Length == 0 ? null : _points[^1].Time + Resolution;

    /// <summary>Grams of CO2e per kWh at <paramref name="time"/>; null outside the forecast or in a gap.</summary>
    public double? IntensityAt(DateTimeOffset time)
    {
        var i = IndexAt(time);
        return i < 0 ? null : _points[i].GramsPerKwh;
    }

    /// <summary>
    /// The time-weighted average intensity over [<paramref name="start"/>, <paramref name="end"/>);
    /// null when any part of it is not covered.
    /// </summary>
    public double? AverageOver(DateTimeOffset start, DateTimeOffset end)
    {
        if (end <= start)
        {
            return IntensityAt(start);
        }

        var i = IndexAt(start);
        if (i < 0)
        {
            return null;
        }

        double weighted = 0;
        var t = start;
        while (t < end)
        {
            if (i >= _points.Length || _points[i].Time > t)
            {
                return null;
            }

            var holdsUntil = HoldsUntil(i);
            if (holdsUntil <= t)
            {
                return null;
            }

            var segmentEnd = holdsUntil < end ? holdsUntil : end;
            weighted += _points[i].GramsPerKwh * (segmentEnd - t).TotalSeconds;
            t = segmentEnd;
            i++;
        }

        return weighted / (end - start).TotalSeconds;
    }

    /// <summary>The index of the point holding at <paramref name="time"/>, or -1.</summary>
    public int IndexAt(DateTimeOffset time)
    {
        int lo = 0, hi = _points.Length - 1, found = -1;
        while (lo <= hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_points[mid].Time <= time)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }

        return found >= 0 && time < HoldsUntil(found) ? found : -1;
    }

    private DateTimeOffset HoldsUntil(int i)
    {
        var byResolution = _points[i].Time + Resolution;
        return i + 1 < _points.Length && _points[i + 1].Time < byResolution ? _points[i + 1].Time : byResolution;
    }
}

/// <summary>One figure of a forecast or trace: grams of CO2e per kWh from <paramref name="Time"/>.</summary>
public readonly record struct IntensityPoint(DateTimeOffset Time, double GramsPerKwh);
