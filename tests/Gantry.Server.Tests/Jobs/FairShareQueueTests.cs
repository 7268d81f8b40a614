using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.FairShare;
using Gantry.Server.Jobs;

namespace Gantry.Server.Tests.Jobs;

/// <summary>Fair share and per-account limits in the job queue: usage charged by attempts, the head merged by it, limits, restarts.</summary>
public sealed class FairShareQueueTests
{
    [Fact]
    public void Pass_AliceUsedGpusEarlier_BobsLaterJobsGoFirst()
    {
        using var f = Features.Create();
        var node = f.Register("g2", gpus: 2);
        UseGpus(f, node, "alice", gpus: 2, TimeSpan.FromHours(6));

        var alice = Enumerable.Range(0, 2).Select(_ => Submit(f, "alice")).ToList();
        var bob = Enumerable.Range(0, 2).Select(_ => Submit(f, "bob")).ToList();
        f.Pass();

        // Twelve GPU-hours, less what decayed in the six hours (a 7-day half-life): 11.9.
        Assert.All(bob, id => Assert.Equal(JobState.Assigned, f.Jobs.GetJob(id)!.State));
        Assert.All(alice, id => Assert.Equal("waiting: fair share — alice used 11.9 GPU-h recently, bob 0.0", f.Jobs.GetJob(id)!.Reason));
    }

    [Fact]
    public void TakePass_OneAccountFloodsTheQueue_OthersStillInTheHead()
    {
        using var f = Features.Create(o => o.SchedulerDepth = 3);
        var node = f.Register("g1", gpus: 1);
        UseGpus(f, node, "alice", gpus: 1, TimeSpan.FromHours(1));
        for (var i = 0; i < 20; i++)
        {
            Submit(f, "alice");
        }

        var bob = Submit(f, "bob");
        var carol = Submit(f, "carol");

        var (pending, accounts) = f.Jobs.TakePass(3);

        // Bob and Carol used nothing: they lead the head, in submission order, then Alice's first job.
        Assert.Equal(bob, pending[0].Id);
        Assert.Equal(carol, pending[1].Id);
        Assert.Equal("alice", pending[2].Account);
        Assert.True(pending.Count <= 6);
        Assert.Equal(pending.Count, pending.Select(p => p.Id).Distinct().Count());
        Assert.Contains(accounts, a => a.Account == "alice" && a.UsageGpuHours > 0.99);
    }

    [Fact]
    public void TakePass_FairShareWindow_VisitsEveryJobOnce()
    {
        using var f = Features.Create(o => o.SchedulerDepth = 2);
        var ids = new List<long>();
        for (var i = 0; i < 9; i++)
        {
            ids.Add(Submit(f, i % 3 == 0 ? "bob" : "alice"));
        }

        var seen = new HashSet<long>();
        for (var pass = 0; pass < 6; pass++)
        {
            var taken = f.Jobs.TakePass(2).Pending.Select(p => p.Id).ToList();
            Assert.Equal(taken.Count, taken.Distinct().Count());
            seen.UnionWith(taken);
        }

        Assert.Equal(ids, seen.Order());
    }

    [Fact]
    public void Pass_AccountAtMaxGpus_WaitsWithLimitReason()
    {
        using var f = Features.Create(limits: new Limits(("alice", new AccountLimits(MaxGpus: 1, MaxPending: null))));
        f.Register("g4", gpus: 4);
        var first = Submit(f, "alice");
        var second = Submit(f, "alice");
        var bob = Submit(f, "bob");
        f.Pass();

        Assert.Equal(JobState.Assigned, f.Jobs.GetJob(first)!.State);
        Assert.Equal(JobState.Assigned, f.Jobs.GetJob(bob)!.State);
        Assert.Equal("held by limit: alice uses 1 of 1 GPU allowed", f.Jobs.GetJob(second)!.Reason);
    }

    [Fact]
    public void TakePass_AccountAtItsLimitFloodsTheQueue_OthersFirstAndItsRestSayWhy()
    {
        using var f = Features.Create(o => o.SchedulerDepth = 5, new Limits(("alice", new AccountLimits(MaxGpus: 1, MaxPending: null))));
        var node = f.Register("g4", gpus: 4);
        UseGpus(f, node, "bob", gpus: 1, TimeSpan.FromHours(1));
        Submit(f, "alice");
        Assert.Equal(1, f.Pass());
        var flood = Enumerable.Range(0, 100).Select(_ => Submit(f, "alice")).ToList();
        var bob = Submit(f, "bob");

        // Alice used less than Bob, but holds all the GPUs her limit allows: Bob's job leads the head.
        var (pending, _) = f.Jobs.TakePass(5);
        Assert.Equal(bob, pending[0].Id);
        Assert.True(pending.Count(p => p.Account == "alice") <= 32 + 5);

        f.Pass();
        Assert.Equal(JobState.Assigned, f.Jobs.GetJob(bob)!.State);
        Assert.Equal("held by limit: alice uses 1 of 1 GPU allowed", f.Jobs.GetJob(flood[0])!.Reason);
        Assert.Equal("held by limit: alice uses 1 of 1 GPU allowed", f.Jobs.GetJob(flood[^1])!.Reason);
    }

    [Fact]
    public void Submit_PastMaxPending_RefusedNamingTheLimit()
    {
        using var f = Features.Create(limits: new Limits(("alice", new AccountLimits(MaxGpus: null, MaxPending: 2))));
        Submit(f, "alice");

        var refused = Assert.Throws<AccountLimitException>(() => f.Jobs.Submit(Job(array: new ArrayRange { Start = 0, End = 1 }), new JobOwner("alice", null, true)));
        Assert.Equal("alice has 1 pending jobs and may have at most 2 (max-pending); this submission adds 2", refused.Message);
        Submit(f, "alice");
        Submit(f, "bob");
        Assert.Equal(2, f.Jobs.PendingOf("alice"));
    }

    [Fact]
    public void Restart_UsageAndRunningGpus_Survive()
    {
        using var f = Features.Create();
        var node = f.Register("g2", gpus: 2);
        UseGpus(f, node, "alice", gpus: 1, TimeSpan.FromHours(3));

        // A job of the default account (jobs record no owner yet, so only its account survives a restart
        // with the job) holds 2 GPUs across the restart.
        f.Jobs.Submit(Job(gpus: 2));
        Assert.Equal(1, f.Pass());
        f.Clock.Advance(TimeSpan.FromHours(1));
        var alice = Usage(f, "alice");
        var shared = Usage(f, "");

        using var restarted = f.Restart();

        // Read at the same instant: 3 GPU-hours ended (a little less, decayed); 2 GPUs held for an hour since.
        Assert.InRange(alice.UsageGpuHours, 2.9, 3.0);
        Assert.InRange(shared.UsageGpuHours, 1.99, 2.0);
        Assert.Equal(alice.UsageGpuHours, Usage(restarted, "alice").UsageGpuHours, 9);
        Assert.Equal(shared.UsageGpuHours, Usage(restarted, "").UsageGpuHours, 9);
        Assert.Equal(2, Usage(restarted, "").RunningGpus);

        // It goes on accruing from where it was.
        restarted.Clock.Advance(TimeSpan.FromHours(1));
        Assert.InRange(Usage(restarted, "").UsageGpuHours, 3.98, 4.0);
    }

    [Fact]
    public void FairShareOff_SubmissionOrderAndNoUsage()
    {
        using var f = Features.Create(o => o.FairShareHalfLife = TimeSpan.Zero);
        var node = f.Register("g1", gpus: 1);
        UseGpus(f, node, "alice", gpus: 1, TimeSpan.FromHours(5));
        var alice = Submit(f, "alice");
        var bob = Submit(f, "bob");
        f.Pass();

        Assert.Equal(JobState.Assigned, f.Jobs.GetJob(alice)!.State);
        Assert.Equal("waiting for 1 free GPU", f.Jobs.GetJob(bob)!.Reason);
        var report = f.Jobs.FairShareReport();
        Assert.False(report.Enabled);
        Assert.Equal(0, report.Accounts.Single(a => a.Account == "alice").UsageGpuHours);
    }

    /// <summary>Runs one job of <paramref name="account"/> on <paramref name="node"/> for <paramref name="duration"/>.</summary>
    private static void UseGpus(Features f, string node, string account, int gpus, TimeSpan duration)
    {
        Submit(f, account, gpus);
        Assert.Equal(1, f.Pass());
        f.Clock.Advance(duration);
        f.Nodes.Heartbeat(node, new HeartbeatRequest()); // the node stays ready across the fake hours
        f.Run(node, f.Assignments(node).Single());
    }

    private static long Submit(Features f, string account, int gpus = 1) => f.Jobs.Submit(Job(gpus), new JobOwner(account, null, true)).FirstId;

    private static JobSubmission Job(int gpus = 1, ArrayRange? array = null) =>
        new() { Command = ["true"], Resources = new ResourceRequest { Gpus = gpus, Cpus = 0 }, Array = array };

    private static AccountShareInfo Usage(Features f, string account) =>
        f.Jobs.FairShareReport().Accounts.Single(a => a.Account == account);

    private sealed class Limits(params (string Account, AccountLimits Limits)[] limits) : IAccountLimits
    {
        public AccountLimits? For(string account) => Array.Find(limits, l => l.Account == account).Limits;
    }
}
