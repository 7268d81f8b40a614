using System.Security.Cryptography;

namespace Gantry.Agent.ControlPlane;

/// <summary>
/// Exponential backoff with full jitter: the n-th consecutive failure waits a uniformly random time
/// in [0, min(cap, initial × 2ⁿ)), so agents that lost the server together do not come back together.
/// </summary>
internal sealed class Backoff(TimeSpan initial, TimeSpan cap)
{
    public static Backoff Default() => new(TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(15));

    private int _failures;

    public int Failures => _failures;

    /// <summary>The ceiling of the next delay (no jitter).</summary>
    public TimeSpan Ceiling => TimeSpan.FromTicks((long)Math.Min(cap.Ticks, initial.Ticks * Math.Pow(2, Math.Min(_failures, 30))));

    /// <summary>The delay before the next try; each call counts one more failure.</summary>
    public TimeSpan Next()
    {
        var ceiling = Ceiling;
        _failures++;
        return TimeSpan.FromTicks((long)(ceiling.Ticks * (RandomNumberGenerator.GetInt32(int.MaxValue) / (double)int.MaxValue)));
    }

    public void Reset() => _failures = 0;
}

/// <summary>
/// Whether the control plane answers, as every loop sees it after a full round of its URLs: the first
/// failure after a success logs one warning, the first success after failures logs one line, retries
/// in between log nothing. <c>/status</c> shows it through <see cref="LeaderFollower"/>.
/// </summary>
internal sealed class ServerConnection(LeaderFollower follower, TimeProvider time, Microsoft.Extensions.Logging.ILogger logger)
{
    private readonly string _servers = string.Join(", ", follower.Servers.Select(LeaderFollower.Display));

    private readonly Lock _gate = new();
    private long? _downSince;
    private TaskCompletionSource _recovered = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public bool Down
    {
        get
        {
            lock (_gate)
            {
                return _downSince is not null;
            }
        }
    }

    public void Failed(Exception error)
    {
        lock (_gate)
        {
            if (_downSince is not null)
            {
                return;
            }

            _downSince = time.GetTimestamp();
        }

        follower.SetReachable(false);
        AgentLog.ServerUnreachable(logger, _servers, error);
    }

    /// <summary>
    /// Waits <paramref name="delay"/> (a backoff's), or less: until any loop finds the control plane
    /// answering again after it was down. After a failover the heartbeat usually finds the new leader
    /// first; the assignments poll and the attempt reports then follow at once instead of sleeping out
    /// their own backoffs (up to 2 s each with several servers), which delayed the first job on the
    /// new leader by seconds (bench/failover.sh).
    /// </summary>
    public async Task WaitOutBackoffAsync(TimeSpan delay, CancellationToken cancellationToken)
    {
        Task recovered;
        lock (_gate)
        {
            recovered = _recovered.Task;
        }

        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var sleep = Task.Delay(delay, time, stop.Token);
        if (await Task.WhenAny(sleep, recovered).ConfigureAwait(false) == recovered)
        {
            await stop.CancelAsync().ConfigureAwait(false);
        }

        cancellationToken.ThrowIfCancellationRequested();
    }

    public void Succeeded()
    {
        long since;
        TaskCompletionSource recovered;
        lock (_gate)
        {
            if (_downSince is not { } down)
            {
                return;
            }

            since = down;
            _downSince = null;
            recovered = _recovered;
            _recovered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        // Every loop waiting out a backoff goes at once (WaitOutBackoffAsync).
        recovered.TrySetResult();

        var seconds = time.GetElapsedTime(since).TotalSeconds;
        follower.SetReachable(true);
        var current = follower.Current;
        AgentLog.ServerReachable(logger, current, seconds);
    }
}
