using Gantry.Core.Carbon;

namespace Gantry.Core.Tests.Carbon;

public sealed class CarbonPlannerTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);

    // Hourly points from T0: the figures given, in g/kWh.
    private static CarbonForecast Hourly(string location, params double[] grams) =>
        new(location, [.. grams.Select((g, i) => new IntensityPoint(T0.AddHours(i), g))], TimeSpan.FromHours(1), T0);

    [Fact]
    public void Best_PicksTheLowestAverageWindowThatEndsByTheDeadline()
    {
        var forecast = Hourly("GB", 300, 250, 100, 120, 400, 50, 50);

        // 2 h windows ending by 05:00: 00 275, 01 175, 02 110, 03 260 → 02:00.
        var window = CarbonWindows.Best(forecast, T0, T0.AddHours(5), TimeSpan.FromHours(2));

        Assert.Equal(T0.AddHours(2), window?.Start);
        Assert.Equal(110, window!.Value.AverageGramsPerKwh, 6);
    }

    [Fact]
    public void Best_TiesGoToTheEarliestAndNowIsACandidateMidStep()
    {
        var forecast = Hourly("GB", 100, 200, 100, 100);
        var now = T0.AddMinutes(30);

        // From 00:30 a 30-minute window at 00:30 averages 100, as does 02:00; the earliest wins.
        var window = CarbonWindows.Best(forecast, now, T0.AddHours(4), TimeSpan.FromMinutes(30));

        Assert.Equal(now, window?.Start);
    }

    [Fact]
    public void Best_WeighsPartialStepsByTime()
    {
        var forecast = Hourly("GB", 100, 400, 400, 400);
        var now = T0.AddMinutes(30);

        var window = CarbonWindows.Best(forecast, now, T0.AddHours(4), TimeSpan.FromHours(1));

        // 00:30–01:30: half at 100, half at 400.
        Assert.Equal(now, window?.Start);
        Assert.Equal(250, window!.Value.AverageGramsPerKwh, 6);
    }

    [Fact]
    public void Best_ConsidersTheLatestStartOffTheGrid()
    {
        var forecast = Hourly("GB", 500, 500, 500, 10, 10);

        // Deadline 03:30 with a 1 h job: the latest start 02:30 (half at 500, half at 10) beats every point.
        var window = CarbonWindows.Best(forecast, T0, T0.AddHours(3.5), TimeSpan.FromHours(1));

        Assert.Equal(T0.AddHours(2.5), window?.Start);
        Assert.Equal(255, window!.Value.AverageGramsPerKwh, 6);
    }

    [Fact]
    public void Best_MatchesAverageOverOnEveryCandidate()
    {
        var grams = new double[96];
        for (var i = 0; i < grams.Length; i++)
        {
            grams[i] = 200 + (100 * Math.Sin(i / 5.0)) + (i % 7);
        }

        var forecast = Hourly("DE", grams);
        var now = T0.AddMinutes(17);
        var deadline = T0.AddHours(40);
        var runtime = TimeSpan.FromMinutes(95);
        var window = CarbonWindows.Best(forecast, now, deadline, runtime)!.Value;

        // The brute force over the same candidates with CarbonForecast.AverageOver.
        var best = (Start: now, Average: forecast.AverageOver(now, now + runtime)!.Value);
        var candidates = new List<DateTimeOffset>();
        for (var t = T0.AddHours(1); t + runtime <= deadline; t = t.AddHours(1))
        {
            candidates.Add(t);
        }

        candidates.Add(deadline - runtime);
        foreach (var t in candidates)
        {
            var average = forecast.AverageOver(t, t + runtime)!.Value;
            if (average < best.Average - 1e-9)
            {
                best = (t, average);
            }
        }

        Assert.Equal(best.Start, window.Start);
        Assert.Equal(best.Average, window.AverageGramsPerKwh, 6);
    }

    [Fact]
    public void Best_NoRoomOrNoCover_IsNull()
    {
        var forecast = Hourly("GB", 100, 100);

        Assert.Null(CarbonWindows.Best(forecast, T0, T0.AddMinutes(30), TimeSpan.FromHours(1)));
        Assert.Null(CarbonWindows.Best(forecast, T0.AddHours(-1), T0.AddHours(2), TimeSpan.FromHours(1)));
        Assert.Null(CarbonWindows.Best(forecast, T0.AddHours(1.5), T0.AddHours(4), TimeSpan.FromHours(1)));
    }

    [Fact]
    public void Best_ForecastShorterThanTheDeadline_SearchesWhatItCovers()
    {
        var forecast = Hourly("GB", 300, 100, 200);

        var window = CarbonWindows.Best(forecast, T0, T0.AddHours(24), TimeSpan.FromHours(1));

        Assert.Equal(T0.AddHours(1), window?.Start);
    }

    [Fact]
    public void Plan_ShiftsInSpaceToTheLowestLocation()
    {
        var gb = Hourly("GB", 300, 200, 250, 300);
        var fr = Hourly("FR", 90, 60, 80, 90);

        var plan = new CarbonPlanner(TimeSpan.Zero).Plan(T0, T0.AddHours(4), TimeSpan.FromHours(1), [gb, fr])!.Value;

        Assert.Equal("FR", plan.Location);
        Assert.Equal(T0.AddHours(1), plan.Start);
        Assert.Equal(60, plan.PlannedGramsPerKwh);
        Assert.Equal(90, plan.NowGramsPerKwh);
        Assert.False(plan.RunsNow(T0));
    }

    [Fact]
    public void Plan_NeverLaterThanDeadlineMinusRuntime()
    {
        // Falling all the way: the best is as late as the deadline allows, and no later.
        var forecast = Hourly("GB", 400, 300, 200, 100, 50, 10);
        var deadline = T0.AddHours(3.25);
        var runtime = TimeSpan.FromHours(1);

        var plan = CarbonPlanner.Default.Plan(T0, deadline, runtime, [forecast])!.Value;

        Assert.Equal(deadline - runtime, plan.Start);
    }

    [Fact]
    public void Plan_NoForecastOrNoRoom_IsNull()
    {
        Assert.Null(CarbonPlanner.Default.Plan(T0, T0.AddHours(4), TimeSpan.FromHours(1), []));
        Assert.Null(CarbonPlanner.Default.Plan(T0, T0.AddMinutes(30), TimeSpan.FromHours(1), [Hourly("GB", 1, 2, 3)]));
    }

    [Fact]
    public void Replan_KeepsThePlanUnlessTheFreshOneIsClearlyBetter()
    {
        var planner = new CarbonPlanner(TimeSpan.Zero, 0.15);
        var current = new CarbonPlan(T0.AddHours(3), "GB", 100, 300);

        // Fresh forecast: now (00:00) at 95 vs the planned 03:00 at 100: 5 % better, not enough.
        var kept = planner.Replan(current, T0, T0.AddHours(6), TimeSpan.FromHours(1), [Hourly("GB", 95, 300, 300, 100, 300, 300)])!.Value;
        Assert.Equal(T0.AddHours(3), kept.Start);
        Assert.Equal(100, kept.PlannedGramsPerKwh);

        // Now at 50: half the planned window, so the plan moves to now.
        var moved = planner.Replan(current, T0, T0.AddHours(6), TimeSpan.FromHours(1), [Hourly("GB", 50, 300, 300, 100, 300, 300)])!.Value;
        Assert.True(moved.RunsNow(T0));
    }

    [Fact]
    public void Simulate_NightlyOnASyntheticYear_MovesJobsIntoTheTroughAndMissesNothing()
    {
        // Two years of half-hourly points: 400 g/kWh except 04:00–05:00 at 100.
        var points = new List<IntensityPoint>();
        var start = new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero);
        for (var t = start; t < start.AddDays(380); t = t.AddMinutes(30))
        {
            points.Add(new IntensityPoint(t, t.Hour == 4 ? 100 : 400));
        }

        var trace = new CarbonForecast("X", points, TimeSpan.FromMinutes(30), start);
        var result = CarbonSimulation.Run(trace, new CarbonSimulationOptions { Scenario = CarbonScenario.Nightly });

        Assert.Equal(365, result.Jobs);
        Assert.Equal(0, result.DeadlineMisses);
        Assert.Equal(365 * 400 * 0.5, result.BaselineGrams, 3);
        Assert.Equal(365 * 100 * 0.5, result.DeferredGrams, 3);
        Assert.Equal(75, result.SavingsPercent, 6);
    }

    [Fact]
    public void Simulate_MlJobs_ArriveOnWorkdaysWithinHoursAndAreDueNextWorkday()
    {
        var from = new DateTimeOffset(2020, 1, 6, 0, 0, 0, TimeSpan.Zero); // a Monday
        var jobs = CarbonSimulation.MlJobs(from, from.AddDays(7), 1.5, 7);

        Assert.NotEmpty(jobs);
        Assert.All(jobs, j =>
        {
            Assert.InRange(j.Arrival.Hour, 9, 16);
            Assert.NotEqual(DayOfWeek.Saturday, j.Arrival.DayOfWeek);
            Assert.NotEqual(DayOfWeek.Sunday, j.Arrival.DayOfWeek);
            Assert.InRange(j.Runtime.TotalMinutes, 4, 90);
            Assert.Equal(9, j.Deadline.Hour);
            Assert.Equal(j.Arrival.DayOfWeek == DayOfWeek.Friday ? 3 : 1, (j.Deadline.Date - j.Arrival.Date).Days);
        });
    }
}
