using Gantry.Server.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Telemetry;

/// <summary>
/// Deletes raw samples older than <see cref="ServerOptions.RetentionRaw"/> and minute rollups
/// older than <see cref="ServerOptions.RetentionRollup"/>, once at start and then every
/// <see cref="Period"/> of the injected clock.
/// </summary>
internal sealed class TelemetryRetentionWorker(TelemetryStore store, ServerOptions options, TimeProvider time, ILogger<TelemetryRetentionWorker> logger) : BackgroundService
{
    /// <summary>Time between passes.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Period, time);
        try
        {
            do
            {
                Enforce();
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    private void Enforce()
    {
        try
        {
            var now = time.GetUtcNow();
            var (raw, rollup) = store.DeleteBefore(now - options.RetentionRaw, now - options.RetentionRollup);
            TelemetryLog.RetentionDeleted(logger, raw, rollup);
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            TelemetryLog.RetentionFailed(logger, ex);
        }
    }
}
