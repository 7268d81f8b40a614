using System.Globalization;
using Gantry.Core.Protocol;

namespace Gantry.Agent.Jobs;

/// <summary>How a container job's GPUs reach it (<c>--container-gpus</c>, docs/containers-jobs.md).</summary>
public enum ContainerGpuMode
{
    /// <summary>
    /// As devices: CDI names for podman (<c>--device nvidia.com/gpu=&lt;uuid&gt;</c>, the NVIDIA container
    /// toolkit's spec), <c>--gpus "device=&lt;uuid&gt;,…"</c> for docker; plus the environment.
    /// </summary>
    Cdi,

    /// <summary>
    /// The environment alone (<c>NVIDIA_VISIBLE_DEVICES</c>, <c>CUDA_VISIBLE_DEVICES</c>): for a runtime whose
    /// NVIDIA hook selects the GPUs from <c>NVIDIA_VISIBLE_DEVICES</c>, and for nodes with no CDI spec (tests).
    /// </summary>
    EnvOnly,
}

/// <summary>
/// What one container attempt is run with: the values <see cref="ContainerRuntimeCli.RunArguments"/> turns into
/// the runtime's <c>run</c> command line. GPU UUIDs are in the order of the attempt's GPUs; an empty UUID, or a
/// simulated GPU, gets no device.
/// </summary>
internal sealed record ContainerRun
{
    public required ContainerRuntime Runtime { get; init; }

    public required string Name { get; init; }

    public required ContainerSpec Spec { get; init; }

    public required long JobId { get; init; }

    public required int Attempt { get; init; }

    public string? NodeId { get; init; }

    /// <summary>The UUIDs of the attempt's GPUs that get a device (not simulated, UUID known).</summary>
    public IReadOnlyList<string> DeviceUuids { get; init; } = [];

    /// <summary>The UUIDs of every GPU of the attempt, for <c>NVIDIA_VISIBLE_DEVICES</c>.</summary>
    public IReadOnlyList<string> GpuUuids { get; init; } = [];

    public ContainerGpuMode GpuMode { get; init; } = ContainerGpuMode.Cdi;

    /// <summary>The environment inside the container, in order (the job's, then Gantry's over it).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Environment { get; init; } = [];

    public int Cpus { get; init; }

    public long MemoryBytes { get; init; }

    /// <summary><c>uid:gid</c> to run as; null for the image's user.</summary>
    public string? User { get; init; }

    /// <summary>Supplementary groups of <see cref="User"/>.</summary>
    public IReadOnlyList<uint> Groups { get; init; } = [];

    public string? WorkingDirectory { get; init; }

    /// <summary>With <see cref="Shell"/>, <c>[script, $0, $1…]</c>; else the arguments after the image (empty: the image's command).</summary>
    public IReadOnlyList<string> Command { get; init; } = [];

    /// <summary>Run <see cref="Command"/>[0] with the image's <c>/bin/sh -c</c> (as its entrypoint).</summary>
    public bool Shell { get; init; }
}

/// <summary>
/// The podman and docker command lines the agent runs: pure functions of their inputs, so the exact argv is
/// unit-tested (tests/Gantry.Agent.Tests/ContainerRuntimeCliTests.cs). The two CLIs agree on every flag used
/// here but the GPUs: podman takes CDI devices, docker its <c>--gpus</c>.
/// </summary>
internal static class ContainerRuntimeCli
{
    /// <summary>The label every Gantry container carries, with the job id as its value.</summary>
    public const string JobLabel = "gantry.io/job";

    /// <summary>The label with the attempt number.</summary>
    public const string AttemptLabel = "gantry.io/attempt";

    /// <summary>The label with the node id of the agent that started it: what an agent restart sweeps.</summary>
    public const string NodeLabel = "gantry.io/node";

    /// <summary>The runtime's program name (on PATH).</summary>
    public static string ProgramName(ContainerRuntime runtime) => runtime == ContainerRuntime.Docker ? "docker" : "podman";

    /// <summary>The runtime's name as written in settings, reasons and logs.</summary>
    public static string Name(ContainerRuntime runtime) => ProgramName(runtime);

    /// <summary>Reads <c>podman</c> or <c>docker</c>.</summary>
    public static bool TryParse(string text, out ContainerRuntime runtime)
    {
        switch (text.Trim().ToLowerInvariant())
        {
            case "podman":
                runtime = ContainerRuntime.Podman;
                return true;
            case "docker":
                runtime = ContainerRuntime.Docker;
                return true;
            default:
                runtime = default;
                return false;
        }
    }

    /// <summary>
    /// <c>gantry-job-ID-ATTEMPT-NODE</c>: from the job and attempt, so a restarted agent knows its containers, and
    /// the node id, since two agents of two servers on one machine (tests, <c>gantry dev</c>) share one namespace.
    /// </summary>
    public static string ContainerName(long jobId, int attempt, string? nodeId) =>
        string.IsNullOrEmpty(nodeId)
            ? string.Create(CultureInfo.InvariantCulture, $"gantry-job-{jobId}-{attempt}")
            : string.Create(CultureInfo.InvariantCulture, $"gantry-job-{jobId}-{attempt}-{nodeId}");

    /// <summary><c>version --format {{.Client.Version}}</c>: what detection runs.</summary>
    public static string[] VersionArguments() => ["version", "--format", "{{.Client.Version}}"];

    /// <summary>
    /// <c>run</c> in the foreground, attached to stdout and stderr (no <c>-d</c>, no <c>-i</c>, no <c>-t</c>): the
    /// CLI's output is the job's, its exit status the container's (125–127 for the runtime's own failures).
    /// Not <c>--rm</c>: the container is inspected (out of memory?) and removed after it ends.
    /// </summary>
    public static List<string> RunArguments(ContainerRun run)
    {
        ArgumentNullException.ThrowIfNull(run);
        var args = new List<string>(32 + run.Environment.Count * 2)
        {
            "run",
            "--name", run.Name,
            "--label", JobLabel + "=" + run.JobId.ToString(CultureInfo.InvariantCulture),
            "--label", AttemptLabel + "=" + run.Attempt.ToString(CultureInfo.InvariantCulture),
        };
        if (!string.IsNullOrEmpty(run.NodeId))
        {
            args.Add("--label");
            args.Add(NodeLabel + "=" + run.NodeId);
        }

        if (run.GpuMode == ContainerGpuMode.Cdi && run.DeviceUuids.Count > 0)
        {
            if (run.Runtime == ContainerRuntime.Docker)
            {
                // docker reads the value as CSV: the quotes keep "device=a,b" one field.
                args.Add("--gpus");
                args.Add("\"device=" + string.Join(',', run.DeviceUuids) + "\"");
            }
            else
            {
                foreach (var uuid in run.DeviceUuids)
                {
                    args.Add("--device");
                    args.Add("nvidia.com/gpu=" + uuid);
                }
            }
        }

        foreach (var (name, value) in run.Environment)
        {
            args.Add("--env");
            args.Add(name + "=" + value);
        }

        if (run.Cpus > 0)
        {
            args.Add("--cpus");
            args.Add(run.Cpus.ToString(CultureInfo.InvariantCulture));
        }

        if (run.MemoryBytes > 0)
        {
            // Swap equal to memory: no swap on top of the limit, as the process jobs' cgroups.
            var bytes = run.MemoryBytes.ToString(CultureInfo.InvariantCulture);
            args.Add("--memory");
            args.Add(bytes);
            args.Add("--memory-swap");
            args.Add(bytes);
        }

        foreach (var port in run.Spec.Ports)
        {
            args.Add("--publish");
            args.Add(string.Create(CultureInfo.InvariantCulture, $"{port.HostPort ?? port.ContainerPort}:{port.ContainerPort}"));
        }

        foreach (var volume in run.Spec.Volumes)
        {
            args.Add("--volume");
            args.Add(volume.HostPath + ":" + volume.ContainerPath + (volume.ReadOnly ? ":ro" : ""));
        }

        if (run.User is { } user)
        {
            args.Add("--user");
            args.Add(user);
            foreach (var group in run.Groups)
            {
                args.Add("--group-add");
                args.Add(group.ToString(CultureInfo.InvariantCulture));
            }
        }

        if (run.WorkingDirectory is { } workdir)
        {
            args.Add("--workdir");
            args.Add(workdir);
        }

        if (run.Shell)
        {
            args.Add("--entrypoint");
            args.Add("/bin/sh");
            args.Add(run.Spec.Image);
            args.Add("-c");
        }
        else
        {
            args.Add(run.Spec.Image);
        }

        args.AddRange(run.Command);
        return args;
    }

    /// <summary>The run arguments for a log line: environment values left out (they may hold secrets).</summary>
    public static string ForLog(string program, IReadOnlyList<string> arguments)
    {
        var parts = new List<string>(arguments.Count + 1) { program };
        for (var i = 0; i < arguments.Count; i++)
        {
            var argument = arguments[i];
            if (i > 0 && arguments[i - 1] == "--env" && argument.IndexOf('=', StringComparison.Ordinal) is > 0 and var equals)
            {
                argument = argument[..equals] + "=…";
            }

            parts.Add(argument.Contains(' ', StringComparison.Ordinal) || argument.Length == 0 ? "'" + argument + "'" : argument);
        }

        return string.Join(' ', parts);
    }

    /// <summary><c>stop -t GRACE NAME</c>: SIGTERM (the image's stop signal), SIGKILL after the grace.</summary>
    public static string[] StopArguments(string name, TimeSpan grace) =>
        ["stop", "-t", ((long)Math.Ceiling(Math.Max(0, grace.TotalSeconds))).ToString(CultureInfo.InvariantCulture), name];

    /// <summary><c>kill NAME</c>: SIGKILL now.</summary>
    public static string[] KillArguments(string name) => ["kill", name];

    /// <summary><c>inspect --format {{.State.OOMKilled}} NAME</c>: <c>true</c> when the kernel's OOM killer ended it.</summary>
    public static string[] OomKilledArguments(string name) => ["inspect", "--format", "{{.State.OOMKilled}}", name];

    /// <summary><c>rm -f NAME</c>.</summary>
    public static string[] RemoveArguments(string name) => ["rm", "-f", name];

    /// <summary>Every container, running or not, that the agent of node <paramref name="nodeId"/> started: one name a line.</summary>
    public static string[] ListArguments(string nodeId) =>
        ["ps", "-a", "--filter", "label=" + NodeLabel + "=" + nodeId, "--format", "{{.Names}}"];
}
