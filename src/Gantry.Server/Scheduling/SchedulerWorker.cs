using System.Diagnostics;
using Gantry.Core.Scheduling;
using Gantry.Server.Cluster;
using Gantry.Server.Configuration;
using Gantry.Server.Observability;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Scheduling;

/// <summary>
/// Runs a scheduling pass whenever something changed (a submission, an attempt that ended, a node
/// that became ready) and at least once a second (reservations depend on waiting time).
/// </summary>
internal sealed partial class SchedulerWorker(ControlPlane cluster, ServerOptions options, ServerMetrics metrics, TimeProvider time, ILogger<SchedulerWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var policy = new SchedulerPolicy { ReservationAfter = options.ReservationAfter };
        while (!stoppingToken.IsCancellationRequested)
        {
            var wake = cluster.SchedulerWake.Next;
            try
            {
                Pass(policy);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogPassFailed(logger, ex);
            }

            try
            {
                await Task.WhenAny(wake, Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One pass: snapshot, decide (pure, outside the lock), apply.</summary>
    internal int Pass(SchedulerPolicy policy)
    {
        var started = Stopwatch.GetTimestamp();
        var input = cluster.SchedulingInput(policy);
        if (input.Pending.Count == 0)
        {
            return 0;
        }

        var result = Scheduler.Schedule(input);
        var placed = cluster.Apply(result);
        metrics.Placements.Add(placed);
        metrics.SchedulingPass.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (placed > 0)
        {
            LogPass(logger, placed, input.Pending.Count - placed);
        }

        return placed;
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Debug, Message = "Scheduling pass placed {Placed} jobs; {Waiting} wait")]
    private static partial void LogPass(ILogger logger, int placed, int waiting);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Error, Message = "Scheduling pass failed")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);
}
