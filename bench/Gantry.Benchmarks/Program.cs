using System.Globalization;
using BenchmarkDotNet.Running;
using Gantry.Benchmarks;
using Gantry.Core.Scheduling;

// Not a BenchmarkDotNet benchmark: CPU time per telemetry summary (TelemetryCpuProbe).
if (args is ["telemetry-cpu", var nodes, var batches])
{
    TelemetryCpuProbe.Run(int.Parse(nodes, CultureInfo.InvariantCulture), int.Parse(batches, CultureInfo.InvariantCulture));
    return;
}

var summaries = BenchmarkSwitcher.FromAssembly(typeof(PlacementBenchmark).Assembly).Run(args);

// After BenchmarkDotNet's tables: the rates each hot path is judged by (docs/benchmarks.md).
var sizesDone = new HashSet<bool>();
var heartbeatBodyDone = false;
foreach (var summary in summaries)
{
    foreach (var report in summary.Reports)
    {
        if (report.ResultStatistics is null)
        {
            continue;
        }

        var type = report.BenchmarkCase.Descriptor.Type;
        var name = report.BenchmarkCase.DisplayInfo;
        var meanSeconds = report.ResultStatistics.Mean / 1e9;
        var allocated = report.GcStats.GetBytesAllocatedPerOperation(report.BenchmarkCase);
        if (type == typeof(PlacementBenchmark))
        {
            // The pass is a pure function of its input, so counting once here gives the count every measured pass made.
            var prefer = (bool)report.BenchmarkCase.Parameters["PreferEfficient"];
            var pins = (bool)report.BenchmarkCase.Parameters["CarbonPins"];
            var result = Scheduler.Schedule(PlacementBenchmark.CreateInput(prefer, pins));
            Print($"{name}: {result.Placements.Count} placements, {result.Reservations.Count} reservations, {result.Waiting.Count} waiting; mean {meanSeconds * 1e3:F2} ms => {result.Placements.Count / meanSeconds:N0} placements/s (target 10,000/s); PreferEfficient={prefer}, efficiency decided {result.Placements.Count(p => p.Efficiency is not null):N0}; CarbonPins={pins}, held back by a pin {result.Waiting.Count(w => w.Reason.Contains("(carbon plan)", StringComparison.Ordinal)):N0}");
        }
        else if (type == typeof(FairSharePlacementBenchmark))
        {
            var result = Scheduler.Schedule(FairSharePlacementBenchmark.CreateInput());
            Print($"{name}: {result.Placements.Count} placements, {result.Reservations.Count} reservations, {result.Waiting.Count} waiting; mean {meanSeconds * 1e3:F2} ms => {result.Placements.Count / meanSeconds:N0} placements/s (target 10,000/s); held by a limit {result.Waiting.Count(w => w.Reason.StartsWith("held by limit", StringComparison.Ordinal)):N0}, passed over by fair share {result.Waiting.Count(w => w.Reason.StartsWith("waiting: fair share", StringComparison.Ordinal)):N0}");
        }
        else if (type == typeof(ScrapeBenchmark))
        {
            var dcgm = (bool)report.BenchmarkCase.Parameters["DcgmCompat"];
            Print($"{name}: mean {meanSeconds * 1e6:F1} us, {allocated:N0} B allocated => {1 / meanSeconds:N0} per second");
            if (sizesDone.Add(dcgm))
            {
                var (plain, gzip, samples, lines) = await ScrapeBenchmark.SizesAsync(dcgm, CancellationToken.None);
                Print($"  body with DcgmCompat={dcgm}: {plain:N0} bytes, {gzip:N0} bytes gzip ({(double)gzip / plain:P1}), {lines:N0} lines, {samples:N0} samples");
            }
        }
        else if (type == typeof(HeartbeatBenchmark))
        {
            var perSecond = 1 / meanSeconds;
            Print($"{name}: mean {meanSeconds * 1e6:F2} us, {allocated:N0} B allocated => {perSecond:N0} heartbeats/s on one core, {perSecond / 2_000:N1}x the 2,000/s of 10,000 nodes every 5 s");
            if (!heartbeatBodyDone)
            {
                heartbeatBodyDone = true;
                var (previous, current) = await NodeSample.TakeAsync(CancellationToken.None);
                Print($"  heartbeat body: {HeartbeatBenchmark.CreateBody(previous, current).Length:N0} bytes of JSON (8 GPUs, {HeartbeatBenchmark.RunningAttempts} running attempts)");
            }
        }
        else if (type == typeof(LogAppendBenchmark))
        {
            var chunks = (int)report.BenchmarkCase.Parameters["Chunks"];
            Rate(name, meanSeconds, allocated, chunks);
        }
        else if (type == typeof(LogReadBenchmark))
        {
            Rate(name, meanSeconds, allocated, LogReadBenchmark.PageSize);
        }
    }
}

static void Rate(string name, double meanSeconds, long? allocated, int chunks) =>
    Print($"{name}: {chunks} chunks of {RunningJobs.ChunkBytes} B; mean {meanSeconds * 1e6:F1} us, {allocated:N0} B allocated => {chunks / meanSeconds:N0} chunks/s, {chunks * RunningJobs.ChunkBytes / meanSeconds / 1e6:F2} MB/s");

static void Print(FormattableString line) => Console.WriteLine(line.ToString(CultureInfo.InvariantCulture));
