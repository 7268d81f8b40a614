using Gantry.Server.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Power;

/// <summary>
/// Checks the fleet budget (docs/power.md) every <c>--power-budget-interval</c> and soon after jobs take or
/// let go of GPUs, at most once per <see cref="PowerCaps.DivisionSpacing"/> however many start or end, and
/// logs when it stops covering the busy GPUs' lowest limits. The division itself is
/// kept by the ledger as events come and handed out with heartbeats; this reads its sums, never the fleet.
/// Leader only; does nothing without a budget. A failing tick is logged and the loop goes on.
/// </summary>
internal sealed partial class PowerBudgetWorker(PowerCaps caps, ServerOptions options, TimeProvider time, ILogger<PowerBudgetWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (options.PowerBudgetWatts is not { } budget)
        {
            return;
        }

        var wasInsufficient = false;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                // Taken before checking: a job that starts meanwhile wakes the next tick.
                var changed = caps.GpusChangedTask;
                try
                {
                    if (caps.CheckBudget() is { } figures)
                    {
                        if (figures.Insufficient && !wasInsufficient)
                        {
                            Log.Insufficient(logger, budget, figures.BusyGpus);
                        }

                        wasInsufficient = figures.Insufficient;
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.DivisionFailed(logger, ex);
                }

                await Task.WhenAny(changed, Task.Delay(options.PowerBudgetInterval, time, stoppingToken)).ConfigureAwait(false);
                stoppingToken.ThrowIfCancellationRequested();
                await Task.Delay(PowerCaps.DivisionSpacing, time, stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The server is stopping or stepped down.
        }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3310, Level = LogLevel.Warning, Message = "The power budget of {Watts} W does not cover the lowest power limit of the {Busy} busy GPUs; each is capped at its lowest")]
        public static partial void Insufficient(ILogger logger, double watts, int busy);

        [LoggerMessage(EventId = 3311, Level = LogLevel.Error, Message = "Checking the power budget failed; the next check runs on schedule")]
        public static partial void DivisionFailed(ILogger logger, Exception exception);
    }
}
