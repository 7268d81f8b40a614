using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gantry.Core.Protocol;
using Gantry.Hosting.Settings;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Jobs;

/// <summary>What the agent was told about container runtimes (<c>--container-runtimes</c>, <c>--container-runtime-path</c>, <c>--container-gpus</c>).</summary>
internal sealed record ContainerSettings
{
    /// <summary>The runtimes to look for; null for every one (<c>auto</c>), empty for none (<c>none</c>).</summary>
    public IReadOnlyList<ContainerRuntime>? Runtimes { get; init; }

    /// <summary>A runtime's program where it is not the one on PATH.</summary>
    public IReadOnlyDictionary<ContainerRuntime, string> Paths { get; init; } = new Dictionary<ContainerRuntime, string>();

    /// <summary>How GPUs reach a container.</summary>
    public ContainerGpuMode Gpus { get; init; } = ContainerGpuMode.Cdi;
}

/// <summary>A GPU of the node as a container attempt needs it: its UUID and whether it is simulated.</summary>
internal readonly record struct ContainerGpu(string Uuid, bool Simulated);

/// <summary>One container attempt the runner started: which runtime's CLI, and the container's name.</summary>
internal sealed record ContainerHandle(ContainerRuntime Runtime, string Program, string Name, long MemoryBytes);

/// <summary>
/// Container jobs on this node (docs/containers-jobs.md): which runtimes the node has (found once at start and
/// reported in the node's facts), the command line a container attempt runs with, and the runtime calls around
/// it: stop then kill, out-of-memory after the end, removal, and the sweep of containers an earlier agent run
/// left behind. The attempt itself is run by <see cref="JobRunner"/> as any process: the runtime's CLI in the
/// foreground, attached, so its output and exit status are the container's.
/// Threading: <see cref="DetectAsync"/> and <see cref="SweepAsync"/> run once, before registration; the rest may
/// be called from any thread once they have.
/// </summary>
internal sealed partial class ContainerJobs
{
    /// <summary>How long one runtime call (<c>version</c>, <c>inspect</c>, <c>rm</c>, <c>ps</c>) may take.</summary>
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(30);

    /// <summary>How long <c>version</c> may take at start.</summary>
    private static readonly TimeSpan VersionTimeout = TimeSpan.FromSeconds(10);

    private readonly ContainerSettings _settings;
    private readonly Func<int, ContainerGpu?> _gpus;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Dictionary<ContainerRuntime, (string Program, string? Version)> _found = [];
    private int _warnedSimulated;

    /// <param name="settings">What the agent was told.</param>
    /// <param name="gpus">A GPU of the node by index (its UUID from NVML); null when unknown.</param>
    /// <param name="time">The clock (the pause between two tries of a stop).</param>
    /// <param name="logger">The log.</param>
    public ContainerJobs(ContainerSettings settings, Func<int, ContainerGpu?> gpus, TimeProvider time, ILogger<ContainerJobs> logger)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(gpus);
        ArgumentNullException.ThrowIfNull(time);
        _settings = settings;
        _gpus = gpus;
        _time = time;
        _logger = logger;
    }

    /// <summary>The runtimes found, with their versions: the node's facts.</summary>
    public IReadOnlyList<ContainerRuntimeInfo> Found
    {
        get
        {
            lock (_found)
            {
                var list = new List<ContainerRuntimeInfo>(_found.Count);
                foreach (var (runtime, found) in _found)
                {
                    list.Add(new ContainerRuntimeInfo { Name = runtime, Version = found.Version });
                }

                list.Sort(static (a, b) => a.Name.CompareTo(b.Name));
                return list;
            }
        }
    }

    /// <summary>
    /// Looks for each runtime: its program (the configured path, or on PATH) answering
    /// <c>version --format {{.Client.Version}}</c> with exit status 0 within a few seconds. docker's client
    /// answers 1 when its daemon does not: a node with the client alone has no docker to run jobs with.
    /// </summary>
    public async Task DetectAsync(CancellationToken cancellationToken)
    {
        var wanted = _settings.Runtimes ?? [ContainerRuntime.Podman, ContainerRuntime.Docker];
        if (wanted.Count == 0)
        {
            Log.NoneWanted(_logger);
            return;
        }

        var explicitly = _settings.Runtimes is not null;
        foreach (var runtime in wanted)
        {
            var name = ContainerRuntimeCli.Name(runtime);
            var program = _settings.Paths.TryGetValue(runtime, out var configured) ? configured : FindOnPath(ContainerRuntimeCli.ProgramName(runtime));
            if (program is null)
            {
                if (explicitly)
                {
                    Log.NotFound(_logger, name);
                }

                continue;
            }

            var (code, output, error) = await CallAsync(program, ContainerRuntimeCli.VersionArguments(), VersionTimeout, cancellationToken).ConfigureAwait(false);
            if (code != 0)
            {
                Log.NotAnswering(_logger, name, program, code, FirstLine(error));
                continue;
            }

            var version = FirstLine(output);
            lock (_found)
            {
                _found[runtime] = (program, version.Length == 0 ? null : version);
            }

            Log.Found(_logger, name, version, program);
        }

        if (Found.Count == 0)
        {
            Log.NoneFound(_logger);
        }
        else if (_settings.Gpus == ContainerGpuMode.EnvOnly)
        {
            Log.EnvOnlyGpus(_logger);
        }
    }

    /// <summary>
    /// Removes every container the agent of <paramref name="nodeId"/> started that is left (the agent runs none
    /// yet: whatever is there an earlier run left behind); the server ends their attempts when the agent registers
    /// without them. Returns how many were removed.
    /// </summary>
    public async Task<int> SweepAsync(string? nodeId, CancellationToken cancellationToken)
    {
        if (string.IsNullOrEmpty(nodeId))
        {
            return 0;
        }

        var removed = 0;
        foreach (var (runtime, program) in Programs())
        {
            var (code, output, error) = await CallAsync(program, ContainerRuntimeCli.ListArguments(nodeId), CallTimeout, cancellationToken).ConfigureAwait(false);
            if (code != 0)
            {
                Log.CallFailed(_logger, ContainerRuntimeCli.Name(runtime), "ps", code, FirstLine(error));
                continue;
            }

            foreach (var line in output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                var (rm, _, rmError) = await CallAsync(program, ContainerRuntimeCli.RemoveArguments(line), CallTimeout, cancellationToken).ConfigureAwait(false);
                Log.OrphanRemoved(_logger, ContainerRuntimeCli.Name(runtime), line, rm == 0, FirstLine(rmError));
                removed += rm == 0 ? 1 : 0;
            }
        }

        return removed;
    }

    /// <summary>
    /// The program and arguments that run the attempt, or false with the reason it cannot run here (the node
    /// lacks the runtime, a GPU's UUID is unknown). <paramref name="environment"/> is the container's environment
    /// (the job's, then Gantry's over it); <paramref name="user"/> the Unix user it runs as (null: the image's).
    /// </summary>
    public bool TryPrepare(
        AttemptKey key,
        Assignment assignment,
        IReadOnlyList<KeyValuePair<string, string>> environment,
        UnixUser? user,
        string? nodeId,
        out ContainerHandle? handle,
        out List<string> arguments,
        out string? refusal)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        var spec = assignment.Container ?? throw new ArgumentException("not a container attempt", nameof(assignment));
        handle = null;
        arguments = [];
        string program;
        lock (_found)
        {
            if (!_found.TryGetValue(spec.Runtime, out var found))
            {
                refusal = $"node has no container runtime {ContainerRuntimeCli.Name(spec.Runtime)}";
                return false;
            }

            program = found.Program;
        }

        var devices = new List<string>(assignment.Gpus.Count);
        var uuids = new List<string>(assignment.Gpus.Count);
        var simulated = 0;
        foreach (var index in assignment.Gpus)
        {
            var gpu = _gpus(index);
            if (gpu is not { Uuid.Length: > 0 } known)
            {
                refusal = string.Create(CultureInfo.InvariantCulture, $"the UUID of GPU {index} is not known (no GPU sample yet), so its device cannot be passed to the container");
                return false;
            }

            uuids.Add(known.Uuid);
            if (known.Simulated)
            {
                simulated++;
            }
            else
            {
                devices.Add(known.Uuid);
            }
        }

        if (simulated > 0 && Interlocked.Exchange(ref _warnedSimulated, 1) == 0)
        {
            Log.SimulatedGpus(_logger);
        }

        var name = ContainerRuntimeCli.ContainerName(key.JobId, key.Attempt, nodeId);
        var run = new ContainerRun
        {
            Runtime = spec.Runtime,
            Name = name,
            Spec = spec,
            JobId = key.JobId,
            Attempt = key.Attempt,
            NodeId = nodeId,
            DeviceUuids = devices,
            GpuUuids = uuids,
            GpuMode = _settings.Gpus,
            Environment = environment,
            Cpus = assignment.Cpus,
            MemoryBytes = assignment.MemoryBytes,
            User = user is null ? null : string.Create(CultureInfo.InvariantCulture, $"{user.Uid}:{user.Gid}"),
            Groups = user is null ? [] : [.. user.Groups.Where(g => g != user.Gid)],
            WorkingDirectory = assignment.WorkingDirectory,
            Command = assignment.Command,
            Shell = assignment.Shell,
        };
        arguments = ContainerRuntimeCli.RunArguments(run);
        handle = new ContainerHandle(spec.Runtime, program, name, assignment.MemoryBytes);
        refusal = null;
        if (_logger.IsEnabled(LogLevel.Debug))
        {
            var commandLine = ContainerRuntimeCli.ForLog(program, arguments);
            Log.Running(_logger, key.JobId, key.Attempt, commandLine);
        }
        return true;
    }

    /// <summary>
    /// The container's environment: the job's, then Gantry's over it. Inside, the container sees only its own
    /// GPUs, numbered from 0: <c>CUDA_VISIBLE_DEVICES</c> counts them, <c>NVIDIA_VISIBLE_DEVICES</c> names their UUIDs.
    /// </summary>
    public List<KeyValuePair<string, string>> Environment(AttemptKey key, Assignment assignment, string? nodeId)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        var env = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (name, value) in assignment.Env)
        {
            env[name] = value;
        }

        var cuda = new StringBuilder();
        var nvidia = new StringBuilder();
        for (var i = 0; i < assignment.Gpus.Count; i++)
        {
            cuda.Append(i == 0 ? "" : ",").Append(i.ToString(CultureInfo.InvariantCulture));
            nvidia.Append(i == 0 ? "" : ",").Append(_gpus(assignment.Gpus[i])?.Uuid);
        }

        // As for a process job, the scheduler's binding wins over the job's own env.
        env["CUDA_VISIBLE_DEVICES"] = cuda.ToString();
        env["NVIDIA_VISIBLE_DEVICES"] = assignment.Gpus.Count == 0 ? "void" : nvidia.ToString();
        env["GANTRY_JOB_ID"] = key.JobId.ToString(CultureInfo.InvariantCulture);
        env["GANTRY_ATTEMPT"] = key.Attempt.ToString(CultureInfo.InvariantCulture);
        env["GANTRY_GPUS"] = string.Join(',', assignment.Gpus.Select(static g => g.ToString(CultureInfo.InvariantCulture)));
        if (nodeId is not null)
        {
            env["GANTRY_NODE_ID"] = nodeId;
        }

        if (assignment.ArrayIndex is { } index)
        {
            env["GANTRY_ARRAY_INDEX"] = index.ToString(CultureInfo.InvariantCulture);
        }
        else
        {
            env.Remove("GANTRY_ARRAY_INDEX");
        }

        return [.. env];
    }

    /// <summary>
    /// The environment of the runtime's CLI: the agent's, less its own <c>GANTRY_</c> settings (the join token is
    /// not the runtime's business); <c>CONTAINERS_CONF</c>, <c>DOCKER_HOST</c> and the like pass through.
    /// </summary>
    public static void CliEnvironment(IDictionary<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        foreach (var name in environment.Keys.Where(static n => n.StartsWith(SettingNames.EnvironmentPrefix, StringComparison.Ordinal)).ToList())
        {
            environment.Remove(name);
        }
    }

    /// <summary>
    /// Stops the container: <c>stop -t GRACE</c> (SIGTERM, SIGKILL after the grace), repeated while the CLI runs
    /// and the container is not there yet (a stop right after the start). Returns at once; failures are logged.
    /// </summary>
    public void Stop(ContainerHandle handle, TimeSpan grace, Func<bool> exited)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var runtime = ContainerRuntimeCli.Name(handle.Runtime);
        Log.Stopping(_logger, runtime, handle.Name, grace.TotalSeconds);
        _ = Task.Run(async () =>
        {
            for (var i = 0; i < 30 && !exited(); i++)
            {
                var (code, _, error) = await CallAsync(handle.Program, ContainerRuntimeCli.StopArguments(handle.Name, grace), grace + CallTimeout, CancellationToken.None).ConfigureAwait(false);
                if (code == 0)
                {
                    return;
                }

                if (i == 0)
                {
                    Log.CallFailed(_logger, ContainerRuntimeCli.Name(handle.Runtime), "stop " + handle.Name, code, FirstLine(error));
                }

                await Task.Delay(TimeSpan.FromSeconds(1), _time).ConfigureAwait(false);
            }
        });
    }

    /// <summary><c>kill NAME</c>, at once: the grace is over. Returns at once; a container already gone is no failure.</summary>
    public void Kill(ContainerHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var runtime = ContainerRuntimeCli.Name(handle.Runtime);
        Log.Killing(_logger, runtime, handle.Name);
        _ = Task.Run(() => CallAsync(handle.Program, ContainerRuntimeCli.KillArguments(handle.Name), CallTimeout, CancellationToken.None));
    }

    /// <summary>After the CLI exited: whether the kernel's OOM killer ended the container (as the runtime says), then the container removed.</summary>
    public async Task<bool> EndAsync(ContainerHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        var (code, output, _) = await CallAsync(handle.Program, ContainerRuntimeCli.OomKilledArguments(handle.Name), CallTimeout, CancellationToken.None).ConfigureAwait(false);
        var oom = code == 0 && string.Equals(FirstLine(output), "true", StringComparison.OrdinalIgnoreCase);
        var (rm, _, error) = await CallAsync(handle.Program, ContainerRuntimeCli.RemoveArguments(handle.Name), CallTimeout, CancellationToken.None).ConfigureAwait(false);
        if (rm != 0)
        {
            Log.CallFailed(_logger, ContainerRuntimeCli.Name(handle.Runtime), "rm " + handle.Name, rm, FirstLine(error));
        }

        return oom;
    }

    private List<(ContainerRuntime Runtime, string Program)> Programs()
    {
        lock (_found)
        {
            return [.. _found.Select(static f => (f.Key, f.Value.Program))];
        }
    }

    /// <summary>Runs the runtime's CLI to its end: exit status (−1 when it could not start or timed out), stdout, stderr.</summary>
    private static async Task<(int Code, string Output, string Error)> CallAsync(string program, IEnumerable<string> arguments, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var info = new ProcessStartInfo(program)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        CliEnvironment(info.Environment);
        using var process = new Process { StartInfo = info };
        try
        {
            process.Start();
        }
        catch (Exception ex) when (ex is Win32Exception or InvalidOperationException or IOException)
        {
            return (-1, "", ex.Message);
        }

        process.StandardInput.Close();
        var output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        var error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try
            {
                process.Kill(entireProcessTree: true);
            }
            catch (InvalidOperationException)
            {
                // It ended meanwhile.
            }

            cancellationToken.ThrowIfCancellationRequested();
            return (-1, "", "timed out after " + timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s");
        }

        return (process.ExitCode, await output.ConfigureAwait(false), await error.ConfigureAwait(false));
    }

    private static string FirstLine(string text)
    {
        var trimmed = text.Trim();
        var newline = trimmed.IndexOf('\n', StringComparison.Ordinal);
        return newline < 0 ? trimmed : trimmed[..newline].TrimEnd();
    }

    private static string? FindOnPath(string name)
    {
        foreach (var dir in (System.Environment.GetEnvironmentVariable("PATH") ?? "/usr/local/bin:/usr/bin:/bin").Split(':', StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        return null;
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 170, Level = LogLevel.Information, Message = "Container runtime {Runtime} {Version} found at {Program}: container jobs asking for it can run here")]
        public static partial void Found(ILogger logger, string runtime, string version, string program);

        [LoggerMessage(EventId = 171, Level = LogLevel.Warning, Message = "Container runtime {Runtime} not found (--container-runtimes names it): not on PATH and no --container-runtime-path")]
        public static partial void NotFound(ILogger logger, string runtime);

        [LoggerMessage(EventId = 172, Level = LogLevel.Warning, Message = "Container runtime {Runtime} at {Program} does not answer 'version' (exit status {Code}: {Error}): container jobs asking for it are not placed here")]
        public static partial void NotAnswering(ILogger logger, string runtime, string program, int code, string error);

        [LoggerMessage(EventId = 173, Level = LogLevel.Information, Message = "No container runtime found (podman, docker): container jobs are not placed on this node")]
        public static partial void NoneFound(ILogger logger);

        [LoggerMessage(EventId = 174, Level = LogLevel.Information, Message = "Container runtimes off (--container-runtimes none): container jobs are not placed on this node")]
        public static partial void NoneWanted(ILogger logger);

        [LoggerMessage(EventId = 175, Level = LogLevel.Warning, Message = "Container jobs get their GPUs through the environment only (--container-gpus env-only): no device is passed; the runtime's NVIDIA hook must act on NVIDIA_VISIBLE_DEVICES")]
        public static partial void EnvOnlyGpus(ILogger logger);

        [LoggerMessage(EventId = 176, Level = LogLevel.Warning, Message = "GPUs are SIMULATED: container jobs get no GPU device for them (there is none to pass), only CUDA_VISIBLE_DEVICES and NVIDIA_VISIBLE_DEVICES")]
        public static partial void SimulatedGpus(ILogger logger);

        [LoggerMessage(EventId = 177, Level = LogLevel.Warning, Message = "{Runtime} {Call} failed with exit status {Code}: {Error}")]
        public static partial void CallFailed(ILogger logger, string runtime, string call, int code, string error);

        [LoggerMessage(EventId = 178, Level = LogLevel.Warning, Message = "{Runtime} container {Name} was left by an earlier agent run; removed: {Removed} {Error}")]
        public static partial void OrphanRemoved(ILogger logger, string runtime, string name, bool removed, string error);

        [LoggerMessage(EventId = 180, Level = LogLevel.Information, Message = "Killing {Runtime} container {Name}")]
        public static partial void Killing(ILogger logger, string runtime, string name);

        [LoggerMessage(EventId = 181, Level = LogLevel.Information, Message = "Stopping {Runtime} container {Name}: stop (SIGTERM, SIGKILL after {GraceSeconds}s), then kill")]
        public static partial void Stopping(ILogger logger, string runtime, string name, double graceSeconds);

        [LoggerMessage(EventId = 179, Level = LogLevel.Debug, Message = "Job {JobId} attempt {Attempt} runs: {CommandLine}")]
        public static partial void Running(ILogger logger, long jobId, int attempt, string commandLine);
    }
}
