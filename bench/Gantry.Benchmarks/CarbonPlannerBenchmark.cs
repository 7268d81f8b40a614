using BenchmarkDotNet.Attributes;
using Gantry.Core.Carbon;

namespace Gantry.Benchmarks;

/// <summary>
/// Planning one deferrable job (<see cref="CarbonPlanner.Default"/>): a 48-hour forecast per location
/// at 15-minute steps (192 points, as the German trace), a 90-minute job due 24 hours out, in one
/// location and across three (shifting in space); and a re-plan of a held job. The server plans at
/// each deferrable submission and re-plans each held job when its planned start comes
/// (docs/carbon.md); <c>gantry carbon simulate</c> re-plans every held job at every forecast issue.
/// </summary>
[MemoryDiagnoser]
public class CarbonPlannerBenchmark
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 10, 7, 0, TimeSpan.Zero);
    private static readonly TimeSpan Runtime = TimeSpan.FromMinutes(90);
    private CarbonForecast[] _one = null!;
    private CarbonForecast[] _three = null!;
    private CarbonPlan _current;

    [GlobalSetup]
    public void Setup()
    {
        _three = [Forecast("DE", 0), Forecast("GB", 1.3), Forecast("FR", 2.1)];
        _one = [_three[0]];
        _current = CarbonPlanner.Default.Plan(Now, Now.AddHours(24), Runtime, _one)!.Value;
    }

    [Benchmark]
    public CarbonPlan? PlanOneLocation() => CarbonPlanner.Default.Plan(Now, Now.AddHours(24), Runtime, _one);

    [Benchmark]
    public CarbonPlan? PlanThreeLocations() => CarbonPlanner.Default.Plan(Now, Now.AddHours(24), Runtime, _three);

    [Benchmark]
    public CarbonPlan? Replan() => CarbonPlanner.Default.Replan(_current, Now.AddHours(1), Now.AddHours(24), Runtime, _one);

    /// <summary>A daily wave with some wobble, 15-minute steps from the hour before now, 48 hours.</summary>
    internal static CarbonForecast Forecast(string location, double phase)
    {
        var start = new DateTimeOffset(2026, 12, 3, 9, 0, 0, TimeSpan.Zero);
        var points = new IntensityPoint[192];
        for (var i = 0; i < points.Length; i++)
        {
            var hours = i / 4.0;
            points[i] = new IntensityPoint(start.AddMinutes(15 * i), 300 + (120 * Math.Sin((hours / 24 * 2 * Math.PI) + phase)) + (15 * Math.Sin(hours * 1.7)));
        }

        return new CarbonForecast(location, points, TimeSpan.FromMinutes(15), start);
    }
}
