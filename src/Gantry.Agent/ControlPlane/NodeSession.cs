namespace Gantry.Agent.ControlPlane;

/// <summary>One registration: the node's id, its credential, and a signal for when the server forgot it.</summary>
internal sealed class Registration(string nodeId, string credential, TimeSpan heartbeatInterval)
{
    private readonly TaskCompletionSource _lost = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public string NodeId { get; } = nodeId;
    public string Credential { get; } = credential;
    public TimeSpan HeartbeatInterval { get; } = heartbeatInterval;

    /// <summary>Completes when a call answered 401 or 404 with this registration's credential.</summary>
    public Task Lost => _lost.Task;

    internal void MarkLost() => _lost.TrySetResult();
}

/// <summary>
/// The node's current registration, shared by the heartbeat, the assignments loop and the outbox.
/// Whoever gets 401 or 404 invalidates it; the heartbeat worker then registers again and every
/// waiter gets the new one.
/// </summary>
internal sealed class NodeSession
{
    private readonly Lock _gate = new();
    private TaskCompletionSource<Registration> _current = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The registration in force, or null while (re-)registering.</summary>
    public Registration? Current
    {
        get
        {
            lock (_gate)
            {
                return _current.Task.IsCompletedSuccessfully ? _current.Task.Result : null;
            }
        }
    }

    /// <summary>Waits for a registration in force.</summary>
    public Task<Registration> WaitAsync(CancellationToken cancellationToken)
    {
        lock (_gate)
        {
            return _current.Task.WaitAsync(cancellationToken);
        }
    }

    public void Set(Registration registration)
    {
        lock (_gate)
        {
            if (_current.Task.IsCompleted)
            {
                _current = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }

            _current.SetResult(registration);
        }
    }

    /// <summary>Drops <paramref name="registration"/> if it is still the one in force (a later one is kept).</summary>
    public void Invalidate(Registration registration)
    {
        ArgumentNullException.ThrowIfNull(registration);
        lock (_gate)
        {
            if (_current.Task.IsCompletedSuccessfully && ReferenceEquals(_current.Task.Result, registration))
            {
                _current = new(TaskCreationOptions.RunContinuationsAsynchronously);
            }
        }

        registration.MarkLost();
    }
}
