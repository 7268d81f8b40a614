using System.Diagnostics;
using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>The job runner with real child processes (Linux: setsid, process groups, /proc).</summary>
public sealed class JobRunnerTests : IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-runner-").FullName;
    private readonly RecordingSink _sink = new();
    private JobRunner _runner = null!;

    public Task InitializeAsync()
    {
        _runner = new JobRunner(_sink, _stateDir, TimeProvider.System, NullLogger<JobRunner>.Instance) { NodeId = "node-a" };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runner.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    internal static Assignment Shell(long jobId, string script, int[]? gpus = null, double grace = 5, double? maxRuntime = null) => new()
    {
        JobId = jobId,
        Attempt = 1,
        Epoch = jobId * 10,
        Action = AssignmentAction.Run,
        Command = [script],
        Shell = true,
        Gpus = gpus ?? [],
        Cpus = 1,
        MemoryBytes = 1 << 20,
        KillGraceSeconds = grace,
        MaxRuntimeSeconds = maxRuntime,

        // As the bootstrap admin's token: on a root agent the job runs as root, as these tests expect
        // (JobsAsOwnersTests covers the other users).
        AllowRoot = true,
    };

    [Fact]
    public async Task Start_ShellJob_ExportsGpuBindingAndGantryVariables()
    {
        var job = Shell(42, "echo \"$CUDA_VISIBLE_DEVICES|$GANTRY_JOB_ID|$GANTRY_ATTEMPT|$GANTRY_NODE_ID|$GANTRY_ARRAY_INDEX|$FOO\"", gpus: [1, 3]) with
        {
            Attempt = 2,
            ArrayIndex = 7,
            Env = new Dictionary<string, string> { ["FOO"] = "bar", ["CUDA_VISIBLE_DEVICES"] = "0,1,2,3" },
        };

        Assert.True(_runner.Start(job));
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(0, ended.ExitCode);
        Assert.Equal("1,3|42|2|node-a|7|bar\n", _sink.Text(AttemptKey.Of(job), LogSource.Stdout));
    }

    [Fact]
    public async Task Start_OutputPastTheServersLimit_ReadToTheEndButNotSent()
    {
        // 200,000 characters on stdout against a limit of 10,000: the job is not blocked by a full
        // pipe (it exits 0), and what is sent stops within one read (16 Ki characters) of the limit.
        var job = Shell(7, "head -c 200000 /dev/zero | tr '\\0' x; echo done >&2") with { MaxLogChars = 10_000 };

        Assert.True(_runner.Start(job));
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(0, ended.ExitCode);
        var sent = _sink.Text(AttemptKey.Of(job), LogSource.Stdout);
        Assert.InRange(sent.Length, 10_000, 10_000 + (16 * 1024));
        Assert.All(sent, c => Assert.Equal('x', c));
        Assert.Equal("done\n", _sink.Text(AttemptKey.Of(job), LogSource.Stderr));
    }

    [Fact]
    public async Task Start_CpuOnlyJob_SeesEmptyCudaVisibleDevices()
    {
        var job = Shell(1, "if [ -z \"${CUDA_VISIBLE_DEVICES+x}\" ]; then echo unset; else echo \"set:[$CUDA_VISIBLE_DEVICES]\"; fi; echo \"[$GANTRY_ARRAY_INDEX]\"");
        _runner.Start(job);
        await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.Equal("set:[]\n[]\n", _sink.Text(AttemptKey.Of(job), LogSource.Stdout));
    }

    [Fact]
    public async Task Start_ExitCode_ReportedAfterStartedWithPid()
    {
        var job = Shell(2, "exit 3");
        _runner.Start(job);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        var calls = _sink.CallsFor(AttemptKey.Of(job));
        Assert.Equal(AttemptEventType.Started, calls[0].Event!.Type);
        Assert.True(calls[0].Event!.Pid > 1);
        Assert.Equal(20, calls[0].Event!.Epoch);
        Assert.Equal(AttemptEndCause.Exited, ended.Cause);
        Assert.Equal(3, ended.ExitCode);
        Assert.Null(ended.Signal);
        Assert.Empty(Directory.EnumerateFiles(_runner.RecordDirectory));
    }

    [Fact]
    public async Task Start_ArgumentVector_ResolvedOnPathAndRunInWorkingDirectory()
    {
        var job = Shell(3, "") with { Shell = false, Command = ["pwd"], WorkingDirectory = _stateDir };
        _runner.Start(job);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(_stateDir + "\n", _sink.Text(AttemptKey.Of(job), LogSource.Stdout));
    }

    [Fact]
    public async Task Start_LotsOfOutputOnBothStreams_CapturedInOrderBeforeEnded()
    {
        var job = Shell(4, "i=0; while [ $i -lt 3000 ]; do echo \"out $i\"; echo \"err $i\" >&2; i=$((i+1)); done");
        _runner.Start(job);
        await _sink.EndedAsync(AttemptKey.Of(job));

        var key = AttemptKey.Of(job);
        Assert.Equal(string.Concat(Enumerable.Range(0, 3000).Select(i => $"out {i}\n")), _sink.Text(key, LogSource.Stdout));
        Assert.Equal(string.Concat(Enumerable.Range(0, 3000).Select(i => $"err {i}\n")), _sink.Text(key, LogSource.Stderr));
        var calls = _sink.CallsFor(key);
        Assert.Equal(AttemptEventType.Ended, calls[^1].Event?.Type);
        Assert.Single(calls, c => c.Event?.Type == AttemptEventType.Ended);
    }

    [Fact]
    public async Task Stop_ShellWithGrandchild_KillsTheWholeGroup()
    {
        var job = Shell(5, "sleep 300 & sleep 300");
        _runner.Start(job);
        var pid = (await _sink.StartedAsync(AttemptKey.Of(job))).Pid!.Value;
        // setsid makes the process its own group leader right after it starts, not before the started event.
        await ProcessTable.WaitUntilAsync(() => ProcessGroups.ReadStat(pid)?.ProcessGroup == pid, "the attempt leads its own process group");
        await ProcessTable.WaitUntilAsync(() => ProcessTable.GroupMembers(pid).Count >= 3, "the shell and both sleeps run");

        Assert.True(_runner.Stop(AttemptKey.Of(job), AttemptEndCause.Stopped));
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(AttemptEndCause.Stopped, ended.Cause);
        Assert.Equal("SIGTERM", ended.Signal);
        Assert.Null(ended.ExitCode);
        await ProcessTable.WaitUntilAsync(() => ProcessTable.GroupMembers(pid).Count == 0, "every process of the group is gone (a killed grandchild is reaped by init, which may take a moment)");
        Assert.Empty(_runner.Running());
    }

    [Fact]
    public async Task Stop_ProcessIgnoringSigterm_KilledAfterGrace()
    {
        var job = Shell(6, "trap '' TERM; echo ready; sleep 300", grace: 0.3);
        _runner.Start(job);
        var pid = (await _sink.StartedAsync(AttemptKey.Of(job))).Pid!.Value;
        await ProcessTable.WaitUntilAsync(() => _sink.Text(AttemptKey.Of(job), LogSource.Stdout) == "ready\n", "the trap is set");

        _runner.Stop(AttemptKey.Of(job), AttemptEndCause.Stopped);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal("SIGKILL", ended.Signal);
        await ProcessTable.WaitUntilAsync(() => ProcessTable.GroupMembers(pid).Count == 0, "every process of the group is gone (a killed grandchild is reaped by init, which may take a moment)");
    }

    [Fact]
    public async Task Start_MaxRuntimeExceeded_EndsTimedOut()
    {
        var job = Shell(7, "sleep 300", maxRuntime: 0.3);
        _runner.Start(job);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.Equal(AttemptEndCause.TimedOut, ended.Cause);
        Assert.Equal("SIGTERM", ended.Signal);
        Assert.Contains("maximum run time", ended.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_BackgroundedChildAfterExit_IsKilledWithItsGroup()
    {
        var job = Shell(8, "sleep 300 & echo started");
        _runner.Start(job);
        var pid = (await _sink.StartedAsync(AttemptKey.Of(job))).Pid!.Value;
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.Equal(0, ended.ExitCode);
        Assert.Equal("started\n", _sink.Text(AttemptKey.Of(job), LogSource.Stdout));
        await ProcessTable.WaitUntilAsync(() => ProcessTable.GroupMembers(pid).Count == 0, "the backgrounded sleep is gone");
    }

    [Theory]
    [InlineData("/no/such/program", null, "no such file: /no/such/program")]
    [InlineData("gantry-no-such-command", null, "no such file: gantry-no-such-command")]
    [InlineData("true", "/no/such/dir", "no such directory: /no/such/dir")]
    public async Task Start_CannotStart_EndsStartFailedWithMessage(string program, string? directory, string message)
    {
        var job = Shell(9, "") with { Shell = false, Command = [program], WorkingDirectory = directory };
        Assert.True(_runner.Start(job));
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.Equal(AttemptEndCause.StartFailed, ended.Cause);
        Assert.StartsWith(message, ended.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(_sink.CallsFor(AttemptKey.Of(job)), c => c.Event?.Type == AttemptEventType.Started);
    }

    [Fact]
    public async Task Start_SameAttemptTwice_StartsOnce()
    {
        var job = Shell(10, "echo once");
        Assert.True(_runner.Start(job));
        await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.False(_runner.Start(job));
        Assert.True(_runner.Start(job with { Epoch = 101 }));
        await _sink.EndedAsync(AttemptKey.Of(job with { Epoch = 101 }));
        Assert.Equal("once\n", _sink.Text(AttemptKey.Of(job), LogSource.Stdout));
    }

    [Fact]
    public async Task StopAssignment_NeverStarted_ReportsEndedStopped()
    {
        var job = Shell(11, "echo never") with { Action = AssignmentAction.Stop };
        _runner.StopAssignment(job);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));
        Assert.Equal(AttemptEndCause.Stopped, ended.Cause);
        Assert.False(_runner.Start(job with { Action = AssignmentAction.Run }));
    }

    [Fact]
    public async Task RecoverOrphans_GroupLeftByEarlierRun_IsKilledAndReportedOrphaned()
    {
        // What an agent that died left behind: a process group of its own, and its record.
        using var leftover = Process.Start(new ProcessStartInfo("setsid", ["/bin/sh", "-c", "sleep 300 & sleep 300"]) { UseShellExecute = false })!;
        var pid = leftover.Id;
        await ProcessTable.WaitUntilAsync(() => ProcessTable.GroupMembers(pid).Count >= 3, "the leftover group runs");
        var start = ProcessGroups.ReadStat(pid)!.Value.StartTicks;

        // A record whose pid was recycled: a live process with another start time must be left alone.
        using var bystander = Process.Start(new ProcessStartInfo("sleep", ["300"]) { UseShellExecute = false })!;
        var store = new AttemptStore(_stateDir);
        store.Write(new AttemptRecord { JobId = 50, Attempt = 1, Epoch = 500, Pid = pid, StartTicks = start, StartedAt = DateTimeOffset.UnixEpoch });
        store.Write(new AttemptRecord { JobId = 51, Attempt = 2, Epoch = 510, Pid = bystander.Id, StartTicks = 1, StartedAt = DateTimeOffset.UnixEpoch });

        var restarted = new RecordingSink();
        await using var runner = new JobRunner(restarted, _stateDir, TimeProvider.System, NullLogger<JobRunner>.Instance);
        Assert.Equal(2, runner.RecoverOrphans());

        var killed = await restarted.EndedAsync(new AttemptKey(50, 1, 500));
        var gone = await restarted.EndedAsync(new AttemptKey(51, 2, 510));
        Assert.Equal(AttemptEndCause.Orphaned, killed.Cause);
        Assert.Equal(500, killed.Epoch);
        Assert.Contains("killed", killed.Message, StringComparison.Ordinal);
        Assert.Equal(AttemptEndCause.Orphaned, gone.Cause);
        await ProcessTable.WaitUntilAsync(() => ProcessTable.GroupMembers(pid).Count == 0, "the leftover group is gone");
        Assert.True(ProcessTable.IsAlive(bystander.Id));
        Assert.Empty(Directory.EnumerateFiles(store.Directory));
        Assert.False(runner.Start(Shell(50, "true") with { Epoch = 500 }));
        bystander.Kill();
    }
}
