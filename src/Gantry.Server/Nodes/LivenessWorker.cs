using Gantry.Server.Configuration;
using Gantry.Server.Jobs;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Nodes;

/// <summary>Sweeps node leases: ready → suspect → down; a node that goes down loses its live attempts.</summary>
internal sealed partial class LivenessWorker(NodeRegistry nodes, JobQueue jobs, ServerOptions options, TimeProvider time, ILogger<LivenessWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var period = TimeSpan.FromMilliseconds(Math.Clamp(options.HeartbeatInterval.TotalMilliseconds / 2, 100, 1000));
        using var timer = new PeriodicTimer(period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    Sweep();
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogSweepFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>One sweep: leases that ran out, and the attempts of nodes that went down marked lost.</summary>
    internal void Sweep()
    {
        foreach (var (_, reason, attempts) in nodes.Sweep())
        {
            jobs.LoseAttempts(attempts, reason);
        }
    }

    [LoggerMessage(EventId = 2200, Level = LogLevel.Error, Message = "Liveness sweep failed")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
