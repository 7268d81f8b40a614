using Gantry.Server.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Telemetry;

/// <summary>
/// Once at start, in the background: adds today's energy so far from the telemetry history to
/// <see cref="EnergyToday"/>, so the dashboard's "energy today" survives a server restart.
/// </summary>
internal sealed class EnergyTodaySeeder(TelemetryStore store, TelemetryIngest ingest, NodeRegistry nodes, TimeProvider time, ILogger<EnergyTodaySeeder> logger) : BackgroundService
{
    protected override Task ExecuteAsync(CancellationToken stoppingToken) => Task.Run(() =>
    {
        try
        {
            var now = time.GetUtcNow();
            var gpus = new List<(string, IReadOnlyList<int>)>();
            foreach (var node in nodes.ListNodes(state: null, cursor: null, limit: int.MaxValue).Items)
            {
                gpus.Add((node.Id, node.Gpus.Select(static g => g.Index).ToList()));
            }

            var joules = EnergyToday.FromHistory(store, gpus, now);
            ingest.Energy.Seed(now, joules);
            TelemetryLog.EnergySeeded(logger, joules / 3.6e6, gpus.Count);
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or ObjectDisposedException)
        {
            TelemetryLog.EnergySeedFailed(logger, ex);
        }
    }, stoppingToken);
}
