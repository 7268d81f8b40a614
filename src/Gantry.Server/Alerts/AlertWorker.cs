using Gantry.Server.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Alerts;

/// <summary>Evaluates the alert rules every <c>--alert-interval</c> while this replica leads.</summary>
internal sealed partial class AlertWorker(AlertEngine engine, Configuration.ServerOptions options, TimeProvider time, ILogger<AlertWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.AlertInterval, time);
        do
        {
            try
            {
                engine.Evaluate();
            }
            catch (StoreUnavailableException ex)
            {
                Log.StoreUnavailable(logger, ex.Message);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                // One bad evaluation must not stop the server (a BackgroundService that throws stops the host).
                Log.EvaluationFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2504, Level = LogLevel.Warning, Message = "Alert evaluation skipped, the store is unavailable: {Reason}")]
        public static partial void StoreUnavailable(ILogger logger, string reason);

        [LoggerMessage(EventId = 2505, Level = LogLevel.Error, Message = "Alert evaluation failed; the next one runs on schedule")]
        public static partial void EvaluationFailed(ILogger logger, Exception exception);
    }
}
