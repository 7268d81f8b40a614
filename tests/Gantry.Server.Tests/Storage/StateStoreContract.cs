using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Storage;

namespace Gantry.Server.Tests.Storage;

/// <summary>
/// What every <see cref="IStateStore"/> must do, whatever keeps the data. A store implementation
/// gets a test class deriving from this one that says how to open a fresh store and reopen it.
/// </summary>
public abstract class StateStoreContract : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 1, 0, 0, 0, TimeSpan.Zero);

    private IStateStore? _store;

    internal IStateStore Store => _store ?? throw new InvalidOperationException("not open");

    /// <summary>Opens the store under test, empty the first time, with what was written the times after.</summary>
    internal abstract Task<IStateStore> OpenAsync();

    /// <summary>Removes what the store left behind (files, a database).</summary>
    protected abstract Task DeleteAsync();

    public async Task InitializeAsync() => _store = await OpenAsync();

    public async Task DisposeAsync()
    {
        _store?.Dispose();
        await DeleteAsync();
    }

    private async Task<StoredState> ReopenAsync()
    {
        Store.Dispose();
        _store = await OpenAsync();
        return Store.Load();
    }

    [ContractFact]
    public void Load_Empty_NothingAndIdsFromOne()
    {
        var state = Store.Load();
        Assert.Empty(state.Tokens);
        Assert.Empty(state.Nodes);
        Assert.Empty(state.LiveJobs);
        Assert.Empty(state.Arrays);
        Assert.Equal(1, state.NextJobId);
        Assert.Equal(0, state.LastEpoch);
    }

    [ContractFact]
    public async Task Write_TokensAndNodes_ReadBackAfterReopen()
    {
        var node = Node("n1", drain: false);
        Store.Write(w =>
        {
            w.SaveToken("admin", [1, 2, 3], T0);
            w.SaveToken("admin", [4, 5, 6], T0);
            w.UpsertNode(node);
            w.UpsertNode(node with { Name = "renamed" });
            w.SetNodeDrain("n1", true);
        });

        var state = await ReopenAsync();
        Assert.Equal([4, 5, 6], state.Tokens["admin"]);
        var loaded = Assert.Single(state.Nodes);
        Assert.Equal("renamed", loaded.Name);
        Assert.True(loaded.Drain);
        Assert.Equal(node.Labels, loaded.Labels);
        Assert.Equal("GPU-0", Assert.Single(loaded.Gpus).Uuid);
        Assert.Equal(node.CredentialHash, loaded.CredentialHash);
        Assert.Equal(T0, loaded.RegisteredAt);
    }

    [ContractFact]
    public async Task Write_Throws_NothingOfTheUnitStored()
    {
        Assert.Throws<InvalidOperationException>(() => Store.Write(w =>
        {
            w.InsertJob(Job(1, JobState.Pending));
            throw new InvalidOperationException("boom");
        }));

        Assert.Null(Store.ReadJob(1));
        var state = await ReopenAsync();
        Assert.Empty(state.LiveJobs);
    }

    [ContractFact]
    public async Task Write_StatementFails_NothingOfTheUnitStored()
    {
        // The second insert breaks the primary key: whether the store finds out at once or at commit,
        // the first one goes too.
        Assert.ThrowsAny<Exception>(() => Store.Write(w =>
        {
            w.InsertJob(Job(1, JobState.Pending));
            w.InsertTransition(1, new JobTransition { Time = T0, To = JobState.Pending, Reason = "submitted" });
            w.InsertJob(Job(1, JobState.Pending));
        }));

        Assert.Null(Store.ReadJob(1));
        Store.Write(w => w.InsertJob(Job(1, JobState.Pending)));
        var state = await ReopenAsync();
        Assert.Equal([1L], state.LiveJobs.Select(j => j.Job.Id));
    }

    [ContractFact]
    public void Write_ThrowsAfterInsertLog_NothingOfTheUnitStored()
    {
        Store.Write(w => w.InsertJob(Job(1, JobState.Running)));
        Assert.Throws<InvalidOperationException>(() => Store.Write(w =>
        {
            w.UpdateJob(Job(1, JobState.Failed) with { EndedAt = T0 });
            Assert.True(w.InsertLog(1, 1, LogSource.Stdout, 0, "lost"));
            w.InsertTransition(1, new JobTransition { Time = T0, From = JobState.Running, To = JobState.Failed, Reason = "x" });
            throw new InvalidOperationException("boom");
        }));

        var job = Store.ReadJob(1)!;
        Assert.Equal(JobState.Running, job.Job.State);
        Assert.Empty(job.Transitions);
        Assert.Empty(Store.ReadLogs(1, 0, 10));

        // The store is usable after a failed unit, and the same chunk is new to it.
        Store.Write(w => Assert.True(w.InsertLog(1, 1, LogSource.Stdout, 0, "kept")));
        Assert.Equal("kept", Assert.Single(Store.ReadLogs(1, 0, 10)).Data);
    }

    [ContractFact]
    public void Write_Nested_PartOfTheOuterUnit()
    {
        Assert.Throws<InvalidOperationException>(() => Store.Write(w =>
        {
            w.InsertJob(Job(1, JobState.Pending));
            Store.Write(inner => inner.InsertJob(Job(2, JobState.Pending)));
            throw new InvalidOperationException("boom");
        }));

        Assert.Null(Store.ReadJob(1));
        Assert.Null(Store.ReadJob(2));

        Store.Write(w =>
        {
            w.InsertJob(Job(1, JobState.Pending));
            Store.Write(inner => inner.InsertJob(Job(2, JobState.Pending)));
        });
        Assert.NotNull(Store.ReadJob(1));
        Assert.NotNull(Store.ReadJob(2));
    }

    [ContractFact]
    public async Task UpsertAccountUsage_Replaced_LatestReadBackAfterReopen()
    {
        Store.Write(w =>
        {
            w.UpsertAccountUsage(new AccountUsageRow("alice", 3600, T0));
            w.UpsertAccountUsage(new AccountUsageRow("", 7.25, T0));
        });
        Store.Write(w => w.UpsertAccountUsage(new AccountUsageRow("alice", 43200.5, T0.AddHours(1))));

        var state = await ReopenAsync();
        Assert.Equal([new AccountUsageRow("", 7.25, T0), new AccountUsageRow("alice", 43200.5, T0.AddHours(1))], state.AccountUsage);
    }

    [ContractFact]
    public void Write_Nothing_StoresNothing()
    {
        Store.Write(_ => { });
        Assert.Empty(Store.ListJobs(null, null, 10));
    }

    [ContractFact]
    public void InsertLog_AnyText_ReadBackAsWritten()
    {
        // Output is whatever a process wrote: NUL characters, line ends of any kind, any script.
        string[] texts = ["nul\0in the middle\0", "crlf\r\n and \r", "é 漢字 🙂", new string('x', 100_000)];
        Store.Write(w => w.InsertJob(Job(1, JobState.Running)));
        Store.Write(w =>
        {
            var offset = 0L;
            foreach (var text in texts)
            {
                Assert.True(w.InsertLog(1, 1, LogSource.Stderr, offset, text));
                offset += text.Length;
            }
        });

        Assert.Equal(texts, Store.ReadLogs(1, 0, 10).Select(r => r.Data));
    }

    [ContractFact]
    public async Task Write_CarbonPlan_HeldThenQueued_ReadBackAfterReopen()
    {
        // Held: the whole plan; queued: the start goes, the location (its pin) stays.
        var held = Job(1, JobState.Pending) with { PlannedStart = T0.AddHours(3), PlannedLocation = "uk-south", PlannedGramsPerKwh = 148.5 };
        Store.Write(w =>
        {
            w.InsertJob(held);
            w.InsertJob(Job(2, JobState.Pending) with { PlannedStart = T0.AddHours(5), PlannedLocation = "FR", PlannedGramsPerKwh = 41 });
            w.InsertJob(Job(3, JobState.Pending));
        });
        Store.Write(w => w.UpdateJob(Job(2, JobState.Pending) with { PlannedLocation = "FR" }));

        var state = await ReopenAsync();
        var rows = state.LiveJobs.Select(j => j.Job).ToDictionary(j => j.Id);
        Assert.Equal(T0.AddHours(3), rows[1].PlannedStart);
        Assert.Equal("uk-south", rows[1].PlannedLocation);
        Assert.Equal(148.5, rows[1].PlannedGramsPerKwh);
        Assert.Null(rows[2].PlannedStart);
        Assert.Equal("FR", rows[2].PlannedLocation);
        Assert.Null(rows[2].PlannedGramsPerKwh);
        Assert.Null(rows[3].PlannedStart);
        Assert.Null(rows[3].PlannedLocation);
        Assert.Equal("uk-south", Store.ReadJob(1)!.Job.PlannedLocation);

        // Cancelled: the plan is cleared.
        Store.Write(w => w.UpdateJob(held with { State = JobState.Cancelled, EndedAt = T0, PlannedStart = null, PlannedLocation = null, PlannedGramsPerKwh = null }));
        var cancelled = Store.ReadJob(1)!.Job;
        Assert.Null(cancelled.PlannedStart);
        Assert.Null(cancelled.PlannedLocation);
        Assert.Null(cancelled.PlannedGramsPerKwh);
    }

    [ContractFact]
    public async Task Load_LiveJobsWithAttempts_EndedOnesOnlyCounted()
    {
        Store.Write(w =>
        {
            w.InsertJob(Job(1, JobState.Pending));
            w.InsertJob(Job(2, JobState.Running));
            w.InsertAttempt(Attempt(2, 1, epoch: 7, AttemptState.Lost));
            w.InsertAttempt(Attempt(2, 2, epoch: 9, AttemptState.Running));
            w.InsertJob(Job(3, JobState.Succeeded) with { EndedAt = T0, ExitCode = 0 });
            w.InsertAttempt(Attempt(3, 1, epoch: 8, AttemptState.Succeeded));
        });

        var state = await ReopenAsync();
        Assert.Equal([1L, 2L], state.LiveJobs.Select(j => j.Job.Id));
        Assert.Equal([7L, 9L], state.LiveJobs[1].Attempts.Select(a => a.Epoch));
        Assert.Equal(1, state.JobCounts[JobState.Succeeded]);
        Assert.Equal(1, state.JobCounts[JobState.Pending]);
        Assert.Equal(4, state.NextJobId);
        Assert.Equal(9, state.LastEpoch);
    }

    [ContractFact]
    public async Task Array_OneRecord_TasksWithRowsListedUntilComplete()
    {
        var spec = new JobSubmission { Command = ["./task.sh"], Resources = new ResourceRequest { Gpus = 1 } };
        Store.Write(w => w.InsertArray(new ArrayRow(10, 1, 100_000, spec, T0)));
        Store.Write(w => w.InsertJob(Job(12, JobState.Running) with { ArrayIndex = 3 }));

        var state = await ReopenAsync();
        var array = Assert.Single(state.Arrays);
        Assert.Equal(10, array.Array.FirstJobId);
        Assert.Equal(100_000, array.Array.Count);
        Assert.Equal(["./task.sh"], array.Array.Spec.Command);
        Assert.Equal([12L], array.TasksWithRows);
        Assert.Equal(10 + 100_000, state.NextJobId);

        Store.Write(w => w.CompleteArray(10));
        state = await ReopenAsync();
        Assert.Empty(state.Arrays);
        Assert.Equal(10 + 100_000, state.NextJobId);
    }

    [ContractFact]
    public void ReadJob_WithAttemptsAndTransitionsInOrder()
    {
        Store.Write(w =>
        {
            w.InsertJob(Job(5, JobState.Pending));
            w.InsertTransition(5, new JobTransition { Time = T0, To = JobState.Pending, Reason = "submitted" });
            w.UpdateJob(Job(5, JobState.Assigned) with { Reason = "placed" });
            w.InsertTransition(5, new JobTransition { Time = T0.AddSeconds(1), From = JobState.Pending, To = JobState.Assigned, Reason = "placed" });
            w.InsertAttempt(Attempt(5, 1, epoch: 3, AttemptState.Assigned));
            w.UpdateAttempt(Attempt(5, 1, epoch: 3, AttemptState.Failed) with { EndedAt = T0.AddSeconds(2), ExitCode = 3, Reason = "exit code 3", EndedByAgent = true });
        });

        var job = Store.ReadJob(5)!;
        Assert.Equal(JobState.Assigned, job.Job.State);
        Assert.Equal("placed", job.Job.Reason);
        Assert.Equal(["submitted", "placed"], job.Transitions.Select(t => t.Reason));
        Assert.Null(job.Transitions[0].From);
        var attempt = Assert.Single(job.Attempts);
        Assert.Equal(AttemptState.Failed, attempt.State);
        Assert.Equal(3, attempt.ExitCode);
        Assert.True(attempt.EndedByAgent);
        Assert.Equal([0, 1], attempt.Gpus);
        Assert.Equal(attempt, Store.ReadAttempt(5, 1), AttemptComparer.Instance);
        Assert.Null(Store.ReadAttempt(5, 2));
        Assert.Null(Store.ReadJob(6));
    }

    [ContractFact]
    public void ListJobs_NewestFirst_ByStateAndCursor()
    {
        Store.Write(w =>
        {
            for (var id = 1; id <= 6; id++)
            {
                w.InsertJob(Job(id, id % 2 == 0 ? JobState.Succeeded : JobState.Pending));
            }
        });

        Assert.Equal([6L, 5L, 4L], Store.ListJobs(null, null, 3).Select(j => j.Job.Id));
        Assert.Equal([3L, 2L], Store.ListJobs(null, 4, 2).Select(j => j.Job.Id));
        Assert.Equal([5L, 3L, 1L], Store.ListJobs(JobState.Pending, null, 10).Select(j => j.Job.Id));
        Assert.Empty(Store.ListJobs(JobState.Running, null, 10));
    }

    [ContractFact]
    public void ListJobs_ByKind_ServicesOrBatchJobs()
    {
        Store.Write(w =>
        {
            for (var id = 1; id <= 5; id++)
            {
                var job = Job(id, id == 4 ? JobState.Cancelled : JobState.Pending);
                w.InsertJob(id % 2 == 0 ? job with { Spec = job.Spec with { Name = $"svc{id}", Kind = JobKind.Service, Service = new ServiceSpec() } } : job);
            }
        });

        Assert.Equal([4L, 2L], Store.ListJobs(null, null, 10, kind: JobKind.Service).Select(j => j.Job.Id));
        Assert.Equal([2L], Store.ListJobs(JobState.Pending, null, 10, kind: JobKind.Service).Select(j => j.Job.Id));
        Assert.Equal([5L, 3L, 1L], Store.ListJobs(null, null, 10, kind: JobKind.Batch).Select(j => j.Job.Id));
        Assert.Equal(JobKind.Service, Store.ReadJob(2)!.Job.Spec.Kind);
    }

    [ContractFact]
    public void InsertLog_SameOffsetTwice_StoredOnceAndReadBySeq()
    {
        Store.Write(w => w.InsertJob(Job(1, JobState.Running)));
        var stored = new List<bool>();
        Store.Write(w =>
        {
            stored.Add(w.InsertLog(1, 1, LogSource.Stdout, 0, "hello "));
            stored.Add(w.InsertLog(1, 1, LogSource.Stdout, 6, "world\n"));
            stored.Add(w.InsertLog(1, 1, LogSource.Stdout, 0, "hello "));
            stored.Add(w.InsertLog(1, 1, LogSource.Stderr, 0, "warn\n"));
        });

        Assert.Equal([true, true, false, true], stored);
        var all = Store.ReadLogs(1, 0, 10);
        Assert.Equal(["hello ", "world\n", "warn\n"], all.Select(r => r.Data));
        Assert.Equal(LogSource.Stderr, all[2].Stream);
        Assert.Equal(["world\n", "warn\n"], Store.ReadLogs(1, all[0].Seq!.Value, 10).Select(r => r.Data));
        Assert.Single(Store.ReadLogs(1, 0, 1));
    }

    [ContractFact]
    public async Task Purge_EndedBeforeCutoff_GoesWithHistoryAndIdsKeepRising()
    {
        Store.Write(w =>
        {
            w.InsertJob(Job(1, JobState.Succeeded) with { EndedAt = T0 });
            w.InsertTransition(1, new JobTransition { Time = T0, To = JobState.Pending, Reason = "submitted" });
            w.InsertAttempt(Attempt(1, 1, epoch: 41, AttemptState.Succeeded));
            w.InsertLog(1, 1, LogSource.Stdout, 0, "old output");
            w.InsertJob(Job(2, JobState.Failed) with { EndedAt = T0.AddDays(10) });
            w.InsertJob(Job(3, JobState.Pending));
            w.InsertJob(Job(4, JobState.Lost) with { EndedAt = T0.AddHours(1) });
            w.InsertAttempt(Attempt(4, 1, epoch: 42, AttemptState.Lost));
        });

        var purged = Store.PurgeEndedBefore(T0.AddDays(1), maxJobs: 1);
        Assert.Equal(1, purged[JobState.Succeeded]);
        Assert.Single(purged);
        purged = Store.PurgeEndedBefore(T0.AddDays(1), maxJobs: 100);
        Assert.Equal(1, purged[JobState.Lost]);
        Assert.Empty(Store.PurgeEndedBefore(T0.AddDays(1), maxJobs: 100));

        Assert.Null(Store.ReadJob(1));
        Assert.Null(Store.ReadJob(4));
        Assert.Empty(Store.ReadLogs(1, 0, 10));
        Assert.NotNull(Store.ReadJob(2));
        Assert.NotNull(Store.ReadJob(3));

        // The newest rows go too: ids and epochs handed out before still count.
        Store.PurgeEndedBefore(T0.AddDays(30), maxJobs: 100);
        var state = await ReopenAsync();
        Assert.Equal(5, state.NextJobId);
        Assert.Equal(42, state.LastEpoch);
        Assert.Equal(1, state.JobCounts[JobState.Pending]);
        Assert.False(state.JobCounts.ContainsKey(JobState.Lost));
    }

    [ContractFact]
    public async Task Purge_CompleteArrayWithoutTasks_RecordGoes()
    {
        var spec = new JobSubmission { Command = ["x"] };
        Store.Write(w =>
        {
            w.InsertArray(new ArrayRow(1, 0, 1, spec, T0));
            w.InsertJob(Job(1, JobState.Succeeded) with { EndedAt = T0 });
            w.InsertJob(Job(2, JobState.Succeeded) with { EndedAt = T0 });
            w.CompleteArray(1);
        });

        Store.PurgeEndedBefore(T0.AddDays(1), maxJobs: 100);
        var state = await ReopenAsync();
        Assert.Empty(state.Arrays);
        Assert.Equal(3, state.NextJobId);
    }

    [ContractFact]
    public async Task Write_AlertDocuments_ReplacedDeletedAndReadBackAfterReopen()
    {
        Store.Write(w =>
        {
            w.PutAlertDocument("silence", "a", "{\"v\":1}", T0);
            w.PutAlertDocument("silence", "b", "{\"v\":2}", T0.AddSeconds(1));
            w.PutAlertDocument("group", "a", "groups: []", T0);
        });
        Store.Write(w =>
        {
            w.PutAlertDocument("silence", "a", "{\"v\":3}", T0.AddSeconds(2));
            w.DeleteAlertDocument("group", "a");
            w.DeleteAlertDocument("group", "missing");
        });

        var state = await ReopenAsync();
        Assert.Equal(
            [new AlertDocument("silence", "b", "{\"v\":2}", T0.AddSeconds(1)), new AlertDocument("silence", "a", "{\"v\":3}", T0.AddSeconds(2))],
            state.AlertDocuments);
    }

    [ContractFact]
    public async Task Write_HealthRows_ReplacedDeletedAndReadBackAfterReopen()
    {
        Store.Write(w =>
        {
            w.UpsertHealth(new HealthRow("n1", 0, GpuHealthState.Degraded, "thermal slowdown", T0, null, false, null));
            w.UpsertHealth(new HealthRow("n1", 0, GpuHealthState.Cordoned, "XID 48 (double-bit ECC error): reset the GPU", T0.AddMinutes(1), HealthRecovery.Reset, false, "{\"resetBefore\":null}"));
            w.UpsertHealth(new HealthRow("n1", 1, GpuHealthState.Cordoned, "fan noise", T0, HealthRecovery.Person, true, null));
            w.UpsertHealth(new HealthRow("n1", -1, GpuHealthState.Cordoned, "GPU 1: XID 79", T0, HealthRecovery.Reboot, false, "{\"bootId\":\"b1\"}"));
            w.UpsertHealth(new HealthRow("n2", 3, GpuHealthState.Degraded, "2 NVLink link(s) down", null, null, false, null));
        });
        Store.Write(w => w.DeleteHealth("n1", 1));

        var state = await ReopenAsync();
        Assert.Equal(
            [
                new HealthRow("n1", -1, GpuHealthState.Cordoned, "GPU 1: XID 79", T0, HealthRecovery.Reboot, false, "{\"bootId\":\"b1\"}"),
                new HealthRow("n1", 0, GpuHealthState.Cordoned, "XID 48 (double-bit ECC error): reset the GPU", T0.AddMinutes(1), HealthRecovery.Reset, false, "{\"resetBefore\":null}"),
                new HealthRow("n2", 3, GpuHealthState.Degraded, "2 NVLink link(s) down", null, null, false, null),
            ],
            state.Health);
    }

    [ContractFact]
    public async Task InsertHealthEvent_ReadNewestFirstPerNodeUpToTheLimit()
    {
        Store.Write(w =>
        {
            for (var i = 0; i < 5; i++)
            {
                w.InsertHealthEvent("n1", new HealthEvent
                {
                    Time = T0.AddSeconds(i),
                    Gpu = i == 4 ? null : i,
                    Change = i == 4 ? HealthChange.Drained : HealthChange.Cordoned,
                    Cause = $"cause {i}",
                    Evidence = i == 0 ? null : $"XID 48 at {i}",
                    Actor = i == 3 ? HealthActor.Person : HealthActor.Automation,
                    JobId = i == 2 ? 42 : null,
                });
            }

            w.InsertHealthEvent("n2", new HealthEvent { Time = T0, Change = HealthChange.Undrained, Cause = "other node", Actor = HealthActor.Automation });
        });

        // A unit that fails leaves no event behind.
        Assert.Throws<InvalidOperationException>(() => Store.Write(w =>
        {
            w.InsertHealthEvent("n1", new HealthEvent { Time = T0, Change = HealthChange.Healthy, Cause = "never", Actor = HealthActor.Person });
            throw new InvalidOperationException("boom");
        }));

        await ReopenAsync();
        var events = Store.ReadHealthEvents("n1", 3);
        Assert.Equal(["cause 4", "cause 3", "cause 2"], events.Select(e => e.Cause));
        Assert.Equal(new HealthEvent { Time = T0.AddSeconds(4), Change = HealthChange.Drained, Cause = "cause 4", Evidence = "XID 48 at 4", Actor = HealthActor.Automation }, events[0]);
        Assert.Equal(HealthActor.Person, events[1].Actor);
        Assert.Equal(3, events[1].Gpu);
        Assert.Equal(42, events[2].JobId);
        Assert.Null(Store.ReadHealthEvents("n1", 10)[^1].Evidence);
        Assert.Equal(5, Store.ReadHealthEvents("n1", 10).Count);
        Assert.Equal("other node", Assert.Single(Store.ReadHealthEvents("n2", 10)).Cause);
        Assert.Empty(Store.ReadHealthEvents("n3", 10));
    }

    internal static NodeRow Node(string id, bool drain) => new(
        id,
        id,
        "linux",
        "x86_64",
        8,
        64L << 30,
        new Dictionary<string, string> { ["zone"] = "a" },
        [new GpuInventory { Index = 0, Uuid = "GPU-0", Model = "NVIDIA H100", MemoryBytes = 80L << 30 }],
        drain,
        [9, 9, 9],
        T0,
        T0,
        "0.1.0",
        null);

    internal static JobRow Job(long id, JobState state) => new()
    {
        Id = id,
        Spec = new JobSubmission { Command = ["true"], Resources = new ResourceRequest { Gpus = 1 } },
        State = state,
        SubmittedAt = T0,
        QueuedAt = T0,
    };

    internal static AttemptRow Attempt(long jobId, int number, long epoch, AttemptState state) => new()
    {
        JobId = jobId,
        Number = number,
        Epoch = epoch,
        NodeId = "n1",
        Gpus = [0, 1],
        GpuUuids = ["GPU-0", "GPU-1"],
        Cpus = 2,
        MemoryBytes = 1 << 20,
        State = state,
        AssignedAt = T0,
    };

    /// <summary>Attempt rows hold arrays: equal when every field and element is.</summary>
    private sealed class AttemptComparer : IEqualityComparer<AttemptRow?>
    {
        public static readonly AttemptComparer Instance = new();

        public bool Equals(AttemptRow? x, AttemptRow? y) =>
            x is null || y is null ? x == y : x with { Gpus = [], GpuUuids = [] } == y with { Gpus = [], GpuUuids = [] } && x.Gpus.SequenceEqual(y.Gpus) && x.GpuUuids.SequenceEqual(y.GpuUuids);

        public int GetHashCode(AttemptRow? obj) => obj?.JobId.GetHashCode() ?? 0;
    }
}
