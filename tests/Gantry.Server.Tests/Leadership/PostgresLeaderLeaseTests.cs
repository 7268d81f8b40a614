using Gantry.Server.Leadership;
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
