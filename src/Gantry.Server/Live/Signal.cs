namespace Gantry.Server.Live;

/// <summary>
/// A level-triggered wake-up for waiters (blocking queries, log followers, workers): <see cref="Next"/>
/// returns a task that completes at the next <see cref="Pulse"/>.
/// </summary>
internal sealed class Signal
{
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The task of the next pulse. Take it before checking state, then await it.</summary>
    public Task Next => Volatile.Read(ref _next).Task;

    /// <summary>Wakes every waiter.</summary>
    public void Pulse() =>
        Interlocked.Exchange(ref _next, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
}

/// <summary>
/// The two wake-ups features share: the scheduler's (capacity or the queue changed) and live views'
/// (any node or job changed). Pulsing is cheap and never blocks.
/// </summary>
internal sealed class ClusterSignals
{
    /// <summary>Pulsed when something the scheduler cares about changed.</summary>
    public Signal SchedulerWake { get; } = new();

    /// <summary>Pulsed on any job or node change (for live views).</summary>
    public Signal Changed { get; } = new();
}
