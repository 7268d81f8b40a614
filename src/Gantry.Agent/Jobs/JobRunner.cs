using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gantry.Core.Protocol;
using Gantry.Core.Text;
using Gantry.Hosting.Settings;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Jobs;

/// <summary>
/// Runs the attempts the control plane assigns: each in its own process group with its GPUs bound
/// through <c>CUDA_VISIBLE_DEVICES</c>, its output and its start and end handed to an
/// <see cref="IAttemptSink"/>. An attempt (job, attempt, epoch) is started at most once per agent
/// run. Stopping sends SIGTERM to the whole group and SIGKILL after the grace period; when the
/// leader exits, whatever it left in its group is killed too, so nothing outlives its attempt.
/// An agent running as root starts each attempt as the Unix user <see cref="JobUsers"/> picks,
/// through util-linux <c>setpriv</c> (docs/jobs-as-owners.md).
/// </summary>
internal sealed partial class JobRunner : IAsyncDisposable
{
    /// <summary>How long output may keep arriving after the process exited and its group was killed.</summary>
    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private static readonly Encoding Utf8 = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false);

    private readonly Lock _gate = new();
    private readonly Dictionary<AttemptKey, RunningAttempt> _running = [];
    private readonly HashSet<AttemptKey> _seen = [];
    private readonly IAttemptSink _sink;
    private readonly AttemptStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string? _setsid;
    private readonly string? _setpriv;
    private readonly AttemptEnergyMeter? _meter;
    private bool _disposed;

    /// <param name="sink">Where the attempts' events and output go.</param>
    /// <param name="stateDir">Where the attempt records are kept.</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The log.</param>
    /// <param name="meter">Measures each attempt's energy (its ended event carries the figures); null for none.</param>
    /// <param name="users">Whom attempts run as; null for this machine's users and the agent's own identity.</param>
    public JobRunner(IAttemptSink sink, string stateDir, TimeProvider time, ILogger<JobRunner> logger, AttemptEnergyMeter? meter = null, JobUsers? users = null)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentNullException.ThrowIfNull(stateDir);
        _sink = sink;
        _store = new AttemptStore(stateDir);
        _time = time;
        _logger = logger;
        _meter = meter;
        _setsid = OperatingSystem.IsLinux() ? FindTool("setsid") : null;
        if (OperatingSystem.IsLinux() && _setsid is null)
        {
            AgentLog.NoSetsid(logger);
        }

        Users = users ?? JobUsers.ForThisMachine(Environment.MachineName);
        if (!Users.SwitchesUsers)
        {
            if (OperatingSystem.IsLinux())
            {
                AgentLog.JobsRunAsAgent(logger, Users.AgentName, Users.AgentUid);
            }
        }
        else
        {
            _setpriv = FindTool("setpriv");
            if (_setpriv is null)
            {
                AgentLog.NoSetpriv(logger);
            }
            else
            {
                AgentLog.JobsRunAsOwners(logger, JobUsers.NobodyUser);
            }
        }
    }

    /// <summary>Whom attempts run as.</summary>
    public JobUsers Users { get; }

    /// <summary>The node id exported to attempts as <c>GANTRY_NODE_ID</c> (set once registered).</summary>
    public string? NodeId { get; set; }

    /// <summary>Where an attempt's GPU power cap is applied at its start and lifted at its end (docs/power.md); null for none.</summary>
    public Power.GpuPowerCaps? PowerCaps { get; init; }

    /// <summary>Enforces each attempt's CPU and memory reservations (docs/job-limits.md); null where they are bookkeeping only.</summary>
    public JobCgroups? Cgroups { get; init; }

    /// <summary>Runs container attempts (docs/containers-jobs.md); null where the agent runs none.</summary>
    public ContainerJobs? Containers { get; init; }

    // ---- services (docs/service-health.md) ----

    /// <summary>Watches service attempts' health and metrics: told of each start and end; null for none.</summary>
    public Services.ServiceMonitor? Services { get; init; }

    /// <summary>
    /// Stops a service attempt its health check found unhealthy: as <see cref="Stop"/> with
    /// <see cref="AttemptEndCause.Unhealthy"/>, the ended event carrying <paramref name="message"/>.
    /// </summary>
    public bool StopUnhealthy(AttemptKey key, string message)
    {
        lock (_gate)
        {
            if (_running.TryGetValue(key, out var running) && running.StopCause is null)
            {
                running.StopMessage = message;
            }
        }

        return Stop(key, AttemptEndCause.Unhealthy);
    }

    // ---- end of services ----

    /// <summary>The folder holding the attempt records.</summary>
    public string RecordDirectory => _store.Directory;

    /// <summary>Attempts whose process runs now.</summary>
    public List<AttemptRef> Running()
    {
        lock (_gate)
        {
            var list = new List<AttemptRef>(_running.Count);
            foreach (var key in _running.Keys)
            {
                list.Add(key.ToRef());
            }

            return list;
        }
    }

    /// <summary>True while the attempt's process runs.</summary>
    public bool IsRunning(AttemptKey key)
    {
        lock (_gate)
        {
            return _running.ContainsKey(key);
        }
    }

    /// <summary>
    /// Kills the process groups an earlier agent run left behind (per the records in the state dir)
    /// and reports each of their attempts as ended with cause <c>orphaned</c>. Call once, before
    /// registering and before starting anything.
    /// </summary>
    public int RecoverOrphans()
    {
        var records = _store.ReadAll();
        foreach (var record in records)
        {
            var killed = OperatingSystem.IsLinux() && ProcessGroups.KillLeftoverGroup(record.Pid, record.StartTicks);
            lock (_gate)
            {
                _seen.Add(record.Key);
            }

            AgentLog.OrphanFound(_logger, record.JobId, record.Attempt, record.Pid, killed);
            _sink.Event(record.Key, new AttemptEvent
            {
                Epoch = record.Epoch,
                Type = AttemptEventType.Ended,
                Time = _time.GetUtcNow(),
                Cause = AttemptEndCause.Orphaned,
                Message = killed
                    ? $"left running by an earlier agent run (pid {record.Pid}); its process group was killed"
                    : $"left by an earlier agent run (pid {record.Pid}); it had already ended",
            });
            _store.Delete(record.Key);
        }

        return records.Count;
    }

    /// <summary>Starts the attempt unless this agent run started it before; false when it did.</summary>
    public bool Start(Assignment assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        var key = AttemptKey.Of(assignment);
        lock (_gate)
        {
            if (_disposed || !_seen.Add(key))
            {
                return false;
            }
        }

        try
        {
            // The job's cap holds before its first instruction runs.
            PowerCaps?.JobStarting(key, assignment.Gpus, assignment.GpuPowerCapWatts);
            StartProcess(key, assignment);
        }
        catch (StartFailedException ex)
        {
            PowerCaps?.JobEnded(key);
            AgentLog.AttemptStartFailed(_logger, key.JobId, key.Attempt, ex.Message);
            _sink.Event(key, new AttemptEvent
            {
                Epoch = key.Epoch,
                Type = AttemptEventType.Ended,
                Time = _time.GetUtcNow(),
                Cause = AttemptEndCause.StartFailed,
                Message = ex.Message,
            });
        }

        return true;
    }

    /// <summary>
    /// Acts on a <c>stop</c> assignment: stops the attempt when it runs; when it was never started,
    /// reports it ended so that the server can let go of it. Does nothing when it already ended.
    /// </summary>
    public void StopAssignment(Assignment assignment)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        var key = AttemptKey.Of(assignment);
        bool neverStarted;
        lock (_gate)
        {
            neverStarted = !_disposed && _seen.Add(key);
        }

        if (neverStarted)
        {
            _sink.Event(key, new AttemptEvent
            {
                Epoch = key.Epoch,
                Type = AttemptEventType.Ended,
                Time = _time.GetUtcNow(),
                Cause = AttemptEndCause.Stopped,
                Message = "stopped before it started",
            });
            return;
        }

        Stop(key, AttemptEndCause.Stopped);
    }

    /// <summary>
    /// SIGTERM to the attempt's process group, SIGKILL after its grace period. False when it does
    /// not run or is already being stopped (the first cause is kept).
    /// </summary>
    public bool Stop(AttemptKey key, AttemptEndCause cause)
    {
        RunningAttempt? attempt;
        lock (_gate)
        {
            if (!_running.TryGetValue(key, out attempt) || attempt.StopCause is not null)
            {
                return false;
            }

            attempt.StopCause = cause;
        }

        if (attempt.Container is not null)
        {
            StopContainer(attempt);
            return true;
        }

        AgentLog.AttemptStopping(_logger, key.JobId, key.Attempt, cause, attempt.Grace.TotalSeconds);
        if (attempt.Grace <= TimeSpan.Zero)
        {
            Signal(attempt, ProcessGroups.SigKill);
        }
        else
        {
            Signal(attempt, ProcessGroups.SigTerm);
            attempt.KillTimer = _time.CreateTimer(static state => Signal((RunningAttempt)state!, ProcessGroups.SigKill), attempt, attempt.Grace, Timeout.InfiniteTimeSpan);
        }

        return true;
    }

    /// <summary>Stops every attempt (agent shutdown) and waits for them to end, SIGKILL after <paramref name="grace"/>.</summary>
    public async Task StopAllAsync(TimeSpan grace, CancellationToken cancellationToken)
    {
        List<RunningAttempt> attempts;
        lock (_gate)
        {
            _disposed = true;
            attempts = [.. _running.Values];
        }

        foreach (var attempt in attempts)
        {
            lock (_gate)
            {
                attempt.StopCause ??= AttemptEndCause.Stopped;
            }

            if (attempt.Container is not null)
            {
                StopContainer(attempt);
                continue;
            }

            Signal(attempt, ProcessGroups.SigTerm);
        }

        var all = Task.WhenAll(attempts.Select(a => a.Completion));
        try
        {
            await all.WaitAsync(grace, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            foreach (var attempt in attempts)
            {
                if (attempt.Container is { } container)
                {
                    Containers?.Kill(container);
                }

                Signal(attempt, ProcessGroups.SigKill);
            }

            await all.WaitAsync(DrainTimeout, _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            await StopAllAsync(TimeSpan.FromSeconds(2), CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // Whatever still runs is recorded in the state dir and killed by the next agent run.
        }
    }

    private void StartProcess(AttemptKey key, Assignment assignment)
    {
        if (!Users.TryResolve(assignment, out var user, out var refusal))
        {
            throw new StartFailedException(refusal);
        }

        // A container attempt (docs/containers-jobs.md) is the runtime's CLI, run as any process from here on.
        var (info, program, cgroup, container) = assignment.Container is null ? ProcessLaunch(key, assignment, user) : ContainerLaunch(key, assignment, user);
        Launch(key, assignment, info, program, cgroup, container);
    }

    /// <summary>How a process attempt is started: the program, its environment, cgroup, session and user.</summary>
    private (ProcessStartInfo Info, string Program, AttemptCgroup? Cgroup, ContainerHandle? Container) ProcessLaunch(AttemptKey key, Assignment assignment, UnixUser? user)
    {
        if (user is not null && _setpriv is null)
        {
            throw new StartFailedException($"cannot run the job as '{user.Name}': setpriv (util-linux) is not installed on node {Users.NodeName}");
        }

        // A job run as its owner starts in the owner's home, as a login would; a home that does not
        // exist (nobody's /nonexistent) leaves it in /.
        var directory = assignment.WorkingDirectory
            ?? (user is null ? Environment.CurrentDirectory : Directory.Exists(user.Home) ? user.Home : "/");
        if (!Directory.Exists(directory))
        {
            throw new StartFailedException($"no such directory: {directory}");
        }

        if (assignment.Command.Count == 0 || string.IsNullOrEmpty(assignment.Command[0]))
        {
            throw new StartFailedException("empty command");
        }

        var info = new ProcessStartInfo
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Utf8,
            StandardErrorEncoding = Utf8,
            WorkingDirectory = directory,
        };
        SetEnvironment(info.Environment, key, assignment, user);

        string program;
        IEnumerable<string> arguments;
        if (assignment.Shell)
        {
            // Command[0] is the script; any further items become $0, $1, … as with sh -c itself.
            program = "/bin/sh";
            arguments = ["-c", .. assignment.Command];
        }
        else
        {
            program = ResolveProgram(assignment.Command[0], directory, info.Environment.TryGetValue("PATH", out var path) ? path : null);
            arguments = assignment.Command.Skip(1);
        }

        // The cgroup join (a shell's exec), setsid and setpriv each exec in place (the child is not a group
        // leader), so the job keeps the pid .NET started: pid == pgid == sid, and it is the pid signalled and
        // recorded. The cgroup is joined first, while still root, so nothing the job forks escapes it.
        var chain = new List<string>(16);
        AttemptCgroup? cgroup = null;
        if (Cgroups is not null)
        {
            try
            {
                cgroup = Cgroups.Create(key, assignment.Cpus, assignment.MemoryBytes);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new StartFailedException($"cannot make its cgroup for the CPU and memory limits: {ex.Message}");
            }

            chain.AddRange(cgroup.JoinPrefix());
        }

        if (_setsid is not null)
        {
            chain.Add(_setsid);
        }

        if (user is not null)
        {
            chain.Add(_setpriv!);
            chain.Add(string.Create(CultureInfo.InvariantCulture, $"--reuid={user.Uid}"));
            chain.Add(string.Create(CultureInfo.InvariantCulture, $"--regid={user.Gid}"));
            chain.Add("--groups=" + string.Join(',', user.Groups.Select(static g => g.ToString(CultureInfo.InvariantCulture))));
            chain.Add("--");
        }

        chain.Add(program);
        info.FileName = chain[0];
        for (var i = 1; i < chain.Count; i++)
        {
            info.ArgumentList.Add(chain[i]);
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        return (info, program, cgroup, null);
    }

    private void Launch(AttemptKey key, Assignment assignment, ProcessStartInfo info, string program, AttemptCgroup? cgroup, ContainerHandle? container)
    {
        var process = new Process { StartInfo = info };

        // The GPUs' counters are read just before the start, so the attempt's whole run is inside the measurement.
        _meter?.Begin(key, assignment.Gpus);
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            _meter?.Cancel(key);
            cgroup?.Remove();
            process.Dispose();
            throw new StartFailedException($"cannot start {program}: {ex.Message}");
        }

        var now = _time.GetUtcNow();
        var pid = process.Id;
        process.StandardInput.Close();
        _meter?.Attach(key, pid);
        var startTicks = ProcessGroups.ReadStat(pid)?.StartTicks ?? 0;
        var attempt = new RunningAttempt(key, process, pid, TimeSpan.FromSeconds(Math.Max(0, assignment.KillGraceSeconds)), _setsid is not null)
        {
            MaxLogChars = assignment.MaxLogChars is > 0 and var limit ? limit : long.MaxValue,
            Cgroup = cgroup,
            Container = container,
        };
        try
        {
            _store.Write(new AttemptRecord { JobId = key.JobId, Attempt = key.Attempt, Epoch = key.Epoch, Pid = pid, StartTicks = startTicks, StartedAt = now });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            AgentLog.AttemptRecordFailed(_logger, _store.Directory, ex);
        }

        AgentLog.AttemptStarted(_logger, key.JobId, key.Attempt, pid);
        _sink.Event(key, new AttemptEvent { Epoch = key.Epoch, Type = AttemptEventType.Started, Time = now, Pid = pid });
        lock (_gate)
        {
            _running[key] = attempt;
        }

        Services?.Started(key, assignment, now); // Services: its health checks and metrics reads begin.

        if (assignment.MaxRuntimeSeconds is { } max && max > 0)
        {
            attempt.RuntimeTimer = _time.CreateTimer(
                state => Stop(((RunningAttempt)state!).Key, AttemptEndCause.TimedOut),
                attempt,
                TimeSpan.FromSeconds(max),
                Timeout.InfiniteTimeSpan);
        }

        attempt.Completion = MonitorAsync(attempt, assignment.MaxRuntimeSeconds);
    }

    private void SetEnvironment(IDictionary<string, string?> environment, AttemptKey key, Assignment assignment, UnixUser? user)
    {
        // The agent's settings (its join token, an admin token of `gantry dev`, secrets) are not the
        // job's: none of the agent's GANTRY_ variables is passed on.
        foreach (var name in environment.Keys.Where(static n => n.StartsWith(SettingNames.EnvironmentPrefix, StringComparison.Ordinal)).ToList())
        {
            environment.Remove(name);
        }

        if (user is not null)
        {
            // As a login sets them; the job's own env below may still say otherwise.
            environment["HOME"] = user.Home;
            environment["USER"] = user.Name;
            environment["LOGNAME"] = user.Name;
        }

        foreach (var (name, value) in assignment.Env)
        {
            environment[name] = value;
        }

        // The binding is the scheduler's promise: it wins over anything the job's own env says.
        environment["CUDA_VISIBLE_DEVICES"] = string.Join(',', assignment.Gpus.Select(static g => g.ToString(CultureInfo.InvariantCulture)));
        environment["GANTRY_JOB_ID"] = key.JobId.ToString(CultureInfo.InvariantCulture);
        environment["GANTRY_ATTEMPT"] = key.Attempt.ToString(CultureInfo.InvariantCulture);
        if (NodeId is { } nodeId)
        {
            environment["GANTRY_NODE_ID"] = nodeId;
        }

        if (assignment.ArrayIndex is { } index)
        {
            environment["GANTRY_ARRAY_INDEX"] = index.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            environment.Remove("GANTRY_ARRAY_INDEX");
        }
    }

    /// <summary>Finds the program as execvp would, so a missing one is a start failure and not exit code 127.</summary>
    private static string ResolveProgram(string command, string directory, string? path)
    {
        if (command.Contains('/', StringComparison.Ordinal))
        {
            var full = Path.GetFullPath(command, directory);
            return IsExecutable(full) ? full : throw new StartFailedException(File.Exists(full) ? $"not executable: {command}" : $"no such file: {command}");
        }

        foreach (var dir in (path ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, command);
            if (IsExecutable(candidate))
            {
                return candidate;
            }
        }

        throw new StartFailedException($"no such file: {command} (not found on PATH)");
    }

    private static bool IsExecutable(string file)
    {
        if (!File.Exists(file))
        {
            return false;
        }

        if (OperatingSystem.IsWindows())
        {
            return true;
        }

        const UnixFileMode anyExecute = UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;
        return (File.GetUnixFileMode(file) & anyExecute) != 0;
    }

    private static string? FindTool(string name)
    {
        foreach (var candidate in (string[])[$"/usr/bin/{name}", $"/bin/{name}", $"/usr/local/bin/{name}", $"/usr/sbin/{name}", $"/sbin/{name}"])
        {
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static void Signal(RunningAttempt attempt, int signal)
    {
        // Once the leader was reaped its pid may be handed out again: never signal it after that.
        if (attempt.Exited)
        {
            return;
        }

        if (attempt.Grouped)
        {
            // Right after the start, setsid may not have made the group yet: then the process is alone, signal it.
            if (!ProcessGroups.SignalGroup(attempt.Pid, signal))
            {
                ProcessGroups.SignalProcess(attempt.Pid, signal);
            }
        }
        else if (OperatingSystem.IsWindows() || signal == ProcessGroups.SigKill)
        {
            try
            {
                attempt.Process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // Already exited.
            }
        }
        else
        {
            ProcessGroups.SignalProcess(attempt.Pid, signal);
        }
    }

    private async Task MonitorAsync(RunningAttempt attempt, double? maxRuntimeSeconds)
    {
        var key = attempt.Key;
        using var readers = new CancellationTokenSource();
        var stdout = PumpAsync(attempt, attempt.Process.StandardOutput, LogSource.Stdout, readers.Token);
        var stderr = PumpAsync(attempt, attempt.Process.StandardError, LogSource.Stderr, readers.Token);
        await attempt.Process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
        var energy = _meter?.End(key);
        var exitCode = attempt.Process.ExitCode;
        var endedAt = _time.GetUtcNow();
        attempt.Exited = true;

        // What the leader left in its group (a backgrounded grandchild) ends with it; its end also
        // closes the pipes it inherited, so the readers see end-of-file.
        if (attempt.Grouped)
        {
            ProcessGroups.SignalGroup(attempt.Pid, ProcessGroups.SigKill);
        }

        var drained = Task.WhenAll(stdout, stderr);
        try
        {
            await drained.WaitAsync(DrainTimeout, _time, CancellationToken.None).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            await readers.CancelAsync().ConfigureAwait(false);
        }

        lock (attempt.OutputGate)
        {
            attempt.OutputClosed = true;
        }

        AttemptEndCause cause;
        lock (_gate)
        {
            _running.Remove(key);
            cause = attempt.StopCause ?? AttemptEndCause.Exited;
        }

        Services?.Ended(key); // Services: no longer checked nor reported.

        attempt.KillTimer?.Dispose();
        attempt.RuntimeTimer?.Dispose();
        attempt.Process.Dispose();
        PowerCaps?.JobEnded(key);

        // .NET reports death by signal N as exit code 128 + N, as shells do.
        int? code = exitCode;
        string? signal = null;
        if (exitCode is > 128 and < 128 + 32)
        {
            signal = ProcessGroups.SignalName(exitCode - 128);
            code = null;
        }

        // The kernel's OOM killer ended a process of the attempt (the leader, or a child the job then failed
        // over): the attempt ran out of its memory, whatever the exit looked like.
        string? message = cause == AttemptEndCause.TimedOut
            ? string.Create(CultureInfo.InvariantCulture, $"exceeded its maximum run time of {maxRuntimeSeconds}s")
            : null;
        if (cause == AttemptEndCause.Unhealthy)
        {
            message = attempt.StopMessage; // Services: why its health check failed.
        }

        if (attempt.Cgroup is { } cgroup)
        {
            if (cause == AttemptEndCause.Exited && exitCode != 0 && cgroup.OutOfMemoryKilled())
            {
                cause = AttemptEndCause.OutOfMemory;
                message = "used more than its memory limit of " + Sizes.Format(cgroup.MemoryBytes);
            }

            await RemoveCgroupAsync(cgroup).ConfigureAwait(false);
        }

        if (attempt.Container is { } container)
        {
            (cause, message) = await EndContainerAsync(container, cause, exitCode, message).ConfigureAwait(false);
        }

        AgentLog.AttemptEnded(_logger, key.JobId, key.Attempt, cause, exitCode);
        _sink.Event(key, new AttemptEvent
        {
            Epoch = key.Epoch,
            Type = AttemptEventType.Ended,
            Time = endedAt,
            Cause = cause,
            ExitCode = code,
            Signal = signal,
            Message = message,
            Energy = _meter is { ServerAccepts: true } ? energy : null,
        });

        try
        {
            _store.Delete(key);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            AgentLog.AttemptRecordFailed(_logger, _store.Directory, ex);
        }
    }

    /// <summary>
    /// Reads one output stream to its end and hands it to the sink. Past the server's limit
    /// (<see cref="Assignment.MaxLogChars"/>) the stream is still read, so the job never blocks on a
    /// full pipe, but no longer sent: the server would drop it.
    /// </summary>
    private async Task PumpAsync(RunningAttempt attempt, StreamReader reader, LogSource stream, CancellationToken cancellationToken)
    {
        var buffer = new char[16 * 1024];
        var sent = 0L;
        try
        {
            int read;
            while ((read = await reader.ReadAsync(buffer, cancellationToken).ConfigureAwait(false)) > 0)
            {
                if (sent >= attempt.MaxLogChars)
                {
                    continue;
                }

                sent += read;
                var text = new string(buffer, 0, read);
                lock (attempt.OutputGate)
                {
                    if (attempt.OutputClosed)
                    {
                        return;
                    }

                    _sink.Output(attempt.Key, stream, text);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or ObjectDisposedException)
        {
            // The attempt ended and its output was closed.
        }
    }

    private sealed class RunningAttempt(AttemptKey key, Process process, int pid, TimeSpan grace, bool grouped)
    {
        public AttemptKey Key { get; } = key;
        public Process Process { get; } = process;
        public int Pid { get; } = pid;
        public TimeSpan Grace { get; } = grace;
        public bool Grouped { get; } = grouped;
        public Lock OutputGate { get; } = new();
        public bool OutputClosed { get; set; }
        public long MaxLogChars { get; init; } = long.MaxValue;
        public volatile bool Exited;
        public AttemptEndCause? StopCause { get; set; }
        public string? StopMessage { get; set; }
        public AttemptCgroup? Cgroup { get; init; }
        public ContainerHandle? Container { get; init; }
        public volatile bool ContainerKilled;
        public ITimer? KillTimer { get; set; }
        public ITimer? RuntimeTimer { get; set; }
        public Task Completion { get; set; } = Task.CompletedTask;
    }

    /// <summary>A cgroup can be removed once its last process is reaped; a killed grandchild may take a moment.</summary>
    private async Task RemoveCgroupAsync(AttemptCgroup cgroup)
    {
        for (var i = 0; i < 20 && !cgroup.Remove(); i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(50), _time).ConfigureAwait(false);
        }
    }

    private sealed class StartFailedException(string message) : Exception(message);
}
