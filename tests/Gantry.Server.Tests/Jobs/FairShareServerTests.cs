using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Jobs;
using Gantry.Server.Storage;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Jobs;

/// <summary>Fair share on a real server (SQLite, or PostgreSQL with <c>GANTRY_TEST_STORE=postgres</c>): usage across a restart, order, the API.</summary>
public sealed class FairShareServerTests
{
    [Fact]
    public async Task Restart_StoredUsage_OrdersTwoAccountsJobsAndShowsInTheApi()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-fair-share-").FullName;
        await using var store = await TestStore.CreateAsync();
        await using (var first = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            // Alice's usage as the server stores it after her attempts: 12 GPU-hours, worked out just now.
            var usage = new AccountUsageRow("alice", 12 * 3600, DateTimeOffset.UtcNow);
            first.App.Services.GetRequiredService<IStateStore>().Write(w => w.UpsertAccountUsage(usage));
        }

        // Long leases: the node registered below never heartbeats, and must stay ready while the test reads.
        await using var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store, configure: o => (o.HeartbeatInterval, o.DownAfter) = (TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(5)));

        // The owner is the account (the API gives the caller; here the queue is called directly).
        var alice = server.Jobs.Submit(Job(), new JobOwner("alice", null, true)).FirstId;
        var bob = server.Jobs.Submit(Job(), new JobOwner("bob", null, true)).FirstId;
        await server.RegisterAsync("one-gpu", gpus: 1);

        // Bob's later job takes the one GPU; Alice's waits. Its reason names the share in the pass that
        // placed Bob's job only (later passes place nothing ahead of it and say what it waits for), so the
        // words are checked where passes are run one by one (FairShareQueueTests).
        await server.WaitForJobAsync(bob, j => j.State == JobState.Assigned);
        Assert.Equal(JobState.Pending, (await server.JobAsync(alice)).State);

        var report = (await server.Admin.GetFromJsonAsync("/api/v1/fair-share", GantryJson.Default.FairShareInfo))!;
        Assert.True(report.Enabled);
        Assert.Equal(7 * 86400, report.HalfLifeSeconds);
        var accounts = report.Accounts.ToDictionary(a => a.Account);
        Assert.InRange(accounts["alice"].UsageGpuHours, 11.99, 12.0);
        Assert.Equal(1, accounts["alice"].PendingJobs);
        Assert.Equal(1, accounts["bob"].RunningGpus);
        Assert.Equal(0, accounts["bob"].PendingJobs);
        Assert.Null(accounts["bob"].MaxGpus);

        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains("gantry_server_account_usage_gpu_seconds{account=\"alice\"} 431", metrics, StringComparison.Ordinal);
        Assert.Contains("gantry_server_account_gpus{account=\"bob\"} 1\n", metrics, StringComparison.Ordinal);
        Assert.Contains("gantry_server_account_pending_jobs{account=\"alice\"} 1\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task FairShare_WithoutAdminToken_Unauthorized()
    {
        await using var server = await ServerHarness.StartAsync();

        using var response = await server.Anonymous.GetAsync("/api/v1/fair-share");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    private static JobSubmission Job() => new() { Command = ["true"], Resources = new ResourceRequest { Gpus = 1, Cpus = 1 } };
}
