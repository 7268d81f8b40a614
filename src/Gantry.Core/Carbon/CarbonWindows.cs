namespace Gantry.Core.Carbon;

/// <summary>
/// The best-window search with the Carbon Aware SDK's semantics: among the windows of a job's
/// expected runtime that start no earlier than now and end no later than its deadline, the one
/// with the lowest time-weighted average forecast intensity; ties go to the earliest. Candidate
/// starts are now, every forecast point after now, and the latest start (deadline − runtime).
/// A prefix sum over the forecast's points and cursors that only move forward make the whole
/// search O(n) in the points between now and the deadline.
/// </summary>
public static class CarbonWindows
{
    /// <summary>
    /// The best window in <paramref name="forecast"/>; null when no candidate window is fully covered
    /// by it (the forecast starts after now, or ends or has a gap before any window ends) or when
    /// the deadline leaves no room for the runtime.
    /// </summary>
    /// <param name="forecast">The forecast to search.</param>
    /// <param name="now">The earliest start.</param>
    /// <param name="deadline">The instant the job must have ended by.</param>
    /// <param name="runtime">The job's expected runtime (more than zero).</param>
    /// <param name="smoothing">
    /// Extra time ranked on each side of a window (zero for the SDK's exact semantics): a window is
    /// ranked by the average over [start − smoothing, end + smoothing] where the forecast covers
    /// it, which prefers a low stretch to a single low point and so holds up better when the
    /// forecast is noisy. The window's own average is what is returned.
    /// </param>
    public static CarbonWindow? Best(CarbonForecast forecast, DateTimeOffset now, DateTimeOffset deadline, TimeSpan runtime, TimeSpan smoothing = default)
    {
        ArgumentNullException.ThrowIfNull(forecast);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(runtime, TimeSpan.Zero);
        ArgumentOutOfRangeException.ThrowIfLessThan(smoothing, TimeSpan.Zero);
        var latestStart = deadline - runtime;
        if (latestStart < now)
        {
            return null;
        }

        var points = forecast.Points;
        var first = forecast.IndexAt(now);
        if (first < 0)
        {
            return null;
        }

        // The covered stretch from point `first` on: it ends at the first gap or the forecast's end.
        var last = first;
        while (last + 1 < points.Length && HoldsUntil(forecast, last) == points[last + 1].Time && points[last + 1].Time < deadline)
        {
            last++;
        }

        var coveredUntil = HoldsUntil(forecast, last);
        if (now + runtime > coveredUntil)
        {
            return null;
        }

        // prefix[k]: gram-seconds from points[first].Time to points[first + k].Time.
        var count = last - first + 1;
        var prefix = count <= 512 ? stackalloc double[count + 1] : new double[count + 1];
        prefix[0] = 0;
        for (var k = 0; k < count; k++)
        {
            var i = first + k;
            prefix[k + 1] = prefix[k] + (points[i].GramsPerKwh * (HoldsUntil(forecast, i) - points[i].Time).TotalSeconds);
        }

        var span = new Stretch(points, first, last, coveredUntil, prefix);
        var lastStart = latestStart < coveredUntil - runtime ? latestStart : coveredUntil - runtime;
        var rankFloor = points[first].Time;

        CarbonWindow? best = null;
        var bestRank = double.PositiveInfinity;

        // Candidates in time order: now, each point after now up to the last start, then the last start.
        // Every edge (start, end, and the smoothed ones) only moves forward, so each keeps a cursor
        // into the points instead of searching: the whole search is linear in the points.
        int atStart = first, atEnd = first, atFrom = first, atTo = first;
        var next = first + 1;
        var start = now;
        while (true)
        {
            var end = start + runtime;
            var own = span.Average(start, end, ref atStart, ref atEnd);
            var rank = smoothing > TimeSpan.Zero
                ? span.Average(start - smoothing < rankFloor ? rankFloor : start - smoothing, end + smoothing > coveredUntil ? coveredUntil : end + smoothing, ref atFrom, ref atTo)
                : own;

            // Strictly lower (beyond rounding) wins, so ties keep the earliest start; with smoothing,
            // a tie in rank goes to the lower window of the two.
            if (rank < bestRank - 1e-9 || (rank <= bestRank + 1e-9 && best is { } b && own < b.AverageGramsPerKwh - 1e-9))
            {
                bestRank = rank;
                best = new CarbonWindow(start, own);
            }

            if (next <= last && points[next].Time <= lastStart)
            {
                start = points[next++].Time;
            }
            else if (start < lastStart)
            {
                start = lastStart;
            }
            else
            {
                break;
            }
        }

        return best;
    }

    private static DateTimeOffset HoldsUntil(CarbonForecast forecast, int i)
    {
        var points = forecast.Points;
        var byResolution = points[i].Time + forecast.Resolution;
        return i + 1 < points.Length && points[i + 1].Time < byResolution ? points[i + 1].Time : byResolution;
    }

    /// <summary>A gap-free run of points with their prefix sums; answers averages by cursors that move forward.</summary>
    private readonly ref struct Stretch(ReadOnlySpan<IntensityPoint> points, int first, int last, DateTimeOffset end, Span<double> prefix)
    {
        private readonly ReadOnlySpan<IntensityPoint> _points = points;
        private readonly Span<double> _prefix = prefix;

        /// <summary>
        /// The average over [from, to); each cursor is the index of a point at or before its edge and
        /// is moved forward to the point holding there (edges only move forward between calls).
        /// </summary>
        public double Average(DateTimeOffset from, DateTimeOffset to, ref int atFrom, ref int atTo)
        {
            var before = Integral(from, ref atFrom);
            return to <= from ? _points[atFrom].GramsPerKwh : (Integral(to, ref atTo) - before) / (to - from).TotalSeconds;
        }

        // Gram-seconds from the stretch's first point to t (within the stretch).
        private double Integral(DateTimeOffset t, ref int cursor)
        {
            if (t >= end)
            {
                cursor = last;
                return _prefix[last - first + 1];
            }

            while (cursor < last && _points[cursor + 1].Time <= t)
            {
                cursor++;
            }

            return _prefix[cursor - first] + (_points[cursor].GramsPerKwh * (t - _points[cursor].Time).TotalSeconds);
        }
    }
}

/// <summary>A window found by <see cref="CarbonWindows.Best"/>: where it starts and its average forecast intensity.</summary>
public readonly record struct CarbonWindow(DateTimeOffset Start, double AverageGramsPerKwh);
