using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.ControlPlane;

/// <summary>
/// Holds a blocking <c>GET …/assignments?index=N&amp;wait=30s</c> open and reconciles every answer
/// with the job runner: <c>run</c> attempts not started yet are started (an attempt is never started
/// twice), <c>stop</c> attempts are stopped, and local attempts the server no longer lists are stopped.
/// An answer from a leader epoch older than one already seen never gets here: the client drops it
/// (<see cref="LeaderFollower.Accept"/>), so a replica that lost leadership neither starts nor stops anything.
/// </summary>
internal sealed class AssignmentWorker(
    ControlPlaneClient client,
    NodeSession session,
    ServerConnection connection,
    JobRunner runner,
    ILogger<AssignmentWorker> logger) : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var backoff = client.NewBackoff();
        Registration? current = null;
        long index = 0;
        long answeredEpoch = 0;
        try
        {
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var registration = await session.WaitAsync(stoppingToken).ConfigureAwait(false);
                    if (!ReferenceEquals(registration, current))
                    {
                        // A new registration may be a new server: its index starts over.
                        current = registration;
                        index = 0;
                    }

                    if (client.Follower.LeaderEpoch != answeredEpoch)
                    {
                        // A new leader (seen by any call): its index need not follow the old one's, so
                        // ask for the whole list at once rather than wait on an index it may never reach.
                        index = 0;
                    }

                    var result = await client.AssignmentsAsync(registration.NodeId, registration.Credential, index, stoppingToken).ConfigureAwait(false);
                    if (result is { Ok: true, Value: { } answer })
                    {
                        connection.Succeeded();
                        backoff.Reset();
                        Reconcile(runner, answer);
                        index = answer.Index;
                        answeredEpoch = answer.LeaderEpoch > 0 ? answer.LeaderEpoch : client.Follower.LeaderEpoch;
                        continue;
                    }

                    if (result.Status is 401 or 404)
                    {
                        connection.Succeeded();
                        session.Invalidate(registration);
                        continue;
                    }

                    if (result.Transient)
                    {
                        connection.Failed(result.Error ?? new HttpRequestException($"HTTP {result.Status}: {result.Detail}"));
                    }

                    await connection.WaitOutBackoffAsync(backoff.Next(), stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    AgentLog.LoopFailed(logger, ex);
                    await connection.WaitOutBackoffAsync(backoff.Next(), stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The agent is stopping.
        }
    }

    /// <summary>Makes the runner match one answer.</summary>
    internal static void Reconcile(JobRunner runner, AssignmentsResponse answer)
    {
        var listed = new HashSet<AttemptKey>();
        foreach (var assignment in answer.Attempts)
        {
            listed.Add(AttemptKey.Of(assignment));
            if (assignment.Action == AssignmentAction.Run)
            {
                runner.Start(assignment);
            }
            else
            {
                runner.StopAssignment(assignment);
            }
        }

        foreach (var running in runner.Running())
        {
            var key = new AttemptKey(running.JobId, running.Attempt, running.Epoch);
            if (!listed.Contains(key))
            {
                runner.Stop(key, AttemptEndCause.Stopped);
            }
        }
    }
}

/// <summary>Stops the jobs when the agent stops, and gives their last events a moment to go out.</summary>
internal sealed class JobsLifetime(JobRunner runner, AttemptOutbox outbox, TimeProvider time) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        try
        {
            await runner.StopAllAsync(TimeSpan.FromSeconds(3), cancellationToken).ConfigureAwait(false);
            using var flushTimeout = new CancellationTokenSource(TimeSpan.FromSeconds(1), time);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(flushTimeout.Token, cancellationToken);
            await outbox.FlushAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            // What did not end or go out is in the state dir: the next agent run reports it orphaned.
        }
    }
}
