using System.Diagnostics;
using Gantry.Core.Scheduling;
using Gantry.Server.Configuration;
using Gantry.Server.Jobs;
using Gantry.Server.Live;
using Gantry.Server.Nodes;
using Gantry.Server.Observability;
using Gantry.Server.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Scheduling;

/// <summary>
/// Runs a scheduling pass when capacity or the queue changed (a submission, an attempt that ended, a
/// node that became ready) and at least once a second (reservations depend on waiting time). A pass
/// is bounded: it sees the nodes that take work, at most twice <see cref="ServerOptions.SchedulerDepth"/>
/// pending jobs and the accounts in play (<see cref="JobQueue.TakePass"/>), decides outside every lock (a pure function),
/// and applies with a re-check. Passes keep a pause of a few times their own length between them, so
/// a storm of wake-ups (a fleet coming back after a blip) costs a bounded share of a core.
/// </summary>
internal sealed partial class SchedulerWorker(NodeRegistry nodes, JobQueue jobs, Leadership.Leadership leadership, ClusterSignals signals, ServerOptions options, ServerMetrics metrics, TimeProvider time, ILogger<SchedulerWorker> logger) : BackgroundService
{
    /// <summary>Passes take at most about 1/(1+this) of a core (their CPU time) when woken back to back.</summary>
    private const int PauseFactor = 3;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var policy = new SchedulerPolicy { ReservationAfter = options.ReservationAfter, PreferEfficient = options.PowerSaving.PreferEfficient, FairShare = options.FairShareHalfLife > TimeSpan.Zero };
        while (!stoppingToken.IsCancellationRequested)
        {
            var wake = signals.SchedulerWake.Next;
            var started = Stopwatch.GetTimestamp();
            var cpuStarted = ThreadCpuTime.Now();
            try
            {
                Pass(policy);
            }
            catch (Exception ex) when (StoreUnavailableException.Covers(ex))
            {
                // Nothing was placed; the next pass tries again (or this replica steps down). One line, no stack.
                LogPassStoreUnavailable(logger, ex.GetBaseException().Message);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogPassFailed(logger, ex);
            }

            var cpuEnded = ThreadCpuTime.Now();
            try
            {
                // A share of the CPU: what the pass (synchronous, on this thread) used of it where the
                // system says, else its wall time; real time either way, not the injected clock. On
                // PostgreSQL most of a pass's wall time is the database's round trip, not our CPU: a
                // pause of 3x the wall time held placement to ~700 jobs/s (bench/fleet.sh).
                var busy = cpuStarted is { } from && cpuEnded is { } to && to >= from ? to - from : Stopwatch.GetElapsedTime(started);
                var pause = busy * PauseFactor;
                if (pause > TimeSpan.FromMilliseconds(1))
                {
                    await Task.Delay(pause < TimeSpan.FromSeconds(1) ? pause : TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
                }

                await Task.WhenAny(wake, Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken)).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    /// <summary>One pass: snapshot, decide (pure, outside the locks), apply.</summary>
    internal int Pass(SchedulerPolicy policy)
    {
        if (jobs.PendingCount() == 0 || !leadership.IsLeader)
        {
            return 0;
        }

        // Carbon-aware deferral: queue the held jobs whose planned start has come (bounded by those due).
        jobs.ReleaseDeferred();

        // Services: queue those whose restart delay has passed (bounded by those due; JobQueue.Services.cs).
        jobs.ReleaseRestarts();
        if (!nodes.AnySchedulable())
        {
            jobs.NoNodeReady();
            return 0;
        }

        var started = Stopwatch.GetTimestamp();
        var (pending, accounts) = jobs.TakePass(options.SchedulerDepth);
        var input = new SchedulingInput(nodes.SchedulingNodes(), pending, time.GetUtcNow(), policy) { Accounts = accounts };
        var result = Scheduler.Schedule(input);
        var placed = jobs.Apply(result);
        metrics.Placements.Add(placed);
        if (placed > 0)
        {
            // Placing changes capacity and the queue: the next pass runs after the pause, not a second later.
            signals.SchedulerWake.Pulse();
        }

        metrics.SchedulingPass.Observe(Stopwatch.GetElapsedTime(started).TotalSeconds);
        if (placed > 0)
        {
            LogPass(logger, placed, pending.Count - placed);
        }

        return placed;
    }

    [LoggerMessage(EventId = 2100, Level = LogLevel.Debug, Message = "Scheduling pass placed {Placed} of the {Looked} jobs it looked at")]
    private static partial void LogPass(ILogger logger, int placed, int looked);

    [LoggerMessage(EventId = 2101, Level = LogLevel.Error, Message = "Scheduling pass failed")]
    private static partial void LogPassFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2102, Level = LogLevel.Warning, Message = "Scheduling pass placed nothing: the store is unavailable ({Reason})")]
    private static partial void LogPassStoreUnavailable(ILogger logger, string reason);
}
