namespace Gantry.Core.Carbon;

/// <summary>The workloads <c>gantry carbon simulate</c> replays, after Wiesner et al., "Let's Wait Awhile" (Middleware '21).</summary>
public enum CarbonScenario
{
    /// <summary>Ad-hoc ML jobs: arrive on workdays 09:00–17:00, 4 to 90 minutes long, due by 09:00 the next workday, not interruptible.</summary>
    Ml,

    /// <summary>A nightly job: one 30-minute job a day, issued at 01:00, which may start up to 8 hours later.</summary>
    Nightly,
}

/// <summary>How a simulation runs.</summary>
public sealed record CarbonSimulationOptions
{
    /// <summary>The workload.</summary>
    public CarbonScenario Scenario { get; init; } = CarbonScenario.Ml;

    /// <summary>
    /// The relative standard deviation of the forecast error (0.1: 10 %). Each forecast issue (one
    /// per trace step) draws fresh, independent Gaussian noise for each of its points; the trace
    /// itself is what the emissions are counted on.
    /// </summary>
    public double ForecastError { get; init; }

    /// <summary>Seeds the job arrivals and the forecast noise (the same seed gives the same result).</summary>
    public int Seed { get; init; } = 1;

    /// <summary>How far ahead each forecast reaches (a day or two, as the public forecast APIs do).</summary>
    public TimeSpan Horizon { get; init; } = TimeSpan.FromHours(48);

    /// <summary>The planner; the server's own by default.</summary>
    public CarbonPlanner Planner { get; init; } = CarbonPlanner.Default;

    /// <summary>Mean ML job arrivals per hour within 09:00–17:00 on workdays.</summary>
    public double MlArrivalsPerHour { get; init; } = 1.5;
}

/// <summary>What a simulation found: grams for jobs drawing 1 kW, run at once against deferred.</summary>
public sealed record CarbonSimulationResult(
    string Scenario,
    int Jobs,
    double BaselineGrams,
    double DeferredGrams,
    double SavingsPercent,
    int DeadlineMisses,
    int JobsDeferred,
    double ForecastError,
    int Seed,
    DateTimeOffset From,
    DateTimeOffset To);

/// <summary>
/// Replays a year of a carbon-intensity trace through <see cref="CarbonPlanner"/> with a simulated
/// clock. The clock steps through the trace; at each step a fresh forecast is issued (the trace
/// ahead, to <see cref="CarbonSimulationOptions.Horizon"/>, with that issue's noise), every held
/// job is re-planned on it, and a job whose planned start falls before the next issue is committed
/// to start then, as the server's scheduler does on each forecast refresh. Jobs draw 1 kW while
/// they run; emissions are counted on the actual trace.
/// </summary>
public static class CarbonSimulation
{
    /// <summary>Runs the scenario over the first whole year the trace covers (from its first midnight).</summary>
    /// <exception cref="ArgumentException">The trace covers less than a year plus a week.</exception>
    public static CarbonSimulationResult Run(CarbonForecast trace, CarbonSimulationOptions options)
    {
        ArgumentNullException.ThrowIfNull(trace);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentOutOfRangeException.ThrowIfNegative(options.ForecastError);
        trace = HoldUntilNext(trace);
        if (trace.Start is not { } traceStart || trace.End is not { } traceEnd)
        {
            throw new ArgumentException("the trace has no points.", nameof(trace));
        }

        var from = new DateTimeOffset(traceStart.UtcDateTime.Date, TimeSpan.Zero);
        if (from < traceStart)
        {
            from = from.AddDays(1);
        }

        var to = from.AddDays(365);
        if (to.AddDays(7) > traceEnd)
        {
            throw new ArgumentException($"the trace covers {traceStart:yyyy-MM-dd} to {traceEnd:yyyy-MM-dd}; a simulation needs a year from a midnight plus a week after it.", nameof(trace));
        }

        var jobs = options.Scenario == CarbonScenario.Ml
            ? MlJobs(from, to, options.MlArrivalsPerHour, options.Seed)
            : NightlyJobs(from, to);
        var runner = new Runner(trace, options);
        return runner.Run(jobs, from, to);
    }

    /// <summary>
    /// The trace with each point holding until the next one, for gaps of up to two hours: the
    /// shipped GB trace mixes 15- and 30-minute rows, so the reader's resolution (the smallest gap)
    /// would leave every 30-minute row half uncovered. Each row is the average over its step.
    /// </summary>
    internal static CarbonForecast HoldUntilNext(CarbonForecast trace)
    {
        var points = trace.Points;
        var widest = trace.Resolution;
        for (var i = 1; i < points.Length; i++)
        {
            var gap = points[i].Time - points[i - 1].Time;
            if (gap > widest && gap <= TimeSpan.FromHours(2))
            {
                widest = gap;
            }
        }

        return widest == trace.Resolution ? trace : new CarbonForecast(trace.Location, points.ToArray(), widest, trace.GeneratedAt);
    }

    /// <summary>The ML scenario's jobs: Poisson arrivals on workdays 09:00–17:00, 4–90 minutes, due 09:00 the next workday.</summary>
    internal static List<SimulatedJob> MlJobs(DateTimeOffset from, DateTimeOffset to, double perHour, int seed)
    {
        var random = new SplitMix(unchecked((ulong)seed * 0x9E3779B97F4A7C15UL) ^ 0x4D4C);
        var jobs = new List<SimulatedJob>();
        for (var day = from; day < to; day = day.AddDays(1))
        {
            if (day.DayOfWeek is DayOfWeek.Saturday or DayOfWeek.Sunday)
            {
                continue;
            }

            var nextWorkday = day.AddDays(day.DayOfWeek == DayOfWeek.Friday ? 3 : 1);
            var due = nextWorkday.AddHours(9);
            var t = day.AddHours(9);
            var close = day.AddHours(17);
            while (true)
            {
                // Exponential gaps: a Poisson process at perHour.
                t = t.AddHours(-Math.Log(1 - random.NextDouble()) / perHour);
                if (t >= close)
                {
                    break;
                }

                var minutes = 4 + (random.NextDouble() * 86);
                jobs.Add(new SimulatedJob(t, TimeSpan.FromMinutes(Math.Round(minutes, 1)), due));
            }
        }

        return jobs;
    }

    /// <summary>The nightly scenario's jobs: one a day, issued at 01:00, 30 minutes, may start until 09:00.</summary>
    internal static List<SimulatedJob> NightlyJobs(DateTimeOffset from, DateTimeOffset to)
    {
        var jobs = new List<SimulatedJob>();
        for (var day = from; day < to; day = day.AddDays(1))
        {
            var issued = day.AddHours(1);
            jobs.Add(new SimulatedJob(issued, TimeSpan.FromMinutes(30), issued.AddHours(8.5)));
        }

        return jobs;
    }

    internal readonly record struct SimulatedJob(DateTimeOffset Arrival, TimeSpan Runtime, DateTimeOffset Deadline);

    private sealed class Runner(CarbonForecast trace, CarbonSimulationOptions options)
    {
        private readonly CarbonForecast[] _one = new CarbonForecast[1];
        private readonly Dictionary<SimulatedJob, CarbonPlan> _plans = [];

        public CarbonSimulationResult Run(List<SimulatedJob> jobs, DateTimeOffset from, DateTimeOffset to)
        {
            var points = trace.Points;
            var step = trace.Resolution;
            double baseline = 0, deferred = 0;
            int misses = 0, moved = 0, next = 0;
            var held = new List<SimulatedJob>();
            var issue = trace.IndexAt(from);
            while (next < jobs.Count || held.Count > 0)
            {
                var now = points[issue].Time;
                var nextIssue = issue + 1 < points.Length ? points[issue + 1].Time : now + step;
                if (held.Count > 0 || (next < jobs.Count && jobs[next].Arrival < nextIssue))
                {
                    var forecast = Issue(issue);
                    for (var i = held.Count - 1; i >= 0; i--)
                    {
                        if (Decide(held[i], now, nextIssue, forecast, ref deferred, ref misses, ref moved))
                        {
                            held.RemoveAt(i);
                        }
                    }

                    for (; next < jobs.Count && jobs[next].Arrival < nextIssue; next++)
                    {
                        var job = jobs[next];
                        baseline += Grams(job.Arrival, job.Runtime);
                        if (!Decide(job, job.Arrival, nextIssue, forecast, ref deferred, ref misses, ref moved))
                        {
                            held.Add(job);
                        }
                    }
                }

                issue++;
                if (issue >= points.Length)
                {
                    throw new InvalidOperationException("the trace ends before every job has run.");
                }
            }

            var savings = baseline > 0 ? (baseline - deferred) / baseline * 100 : 0;
            return new CarbonSimulationResult(
                options.Scenario == CarbonScenario.Ml ? "ml" : "nightly",
                jobs.Count, baseline, deferred, savings, misses, moved, options.ForecastError, options.Seed, from, to);
        }

        // Plans the job at `now` on the latest forecast; starts it when the plan says so before the
        // next forecast is due (returns true), else keeps it held.
        private bool Decide(SimulatedJob job, DateTimeOffset now, DateTimeOffset nextIssue, CarbonForecast forecast, ref double grams, ref int misses, ref int moved)
        {
            _one[0] = forecast;
            var plan = _plans.TryGetValue(job, out var current)
                ? options.Planner.Replan(current, now, job.Deadline, job.Runtime, _one)
                : options.Planner.Plan(now, job.Deadline, job.Runtime, _one);
            var start = plan is { } p ? (p.Start > now ? p.Start : now) : now;
            if (start >= nextIssue)
            {
                _plans[job] = plan!.Value;
                return false;
            }

            _plans.Remove(job);

            grams += Grams(start, job.Runtime);
            if (start + job.Runtime > job.Deadline)
            {
                misses++;
            }

            if (start > job.Arrival)
            {
                moved++;
            }

            return true;
        }

        private double Grams(DateTimeOffset start, TimeSpan runtime) =>
            (trace.AverageOver(start, start + runtime) ?? throw new InvalidOperationException($"the trace does not cover {start:O} + {runtime}."))
            * runtime.TotalHours; // 1 kW for that many hours, so kWh × g/kWh

        // The forecast issued at point `issue`: the trace ahead to the horizon, each point with this
        // issue's own relative Gaussian noise (independent of every other issue and point).
        private CarbonForecast Issue(int issue)
        {
            var points = trace.Points;
            var issuedAt = points[issue].Time;
            var until = issuedAt + options.Horizon;
            var slice = new List<IntensityPoint>(128);
            for (var i = issue; i < points.Length && points[i].Time < until; i++)
            {
                var grams = points[i].GramsPerKwh;
                if (options.ForecastError > 0)
                {
                    grams = Math.Max(0, grams * (1 + (options.ForecastError * Noise(options.Seed, issue, i))));
                }

                slice.Add(new IntensityPoint(points[i].Time, grams));
            }

            return new CarbonForecast(trace.Location, slice, trace.Resolution, issuedAt);
        }
    }

    // A standard normal draw that depends only on (seed, issue, point): Box–Muller over a hash.
    private static double Noise(int seed, int issue, int point)
    {
        var random = new SplitMix(unchecked(((ulong)(uint)seed << 40) ^ ((ulong)(uint)issue << 20) ^ (ulong)(uint)point ^ 0x5EED));
        var u1 = 1 - random.NextDouble();
        var u2 = random.NextDouble();
        return Math.Sqrt(-2 * Math.Log(u1)) * Math.Cos(2 * Math.PI * u2);
    }

    /// <summary>SplitMix64: small, fast and reproducible; not for anything secret.</summary>
    private struct SplitMix(ulong state)
    {
        private ulong _state = state;

        public double NextDouble()
        {
            var z = _state += 0x9E3779B97F4A7C15UL;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
            z ^= z >> 31;
            return (z >> 11) * (1.0 / (1UL << 53));
        }
    }
}
