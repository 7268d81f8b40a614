using Gantry.Core.Scheduling;
using static Gantry.Core.Tests.Scheduling.TestCluster;

namespace Gantry.Core.Tests.Scheduling;

public class FairShareTests
{
    private static readonly TimeSpan Week = TimeSpan.FromDays(7);

    [Fact]
    public void Schedule_TwoAccountsOneNode_LessUsedAccountGoesFirst()
    {
        // Alice queued first, but used 12 GPU-hours lately; Bob used 1.5.
        var result = Run(
            [Node("n-a", gpus: 2)],
            [Job(1, account: "alice"), Job(2, account: "alice"), Job(3, account: "bob"), Job(4, account: "bob")],
            [new AccountShare("alice", 12, 0), new AccountShare("bob", 1.5, 0)]);

        Assert.Equal([3, 4], result.Placements.Select(p => p.JobId).Order());
        Assert.Equal("waiting: fair share — alice used 12.0 GPU-h recently, bob 1.5", result.ReasonOf(1));
        Assert.Equal("waiting: fair share — alice used 12.0 GPU-h recently, bob 1.5", result.ReasonOf(2));
    }

    [Fact]
    public void Schedule_FairShareOff_SubmissionOrderAndPlainReason()
    {
        var result = Run(
            [Node("n-a", gpus: 2)],
            [Job(1, account: "alice"), Job(2, account: "alice"), Job(3, account: "bob")],
            [new AccountShare("alice", 12, 0), new AccountShare("bob", 1.5, 0)],
            fairShare: false);

        Assert.Equal([1, 2], result.Placements.Select(p => p.JobId).Order());
        Assert.Equal("waiting for 1 free GPU", result.ReasonOf(3));
    }

    [Fact]
    public void Schedule_HigherPriority_WinsOverLessUsage()
    {
        var result = Run(
            [Node("n-a", gpus: 1)],
            [Job(1, account: "bob"), Job(2, account: "alice", priority: 50)],
            [new AccountShare("alice", 100, 0), new AccountShare("bob", 0, 0)]);

        Assert.Equal(2, Assert.Single(result.Placements).JobId);

        // Bob was not passed over by the share: a higher priority took the GPU.
        Assert.Equal("waiting for 1 free GPU", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_EqualUsage_SubmissionOrderAcrossAccounts()
    {
        var result = Run(
            [Node("n-a", gpus: 2)],
            [Job(1, account: "alice"), Job(2, account: "bob"), Job(3, account: "alice"), Job(4, account: "bob")],
            []);

        Assert.Equal([1, 2], result.Placements.Select(p => p.JobId).Order());
        Assert.Equal("waiting for 1 free GPU", result.ReasonOf(3));
    }

    [Fact]
    public void Schedule_NoAccountJobs_CountAsDefaultAccount()
    {
        var result = Run(
            [Node("n-a", gpus: 1)],
            [Job(1), Job(2, account: "bob")],
            [new AccountShare(AccountShare.Default, 5, 0)]);

        Assert.Equal(2, Assert.Single(result.Placements).JobId);
        Assert.Equal("waiting: fair share — default used 5.0 GPU-h recently, bob 0.0", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_AccountAtMaxGpus_WaitsWithLimitReasonAndOthersRun()
    {
        var result = Run(
            [Node("n-a", gpus: 8)],
            [Job(1, account: "alice", gpus: 2), Job(2, account: "alice", gpus: 1), Job(3, account: "bob", gpus: 1), Job(4, account: "alice", gpus: 0)],
            [new AccountShare("alice", 0, 7, MaxGpus: 8)]);

        Assert.Equal([2, 3, 4], result.Placements.Select(p => p.JobId).Order());
        Assert.Equal("held by limit: alice uses 7 of 8 GPUs allowed", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_PlacementsInOnePass_CountTowardTheLimit()
    {
        var result = Run(
            [Node("n-a", gpus: 8)],
            [Job(1, account: "alice", gpus: 4), Job(2, account: "alice", gpus: 4), Job(3, account: "alice", gpus: 1)],
            [new AccountShare("alice", 0, 0, MaxGpus: 4)]);

        Assert.Equal(1, Assert.Single(result.Placements).JobId);
        Assert.Equal("held by limit: alice uses 4 of 4 GPUs allowed", result.ReasonOf(2));
        Assert.Equal("held by limit: alice uses 4 of 4 GPUs allowed", result.ReasonOf(3));
    }

    [Fact]
    public void Schedule_JobLargerThanLimit_SaysSo()
    {
        var result = Run([Node("n-a", gpus: 8)], [Job(1, account: "alice", gpus: 8)], [new AccountShare("alice", 0, 0, MaxGpus: 4)]);

        Assert.Equal("held by limit: alice may use 4 GPUs, the job asks for 8", result.ReasonOf(1));
    }

    [Fact]
    public void Schedule_RandomAccounts_MatchesReferenceOnShareOrder()
    {
        // The fair-share order is (priority, account usage, sequence): the reference scheduler, which knows
        // nothing of accounts, must place the same given sequences that encode that order.
        string[] names = ["alice", "bob", "carol", ""];
        for (var seed = 0; seed < 150; seed++)
        {
            var random = new Random(5000 + seed);
            var plain = RandomClusters.Create(random, nodes: 1 + (seed % 20), jobs: seed % 5 * 25);
            var usage = names.ToDictionary(n => n, _ => (double)random.Next(3));
            var jobs = plain.Pending.Select(j => j with { Account = names[random.Next(names.Length)] }).ToList();
            var input = plain with { Pending = jobs, Policy = plain.Policy with { FairShare = true } };
            input = input with { Accounts = [.. usage.Select(u => new AccountShare(u.Key, u.Value, 0))] };

            var result = Scheduler.Schedule(input);
            var encoded = plain with
            {
                Pending = [.. jobs.Select(j => j with { Sequence = ((long)usage[j.Account!] << 40) + (j.Sequence << 20) + j.Id, Account = null })],
            };
            var (placements, reservations) = ReferenceScheduler.Run(encoded);

            Assert.Equal(placements.Select(p => (p.JobId, p.NodeId, string.Join(',', p.Gpus))), result.Placements.Select(p => (p.JobId, p.NodeId, string.Join(',', p.Gpus))));
            Assert.Equal(reservations, result.Reservations);
        }
    }

    [Fact]
    public void DecayedUsage_HalfLifeLater_HalfIsLeft()
    {
        var clock = Now; // the usage is a pure function of the instant: a plain moving instant is the fake clock
        var usage = new DecayedUsage(3600 * 8, clock, RunningGpus: 0);

        clock += Week;
        Assert.Equal(3600 * 4, usage.At(clock, Week), 6);
        clock += Week;
        Assert.Equal(3600 * 2, usage.At(clock, Week), 6);
    }

    [Fact]
    public void DecayedUsage_RunningGpus_AccrueAboutGpuTimeOverShortSpans()
    {
        var clock = Now; // the usage is a pure function of the instant: a plain moving instant is the fake clock
        var usage = new DecayedUsage(0, clock, RunningGpus: 4);

        clock += TimeSpan.FromHours(1);

        // Four GPU-hours, less the little that decayed within the hour (about 0.2%).
        var used = usage.At(clock, Week);
        Assert.InRange(used, 4 * 3600 * 0.997, 4 * 3600);
    }

    [Fact]
    public void DecayedUsage_MovedAtEveryEvent_EqualsOneClosedForm()
    {
        // Moving the usage on at many instants (as attempt events do) must not drift from one step.
        var clock = Now; // the usage is a pure function of the instant: a plain moving instant is the fake clock
        var stepped = new DecayedUsage(1000, clock, RunningGpus: 2);
        var once = stepped;
        for (var i = 0; i < 500; i++)
        {
            clock += TimeSpan.FromMinutes(37);
            stepped = stepped.MoveTo(clock, Week, 2);
        }

        Assert.Equal(once.At(clock, Week), stepped.At(clock, Week), 3);
    }

    [Fact]
    public void DecayedUsage_NoHalfLife_NothingDecays()
    {
        var usage = new DecayedUsage(100, Now, RunningGpus: 1);

        Assert.Equal(100 + 3600, usage.At(Now.AddHours(1), TimeSpan.Zero));
    }

    private static SchedulingResult Run(IEnumerable<SchedulingNode> nodes, IEnumerable<PendingJob> jobs, IReadOnlyList<AccountShare> accounts, bool fairShare = true) =>
        Scheduler.Schedule(new SchedulingInput([.. nodes], [.. jobs], Now, new SchedulerPolicy { FairShare = fairShare }) { Accounts = accounts });
}
