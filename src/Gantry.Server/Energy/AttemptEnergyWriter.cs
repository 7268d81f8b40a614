using Gantry.Server.Configuration;
using Gantry.Server.Jobs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Energy;

/// <summary>
/// Writes running attempts' live energy to the store every <see cref="ServerOptions.EnergyWriteInterval"/>
/// (heartbeats only update memory), and once more when the server stops. A failing write is logged
/// and the next tick tries again with the figures then.
/// </summary>
internal sealed partial class AttemptEnergyWriter(JobQueue jobs, ServerOptions options, TimeProvider time, ILogger<AttemptEnergyWriter> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(options.EnergyWriteInterval, time);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                Flush();
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping: what changed since the last tick is written below.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        Flush();
    }

    private void Flush()
    {
        try
        {
            jobs.FlushEnergy();
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogWriteFailed(logger, ex);
        }
    }

    [LoggerMessage(EventId = 2700, Level = LogLevel.Warning, Message = "Writing running jobs' energy to the store failed; the next tick tries again")]
    private static partial void LogWriteFailed(ILogger logger, Exception exception);
}
