using Gantry.Server.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Power;

/// <summary>
/// Keeps the fleet under <c>--power-budget</c> (docs/power.md): divides it among the GPUs every
/// <c>--power-budget-interval</c> and soon after jobs take or let go of GPUs, at most once per
/// <see cref="PowerCaps.DivisionSpacing"/> however many start or end. Leader only; does nothing without
/// a budget. A failing division is logged and the loop goes on.
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
                // Taken before dividing: a job that starts during the division wakes the next one.
                var changed = caps.GpusChangedTask;
                try
                {
                    var division = caps.DivideBudget(budget);
                    if (division.Insufficient && !wasInsufficient)
                    {
                        Log.Insufficient(logger, budget, division.BusyGpus);
                    }

                    wasInsufficient = division.Insufficient;
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

        [LoggerMessage(EventId = 3311, Level = LogLevel.Error, Message = "Dividing the power budget failed; the next division runs on schedule")]
        public static partial void DivisionFailed(ILogger logger, Exception exception);
    }
}
