using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Carbon;

/// <summary>
/// Fetches remote forecasts while this replica leads (a standby serves nothing, so it needs none; with a
/// shared PostgreSQL store each new leader fetches for itself at once, rather than sharing a cache in the
/// store, which would spend the APIs' quota twice over nothing). It wakes when a fetch falls due or a new
/// location is wanted; a failing pass is logged and the loop goes on. Readers never wait for it.
/// </summary>
internal sealed partial class CarbonRefreshWorker(CarbonIntensity carbon, TimeProvider time, ILogger<CarbonRefreshWorker> logger) : BackgroundService
{
    /// <summary>The longest sleep between passes, so that a clock change is noticed.</summary>
    private static readonly TimeSpan MaxSleep = TimeSpan.FromMinutes(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        while (!stoppingToken.IsCancellationRequested)
        {
            var wanted = carbon.NewLocation.Next;
            try
            {
                await carbon.RefreshDueAsync(stoppingToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.PassFailed(logger, ex);
            }

            var now = time.GetUtcNow();
            var sleep = carbon.NextDue() is { } due ? due - now : MaxSleep;
            sleep = sleep < TimeSpan.FromMilliseconds(50) ? TimeSpan.FromMilliseconds(50) : sleep > MaxSleep ? MaxSleep : sleep;
            using var wake = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
            await Task.WhenAny(wanted, Task.Delay(sleep, time, wake.Token)).ConfigureAwait(false);
            await wake.CancelAsync().ConfigureAwait(false);
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2765, Level = LogLevel.Error, Message = "A carbon refresh pass failed; the next one runs on schedule")]
        public static partial void PassFailed(ILogger logger, Exception exception);
    }
}
