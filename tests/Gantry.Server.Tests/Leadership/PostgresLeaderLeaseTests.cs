using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Leadership;
using Gantry.Server.Storage;
using Gantry.Server.Storage.Postgres;
using Contract = Gantry.Server.Tests.Storage.StateStoreContract;
using Gantry.Testing;

namespace Gantry.Server.Tests.Leadership;

/// <summary>The leader lease on a real PostgreSQL database: one leader at a time, epochs that rise, expiry on the database's clock.</summary>
public sealed class PostgresLeaderLeaseTests
{
    [PostgresFact]
    public async Task AcquireOrRenew_TwoReplicas_OneLeadsTheOtherSeesItUntilItsLeaseRunsOut()
    {
        await using var db = await PostgresDatabase.CreateAsync();
        var connection = db.ConnectionString;
        await using var a = new PostgresLeaderLease(connection, TimeSpan.FromSeconds(1));
        await using var b = new PostgresLeaderLease(connection, TimeSpan.FromSeconds(1));

        var first = await a.AcquireOrRenewAsync("http://a:7070", CancellationToken.None);
        Assert.Equal(new LeaseState(true, 1, "http://a:7070"), first);
        Assert.Equal(new LeaseState(false, 1, "http://a:7070"), await b.AcquireOrRenewAsync("http://b:7070", CancellationToken.None));

        // Renewing keeps the epoch.
        Assert.Equal(first, await a.AcquireOrRenewAsync("http://a:7070", CancellationToken.None));

        // A leader that stops renewing loses the lease once it runs out; the next leader's epoch is higher.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.Equal(new LeaseState(true, 2, "http://b:7070"), await b.AcquireOrRenewAsync("http://b:7070", CancellationToken.None));
        Assert.Equal(new LeaseState(false, 2, "http://b:7070"), await a.AcquireOrRenewAsync("http://a:7070", CancellationToken.None));
    }

    [PostgresFact]
    public async Task FenceTo_LeaseTakenByTheNextLeader_TheOldLeadersWritesAreRefusedWhole()
    {
        await using var db = await PostgresDatabase.CreateAsync();
        await using var a = new PostgresLeaderLease(db.ConnectionString, TimeSpan.FromSeconds(1));
        await using var b = new PostgresLeaderLease(db.ConnectionString, TimeSpan.FromSeconds(30));
        using var oldLeader = PostgresStateStore.Open(db.Url);
        using var newLeader = PostgresStateStore.Open(db.Url);

        var first = await a.AcquireOrRenewAsync("http://a:7070", CancellationToken.None);
        oldLeader.FenceTo(first.Epoch);
        oldLeader.Write(w => w.InsertJob(Contract.Job(1, JobState.Pending)));

        // a stops renewing (paused, cut off); b takes the lease and writes under its own epoch.
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        var second = await b.AcquireOrRenewAsync("http://b:7070", CancellationToken.None);
        Assert.True(second.IsLeader);
        newLeader.FenceTo(second.Epoch);
        newLeader.Write(w => w.InsertJob(Contract.Job(2, JobState.Pending)));

        // The old leader's next unit of work, a plain batch or one with a log upload in its own
        // transaction, stores nothing, and the error is one the API answers 503 for.
        var batch = Assert.ThrowsAny<Exception>(() => oldLeader.Write(w =>
        {
            w.InsertJob(Contract.Job(3, JobState.Pending));
            w.UpdateJob(Contract.Job(2, JobState.Pending) with { State = JobState.Cancelled, Reason = "by a leader that no longer leads" });
        }));
        Assert.True(StoreUnavailableException.Covers(batch), batch.ToString());
        var upload = Assert.ThrowsAny<Exception>(() => oldLeader.Write(w => w.InsertLog(2, 1, LogSource.Stdout, 0, "stale")));
        Assert.True(StoreUnavailableException.Covers(upload), upload.ToString());

        Assert.Null(newLeader.ReadJob(3));
        Assert.Equal(JobState.Pending, newLeader.ReadJob(2)!.Job.State);
        Assert.Empty(newLeader.ReadLogs(2, 0, 10));
        Assert.NotNull(newLeader.ReadJob(1));
    }

    [PostgresFact]
    public async Task AcquireOrRenew_ManyReplicasAtOnce_ExactlyOneLeads()
    {
        await using var db = await PostgresDatabase.CreateAsync();
        var leases = Enumerable.Range(0, 8).Select(_ => new PostgresLeaderLease(db.ConnectionString, TimeSpan.FromSeconds(30))).ToList();
        try
        {
            var states = await Task.WhenAll(leases.Select((l, i) => l.AcquireOrRenewAsync($"http://r{i}:7070", CancellationToken.None)));
            var leader = Assert.Single(states, s => s.IsLeader);
            Assert.All(states, s => Assert.Equal(leader.LeaderUrl, s.LeaderUrl));
            Assert.All(states, s => Assert.Equal(1, s.Epoch));
        }
        finally
        {
            foreach (var lease in leases)
            {
                await lease.DisposeAsync();
            }
        }
    }
}
