using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Jobs;
using Microsoft.Data.Sqlite;

namespace Gantry.Server.Tests.Jobs;

/// <summary>A deep queue costs nothing: arrays as one record, bounded passes, ended jobs out of memory, retention.</summary>
public sealed class DeepQueueTests
{
    [Fact]
    public void Submit_ArrayOf100000_OneRowAndEveryTaskPending()
    {
        using var f = Features.Create();
        var first = f.Submit(array: new ArrayRange { Start = 1, End = 100_000 });

        Assert.Equal(1, Count(f, "arrays"));
        Assert.Equal(0, Count(f, "jobs"));
        Assert.Equal(100_000, f.Jobs.PendingCount());
        var task = f.Jobs.GetJob(first + 41_999)!;
        Assert.Equal(JobState.Pending, task.State);
        Assert.Equal(42_000, task.ArrayIndex);
        Assert.Equal("submitted", Assert.Single(task.Transitions).Reason);
        Assert.Null(f.Jobs.GetJob(first + 100_000));
    }

    [Fact]
    public void TakePending_DeepQueue_HeadPlusAWindowThatMovesAndWraps()
    {
        using var f = Features.Create(o => o.SchedulerDepth = 3);
        var ids = Enumerable.Range(0, 10).Select(_ => f.Submit()).ToList();

        var seen = new HashSet<long>();
        var windows = new List<long[]>();
        for (var pass = 0; pass < 4; pass++)
        {
            var taken = f.Jobs.TakePending(3).Select(p => p.Id).ToArray();
            Assert.True(taken.Length <= 6, $"a pass took {taken.Length}");
            Assert.Equal(ids.Take(3), taken.Take(3));
            windows.Add(taken[3..]);
            seen.UnionWith(taken);
        }

        Assert.Equal(ids, seen.Order());
        Assert.Equal([ids[3], ids[4], ids[5]], windows[0]);
        Assert.Equal([ids[6], ids[7], ids[8]], windows[1]);
        Assert.Equal([ids[9]], windows[2]);
        Assert.Equal([ids[3], ids[4], ids[5]], windows[3]);
    }

    [Fact]
    public void TakePending_Array_GivesItsFirstUnstartedTasksOnly()
    {
        using var f = Features.Create();
        var first = f.Submit(array: new ArrayRange { Start = 0, End = 99_999 }, priority: 10);
        var urgent = f.Submit(priority: 90);

        var taken = f.Jobs.TakePending(5);
        Assert.Equal([urgent, first, first + 1, first + 2, first + 3], taken.Take(5).Select(p => p.Id));
        Assert.True(taken.Count <= 10);
    }

    [Fact]
    public void Pass_SmallJobBehindADeepHeadThatCannotRun_PlacedWithinAFewPasses()
    {
        using var f = Features.Create(o => o.SchedulerDepth = 2);
        var node = f.Register("g2", gpus: 2);
        for (var i = 0; i < 6; i++)
        {
            f.Submit(gpus: 4);
        }

        var small = f.Submit(gpus: 1);
        var passes = 0;
        while (f.Jobs.GetJob(small)!.State == JobState.Pending && passes < 5)
        {
            f.Pass();
            passes++;
        }

        Assert.Equal(JobState.Assigned, f.Jobs.GetJob(small)!.State);
        Assert.Equal(small, Assert.Single(f.Assignments(node)).JobId);
        Assert.Contains("no node has 4 GPUs", f.Jobs.GetJob(small - 6)!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Reason_JobTheLastPassDidNotLookAt_SaysItWaitsBehindOthers()
    {
        using var f = Features.Create(o => o.SchedulerDepth = 1);
        f.Register("g1", gpus: 1);
        var running = f.Submit();
        var next = f.Submit();
        var further = Enumerable.Range(0, 5).Select(_ => f.Submit()).ToList();
        f.Pass();

        Assert.Equal(JobState.Assigned, f.Jobs.GetJob(running)!.State);
        Assert.Contains("waiting for", f.Jobs.GetJob(next)!.Reason, StringComparison.Ordinal);
        Assert.StartsWith("waiting behind earlier or higher-priority jobs", f.Jobs.GetJob(further[^1])!.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Reason_NoNodeReady_SaysSoForEveryPendingJob()
    {
        using var f = Features.Create();
        var job = f.Submit();
        var task = f.Submit(array: new ArrayRange { Start = 0, End = 9 });
        f.Pass();

        Assert.Equal("no ready node", f.Jobs.GetJob(job)!.Reason);
        Assert.Equal("no ready node", f.Jobs.GetJob(task + 5)!.Reason);
    }

    [Fact]
    public void Run_ArrayTasks_GetRowsWhenPlacedAndArrayCompletes()
    {
        using var f = Features.Create();
        var node = f.Register("g4", gpus: 4);
        var first = f.Submit(array: new ArrayRange { Start = 1, End = 6 });
        Assert.Equal(4, f.Pass());
        Assert.Equal(4, Count(f, "jobs"));
        foreach (var a in f.Assignments(node))
        {
            Assert.Equal((int)(a.JobId - first) + 1, a.ArrayIndex);
            f.Run(node, a);
        }

        Assert.Equal(2, f.Pass());
        foreach (var a in f.Assignments(node))
        {
            f.Run(node, a);
        }

        Assert.Equal(6, Count(f, "jobs"));
        Assert.Equal(1, CountWhere(f, "arrays", "complete = 1"));
        var counts = f.Jobs.Counts();
        Assert.Equal(6, counts[JobState.Succeeded]);
        Assert.Equal(0, counts[JobState.Pending]);
        Assert.Equal(JobState.Succeeded, f.Jobs.GetJob(first + 5)!.State);
    }

    [Fact]
    public void Ended_JobLeavesMemory_ReadFromTheStoreWithItsHistory()
    {
        using var f = Features.Create();
        var node = f.Register("g1", gpus: 1);
        var job = f.Submit(retries: 1);
        f.Pass();
        var first = Assert.Single(f.Assignments(node));
        f.Run(node, first, exitCode: 3);
        f.Pass();
        f.Run(node, Assert.Single(f.Assignments(node)));

        var info = f.Jobs.GetJob(job)!;
        Assert.Equal(JobState.Succeeded, info.State);
        Assert.Equal(2, info.Attempts.Count);
        Assert.Equal(["submitted", "placed", "started", "retry", "placed", "started", "exit code 0"], info.Transitions.Select(t => Word(t.Reason)));
        Assert.Equal(1, f.Jobs.Counts()[JobState.Succeeded]);

        // A repeated report of the ended attempt is harmless; one for another node is not allowed.
        var ended = new AttemptEvent { Epoch = first.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Exited, ExitCode = 3, Time = f.Clock.GetUtcNow() };
        Assert.Equal(ReportOutcome.Accepted, f.Jobs.Report(node, job, 1, ended));
        Assert.Equal(ReportOutcome.Forbidden, f.Jobs.Report("other", job, 1, ended));
        Assert.Equal(ReportOutcome.Stale, f.Jobs.Report(node, job, 1, ended with { Epoch = 999 }));
        Assert.Equal(ReportOutcome.NotFound, f.Jobs.Report(node, job, 3, ended));
        Assert.Equal(ReportOutcome.Accepted, f.Logs.Append(node, job, 2, new LogUpload { Epoch = f.Jobs.GetJob(job)!.Attempts[1].Epoch, Chunks = [new LogChunk { Stream = LogSource.Stdout, Offset = 0, Data = "late\n" }] }));
        Assert.Equal("late\n", Assert.Single(f.Logs.Read(job, 0, 10)).Data);
        Assert.True(f.Jobs.LogStatus(job)!.Value.Ended);
    }

    [Fact]
    public void Restart_ArrayPartlyStarted_UnstartedTasksPendingLiveOnesHeldIdsRise()
    {
        using var f = Features.Create();
        var node = f.Register("g2", gpus: 2);
        var first = f.Submit(array: new ArrayRange { Start = 0, End = 9 });
        f.Pass();
        var live = f.Assignments(node);
        Assert.Equal(2, live.Count);

        using var g = f.Restart();
        Assert.Equal(8, g.Jobs.PendingCount());
        Assert.Equal(live.Select(a => a.JobId), g.Assignments(node).Select(a => a.JobId));
        Assert.Equal(0, g.Pass());
        Assert.Equal(JobState.Pending, g.Jobs.GetJob(first + 2)!.State);
        var next = g.Submit();
        Assert.Equal(first + 10, next);
        foreach (var a in g.Assignments(node))
        {
            g.Run(node, a);
        }

        Assert.Equal(2, g.Pass());
        Assert.Equal([first + 2, first + 3], g.Assignments(node).Select(a => a.JobId));
    }

    [Fact]
    public void Cancel_UnstartedArrayTask_OnlyItEnds()
    {
        using var f = Features.Create();
        var first = f.Submit(array: new ArrayRange { Start = 0, End = 4 });

        var cancelled = f.Jobs.Cancel(first + 2, out var alreadyEnded)!;
        Assert.False(alreadyEnded);
        Assert.Equal(JobState.Cancelled, cancelled.State);
        Assert.Equal(4, f.Jobs.PendingCount());
        Assert.NotNull(f.Jobs.Cancel(first + 2, out alreadyEnded));
        Assert.True(alreadyEnded);

        var node = f.Register("g8", gpus: 8);
        Assert.Equal(4, f.Pass());
        Assert.DoesNotContain(first + 2, f.Assignments(node).Select(a => a.JobId));
    }

    [Fact]
    public void ListJobs_UnstartedTasksMergedNewestFirst_PagesWithCursor()
    {
        using var f = Features.Create();
        var node = f.Register("g1", gpus: 1);
        var single = f.Submit();
        var first = f.Submit(array: new ArrayRange { Start = 0, End = 3 });
        var last = f.Submit();
        f.Pass();

        var page = f.Jobs.ListJobs(null, null, 4);
        Assert.Equal([last, first + 3, first + 2, first + 1], page.Items.Select(j => j.Id));
        var rest = f.Jobs.ListJobs(null, long.Parse(page.NextCursor!, System.Globalization.CultureInfo.InvariantCulture), 4);
        Assert.Equal([first, single], rest.Items.Select(j => j.Id));
        Assert.Null(rest.NextCursor);
        Assert.Equal([single], f.Jobs.ListJobs(JobState.Assigned, null, 10).Items.Select(j => j.Id));
        Assert.Equal(5, f.Jobs.ListJobs(JobState.Pending, null, 10).Items.Count);
        Assert.Equal(single, Assert.Single(f.Assignments(node)).JobId);
    }

    [Fact]
    public async Task Retention_EndedJobsOlderThanIt_PurgedWithLogsCountsFollow()
    {
        using var f = Features.Create(o => o.JobRetention = TimeSpan.FromDays(1));
        var node = f.Register("g1", gpus: 1);
        var old = f.Submit();
        f.Pass();
        var a = Assert.Single(f.Assignments(node));
        f.Logs.Append(node, old, 1, new LogUpload { Epoch = a.Epoch, Chunks = [new LogChunk { Stream = LogSource.Stdout, Offset = 0, Data = "x" }] });
        f.Run(node, a);
        f.Clock.Advance(TimeSpan.FromHours(12));
        var recent = f.Submit();
        f.Pass();
        f.Run(node, Assert.Single(f.Assignments(node)));
        var pending = f.Submit(gpus: 2);

        f.Clock.Advance(TimeSpan.FromHours(13));
        Assert.Equal(1, await f.Retention.PurgeAsync(CancellationToken.None));

        Assert.Null(f.Jobs.GetJob(old));
        Assert.Empty(f.Logs.Read(old, 0, 10));
        Assert.Equal(JobState.Succeeded, f.Jobs.GetJob(recent)!.State);
        Assert.Equal(JobState.Pending, f.Jobs.GetJob(pending)!.State);
        Assert.Equal(1, f.Jobs.Counts()[JobState.Succeeded]);
        Assert.Equal(0, await f.Retention.PurgeAsync(CancellationToken.None));
    }

    [Fact]
    public void Sweep_SilentNode_SuspectThenDownAndItsAttemptLost()
    {
        using var f = Features.Create(o =>
        {
            o.HeartbeatInterval = TimeSpan.FromSeconds(1);
            o.DownAfter = TimeSpan.FromSeconds(5);
        });
        var quiet = f.Register("quiet", gpus: 1);
        var busy = f.Register("busy", gpus: 1);
        var job = f.Submit();
        f.Pass();
        var node = f.Jobs.GetJob(job)!.NodeId!;

        for (var i = 0; i < 3; i++)
        {
            f.Clock.Advance(TimeSpan.FromSeconds(1.5));
            f.Nodes.Heartbeat(node == quiet ? busy : quiet, new HeartbeatRequest());
            f.Liveness.Sweep();
        }

        Assert.Equal(Core.Nodes.NodeState.Suspect, f.Nodes.GetNode(node)!.State);
        f.Clock.Advance(TimeSpan.FromSeconds(1));
        f.Liveness.Sweep();
        Assert.Equal(Core.Nodes.NodeState.Down, f.Nodes.GetNode(node)!.State);
        Assert.Equal(JobState.Pending, f.Jobs.GetJob(job)!.State);
        Assert.Equal(Core.Nodes.NodeState.Ready, f.Nodes.GetNode(node == quiet ? busy : quiet)!.State);
    }

    private static string Word(string reason) => reason.Split(' ', ':')[0] switch
    {
        "attempt" when reason.Contains("retry", StringComparison.Ordinal) => "retry",
        "exit" => "exit code 0",
        var word => word,
    };

    private static long Count(Features f, string table) => CountWhere(f, table, "1 = 1");

    private static long CountWhere(Features f, string table, string where)
    {
        using var connection = new SqliteConnection($"Data Source={f.Options.DatabasePath};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = $"SELECT COUNT(*) FROM {table} WHERE {where}";
        return (long)command.ExecuteScalar()!;
    }
}
