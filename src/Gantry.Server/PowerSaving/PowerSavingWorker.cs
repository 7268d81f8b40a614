using Gantry.Server.Configuration;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.PowerSaving;

/// <summary>
/// Idle power-down, once a second on the leader: resumes suspended nodes that waiting jobs need, marks
/// down resuming nodes past their timeout, suspends nodes idle past <c>--suspend-after</c>. Each tick reads
/// the queue's pending heads (at most <c>--scheduler-depth</c>) and the registry's due idle nodes and
/// suspended ones; never every job or node. Commands run as child processes beside the loop, so a slow one
/// never holds up the next decision.
/// </summary>
internal sealed partial class PowerSavingWorker(NodeRegistry nodes, JobQueue jobs, ServerOptions options, PowerSavingMetrics metrics, TimeProvider time, ILogger<PowerSavingWorker> logger) : BackgroundService
{
    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private readonly List<Task> _running = [];

    // Whether the queue holds resume notes from an earlier tick (cleared once nothing is resuming).
    private bool _notes;

    /// <summary>How soon an idle node held back (by <c>--keep-idle</c> or a job that fits it) is looked at again.</summary>
    private TimeSpan Recheck => options.PowerSaving.SuspendAfter is { } after ? TimeSpan.FromTicks(Math.Clamp(after.Ticks / 10, Period.Ticks, TimeSpan.FromSeconds(30).Ticks)) : Period;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!options.PowerSaving.Enabled)
        {
            return;
        }

        using var timer = new PeriodicTimer(Period, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    _running.RemoveAll(static t => t.IsCompleted);
                    _running.Add(Tick(stoppingToken));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogTickFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }

        try
        {
            await Task.WhenAll(_running).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Commands cut short by the stop.
        }
    }

    /// <summary>
    /// One tick: the decisions now (synchronously), then the commands they call for; the task ends when those
    /// commands did and their outcome is applied (tests await it; the loop lets it run beside the next tick).
    /// </summary>
    internal Task Tick(CancellationToken cancellationToken)
    {
        var now = time.GetUtcNow();
        var power = options.PowerSaving;
        if (!nodes.PowerWorkDue(now))
        {
            // Nothing suspended, resuming or due: the queue is not read at all.
            if (_notes)
            {
                jobs.SetResumeNotes([]);
                _notes = false;
            }

            return Task.CompletedTask;
        }

        var heads = jobs.PendingHeads(options.SchedulerDepth);
        var (resume, notes) = nodes.PlanResumes(heads, now);
        jobs.SetResumeNotes(notes);
        _notes = notes.Count > 0;
        nodes.MarkResumesFailed(now);
        var suspend = nodes.TakeDueForSuspend(heads, now, Recheck);
        if (resume.Count == 0 && suspend.Count == 0)
        {
            return Task.CompletedTask;
        }

        var commands = new List<Task>(resume.Count + suspend.Count);
        foreach (var (id, name) in resume)
        {
            commands.Add(ResumeAsync(id, name, power.ResumeCommand!, power.CommandTimeout, cancellationToken));
        }

        foreach (var (id, name) in suspend)
        {
            commands.Add(SuspendAsync(id, name, power.SuspendCommand!, power.CommandTimeout, cancellationToken));
        }

        return Task.WhenAll(commands);
    }

    private async Task SuspendAsync(string id, string name, string program, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var result = await PowerCommand.RunAsync(program, name, id, timeout, cancellationToken).ConfigureAwait(false);
        if (result.Succeeded)
        {
            nodes.Suspended(id);
        }
        else
        {
            nodes.SuspendFailed(id, result.Failure!);
        }

        metrics.Command("suspend", result.Succeeded);
    }

    private async Task ResumeAsync(string id, string name, string program, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var result = await PowerCommand.RunAsync(program, name, id, timeout, cancellationToken).ConfigureAwait(false);
        if (!result.Succeeded)
        {
            nodes.MarkResumesFailed(time.GetUtcNow(), [(id, result.Failure!)]);
        }

        metrics.Command("resume", result.Succeeded);
    }

    [LoggerMessage(EventId = 2790, Level = LogLevel.Error, Message = "Power-saving tick failed")]
    private static partial void LogTickFailed(ILogger logger, Exception exception);
}
