using System.Diagnostics;
using System.Globalization;
using Gantry.Server.Telemetry;

namespace Gantry.Benchmarks;

/// <summary>
/// CPU time of the telemetry writer per heartbeat summary: <c>TelemetryStore.Write</c> of
/// BATCHES batches of NODES 8-GPU summaries (each the next 5 s, so minutes complete
/// and are rolled up as in service), timed as process CPU rather than wall time so that other load
/// on a shared machine does not blur it. <c>dotnet run -c Release --project bench/Gantry.Benchmarks
/// -- telemetry-cpu NODES BATCHES</c>; docs/benchmarks.md has the figures.
/// </summary>
internal static class TelemetryCpuProbe
{
    /// <summary>Writes and prints CPU and wall time per batch and CPU per summary.</summary>
    public static void Run(int nodes, int batches)
    {
        var store = TelemetryData.OpenStore(out var dir);
        var items = new TelemetryItem[nodes];
        var t = TelemetryData.Start;
        for (var i = 0; i < nodes; i++)
        {
            items[i] = new TelemetryItem(string.Create(CultureInfo.InvariantCulture, $"node-{i:D5}"), t, TelemetryData.Summary(t, i));
        }

        store.Write(items);
        var cpu0 = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        for (var b = 1; b <= batches; b++)
        {
            t += TimeSpan.FromSeconds(5);
            for (var i = 0; i < nodes; i++)
            {
                items[i] = items[i] with { Time = t };
            }

            store.Write(items);
        }

        var cpu = Process.GetCurrentProcess().TotalProcessorTime - cpu0;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"nodes {nodes} batches {batches}: CPU {cpu.TotalMilliseconds / batches:F1} ms/batch, wall {wall.Elapsed.TotalMilliseconds / batches:F1} ms/batch, CPU per heartbeat {cpu.TotalMicroseconds / batches / nodes:F1} us"));
        TelemetryData.Delete(store, dir);
    }
}
