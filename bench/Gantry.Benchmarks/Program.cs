using System.Globalization;
using BenchmarkDotNet.Running;
using Gantry.Benchmarks;
using Gantry.Core.Scheduling;

var summaries = BenchmarkSwitcher.FromAssembly(typeof(PlacementBenchmark).Assembly).Run(args);

// Placements per second = placements one pass makes / mean time of a pass. The pass is a pure
// function of its input, so counting once here gives the count every measured pass made.
foreach (var summary in summaries)
{
    foreach (var report in summary.Reports)
    {
        if (report.BenchmarkCase.Descriptor.Type != typeof(PlacementBenchmark) || report.ResultStatistics is null)
        {
            continue;
        }

        var result = Scheduler.Schedule(PlacementBenchmark.CreateInput());
        var meanSeconds = report.ResultStatistics.Mean / 1e9;
        Console.WriteLine(string.Create(
            CultureInfo.InvariantCulture,
            $"{report.BenchmarkCase.DisplayInfo}: {result.Placements.Count} placements, {result.Reservations.Count} reservations, {result.Waiting.Count} waiting; mean {meanSeconds * 1e3:F2} ms => {result.Placements.Count / meanSeconds:N0} placements/s (target 10,000/s)"));
    }
}
