namespace Gantry.Server.Leadership;

/// <summary>
/// Who leads the replicas that share one store. <see cref="SoleLease"/> for a server that runs alone
/// (SQLite): it always leads. <see cref="PostgresLeaderLease"/>: a lease row in the shared database.
/// </summary>
internal interface ILeaderLease : IAsyncDisposable
{
    /// <summary>
    /// Takes the lease when it is free or expired, or renews it when this replica holds it; says who
    /// leads now. <paramref name="advertiseUrl"/> is where other replicas send clients while this one
    /// leads. Throws when the store cannot be reached (the caller counts that as not renewed).
    /// </summary>
    Task<LeaseState> AcquireOrRenewAsync(string advertiseUrl, CancellationToken cancellationToken);

    /// <summary>Gives the lease up at once when this replica holds it (a clean stop): another replica, or this one restarted, need not wait for it to run out.</summary>
    Task ReleaseAsync(CancellationToken cancellationToken);
}

/// <summary>The lease as one call found it: whether this replica leads, the leader's epoch and address.</summary>
internal sealed record LeaseState(bool IsLeader, long Epoch, string? LeaderUrl);

/// <summary>A server that runs alone leads from the start, at epoch 0.</summary>
internal sealed class SoleLease : ILeaderLease
{
    public Task<LeaseState> AcquireOrRenewAsync(string advertiseUrl, CancellationToken cancellationToken) => Task.FromResult(new LeaseState(true, 0, advertiseUrl));

    public Task ReleaseAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
