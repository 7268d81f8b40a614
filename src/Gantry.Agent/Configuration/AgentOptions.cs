using System.ComponentModel.DataAnnotations;
using System.Net;
using Gantry.Core.Text;
using Gantry.Hosting.Settings;

namespace Gantry.Agent.Configuration;

/// <summary>
/// Everything <c>gantry agent</c> can be told. Defaults live here; <see cref="AgentSettings"/>
/// fills them from flags, <c>GANTRY_*</c> variables and the config file, and
/// <see cref="AgentOptionsValidator"/> checks them before the agent starts.
/// </summary>
public sealed class AgentOptions : IValidatableObject
{
    /// <summary>Address and port of the agent's HTTP endpoints.</summary>
    public IPEndPoint Listen { get; set; } = new(IPAddress.Loopback, 9450);

    /// <summary>Time between samples.</summary>
    public TimeSpan Interval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long one collector may take before its reading is dropped from a sample; defaults to 80% of the interval, at most 10s.</summary>
    public TimeSpan? CollectorTimeout { get; set; }

    /// <summary>Load NVML from this file instead of the driver's <c>libnvidia-ml.so.1</c>.</summary>
    public string? NvmlLibrary { get; set; }

    /// <summary>Do not load NVML at all.</summary>
    public bool NoNvml { get; set; }

    /// <summary>Enforce each job's CPU and memory reservations with cgroups (docs/job-limits.md); false leaves them bookkeeping only.</summary>
    public bool JobLimits { get; set; } = true;

    // ---- container jobs (docs/containers-jobs.md) ----

    /// <summary>The container runtimes to look for (<c>--container-runtimes</c>); null for all (<c>auto</c>), empty for none.</summary>
    public IReadOnlyList<Gantry.Core.Protocol.ContainerRuntime>? ContainerRuntimes { get; set; }

    /// <summary>A runtime's program where it is not the one on PATH (<c>--container-runtime-path podman=/usr/bin/podman</c>).</summary>
    public IReadOnlyDictionary<Gantry.Core.Protocol.ContainerRuntime, string> ContainerRuntimePaths { get; set; } = new Dictionary<Gantry.Core.Protocol.ContainerRuntime, string>();

    /// <summary>How a container job's GPUs reach it (<c>--container-gpus cdi|env-only</c>).</summary>
    public Jobs.ContainerGpuMode ContainerGpus { get; set; } = Jobs.ContainerGpuMode.Cdi;

    /// <summary>Report this many simulated GPUs instead of real ones (demos, tests).</summary>
    public int SimulateGpus { get; set; }

    /// <summary>Prometheus endpoints of local inference servers (vLLM, TGI, generic).</summary>
    public IReadOnlyList<Uri> AppMetricsUrls { get; set; } = [];

    /// <summary>Also emit dcgm-exporter's metric names and labels.</summary>
    public bool DcgmCompat { get; set; }

    /// <summary>The node's power envelope in watts; null for none.</summary>
    public double? NodePowerEnvelopeWatts { get; set; }

    /// <summary>
    /// The kernel log the agent reads XIDs from alongside NVML's events (<c>/dev/kmsg</c>); null for none
    /// (<c>--kernel-log off</c>). Read only when the GPUs come from NVML.
    /// </summary>
    public string? KernelLog { get; set; } = "/dev/kmsg";

    /// <summary>Where procfs is mounted (a container may mount the host's elsewhere).</summary>
    public string ProcPath { get; set; } = "/proc";

    /// <summary>Where sysfs is mounted.</summary>
    public string SysPath { get; set; } = "/sys";

    /// <summary>The least severe log level written.</summary>
    public Microsoft.Extensions.Logging.LogLevel LogLevel { get; set; } = Microsoft.Extensions.Logging.LogLevel.Information;

    /// <summary>
    /// The control plane to join: one URL, or the URLs of several replicas sharing one database (the
    /// agent talks to one at a time and follows the leader; see <c>ControlPlane/LeaderFollower.cs</c>).
    /// Empty runs the agent alone (metrics only, no jobs).
    /// </summary>
    public IReadOnlyList<Uri> Servers { get; set; } = [];

    /// <summary>The join token presented at registration (required with <see cref="Servers"/> unless <see cref="JoinTokenFile"/> is set).</summary>
    public string? JoinToken { get; set; }

    /// <summary>A file holding the join token (first line), read at start.</summary>
    public string? JoinTokenFile { get; set; }

    /// <summary>A PEM file of the CAs an https server's certificate must chain to (<c>--ca-file</c>); null for the system's store.</summary>
    public string? CaFile { get; set; }

    /// <summary>The pin of the server's CA (<c>--ca-cert-hash sha256:HEX</c>, <see cref="Gantry.Core.Security.CertificatePin"/>); null for none.</summary>
    public string? CaCertHash { get; set; }

    /// <summary>Where the node id and the records of running attempts are kept; null for <see cref="DefaultStateDir"/>.</summary>
    public string? StateDir { get; set; }

    /// <summary>Labels reported to the control plane (<c>--labels gpu=h100,zone=a</c>).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; set; } = new Dictionary<string, string>();

    /// <summary>The node's name at the control plane; null for the host name.</summary>
    public string? NodeName { get; set; }

    /// <summary>What the agent reports as its URL; null for <c>http://</c> + the listen address.</summary>
    public Uri? AdvertiseUrl { get; set; }

    /// <summary>
    /// The GC's allocation budget for generation 0 in a <c>gantry agent</c> process, in bytes: how much
    /// is allocated between two collections. 0 leaves the runtime's default (sized from the CPU's
    /// cache, tens of MiB); null means <see cref="DefaultGcGen0Size"/>. See <see cref="AgentRuntime"/>.
    /// </summary>
    public long? GcGen0Size { get; set; }

    /// <summary>
    /// The agent's generation-0 budget unless told otherwise: its live heap is a few MiB, so a small
    /// budget costs more (cheap) collections and saves resident memory: 1 MiB, with 1 MiB GC regions,
    /// keeps ~6 MiB less than 4 MiB with the default regions, at the same CPU per scrape
    /// (docs/benchmarks.md, "Agent vs node_exporter").
    /// </summary>
    public const long DefaultGcGen0Size = 1L << 20;

    /// <summary>The smallest generation-0 budget accepted (besides 0 for the runtime's default).</summary>
    public const long MinGcGen0Size = 256L << 10;

    /// <summary>The largest generation-0 budget accepted.</summary>
    public const long MaxGcGen0Size = 1L << 30;

    /// <summary>The generation-0 budget in effect in bytes; 0 for the runtime's default.</summary>
    public long EffectiveGcGen0Size => GcGen0Size ?? DefaultGcGen0Size;

    /// <summary>The state directory in effect.</summary>
    public string EffectiveStateDir => StateDir ?? DefaultStateDir(Environment.GetEnvironmentVariable);

    /// <summary>The node name in effect.</summary>
    public string EffectiveNodeName => string.IsNullOrWhiteSpace(NodeName) ? Environment.MachineName : NodeName;

    /// <summary>
    /// <c>/var/lib/gantry/agent</c> for root, else <c>$XDG_STATE_HOME/gantry/agent</c>, else
    /// <c>~/.local/state/gantry/agent</c>.
    /// </summary>
    public static string DefaultStateDir(Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (!OperatingSystem.IsWindows() && Environment.UserName == "root")
        {
            return "/var/lib/gantry/agent";
        }

        if (environment("XDG_STATE_HOME") is { Length: > 0 } xdg && Path.IsPathRooted(xdg))
        {
            return Path.Combine(xdg, "gantry", "agent");
        }

        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".local", "state", "gantry", "agent");
    }

    /// <summary>
    /// The join token: <see cref="JoinToken"/>, or the first line of <see cref="JoinTokenFile"/>.
    /// Throws <see cref="IOException"/> when the file cannot be read.
    /// </summary>
    public string? ResolveJoinToken()
    {
        if (JoinToken is not null || JoinTokenFile is null)
        {
            return JoinToken?.Trim();
        }

        using var reader = new StreamReader(JoinTokenFile);
        return reader.ReadLine()?.Trim();
    }

    /// <summary>The collector timeout in effect.</summary>
    public TimeSpan EffectiveCollectorTimeout =>
        CollectorTimeout ?? TimeSpan.FromMilliseconds(Math.Min(Interval.TotalMilliseconds * 0.8, 10_000));

    /// <summary>How old the latest sample may be before <c>/healthz</c> reports 503.</summary>
    public TimeSpan StaleAfter => Interval * 3 + EffectiveCollectorTimeout;

    /// <summary>
    /// The problems with these options, each naming its setting as its member (<c>collector-timeout</c>):
    /// what <see cref="AgentOptionsValidator"/>, source-generated, reports.
    /// </summary>
    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Interval < TimeSpan.FromSeconds(1))
        {
            yield return Problem("interval", $"must be at least 1s, got {SettingParsers.FormatDuration(Interval)}");
        }
        else if (Interval > TimeSpan.FromHours(1))
        {
            yield return Problem("interval", $"must be at most 1h, got {SettingParsers.FormatDuration(Interval)}");
        }
        else if (CollectorTimeout is { } timeout && (timeout < TimeSpan.FromMilliseconds(10) || timeout > Interval))
        {
            yield return Problem("collector-timeout", $"must be between 10ms and the interval ({SettingParsers.FormatDuration(Interval)}), got {SettingParsers.FormatDuration(timeout)}");
        }

        if (SimulateGpus is < 0 or > 64)
        {
            yield return Problem("simulate-gpus", $"must be between 0 and 64, got {SimulateGpus}");
        }

        if (NodePowerEnvelopeWatts is { } w && (w <= 0 || double.IsNaN(w) || w > 1_000_000))
        {
            yield return Problem("node-power-envelope-watts", $"must be a positive number of watts up to 1000000, got {w}");
        }

        if (GcGen0Size is { } gen0 && gen0 != 0 && gen0 is < MinGcGen0Size or > MaxGcGen0Size)
        {
            yield return Problem("gc-gen0-size", $"must be between {Sizes.Format(MinGcGen0Size)} and {Sizes.Format(MaxGcGen0Size)}, or off for the runtime's default; got {Sizes.Format(gen0)}");
        }

        if (NvmlLibrary is not null && NoNvml)
        {
            yield return Problem("nvml-library", "cannot be combined with --no-nvml");
        }
        else if (NvmlLibrary is not null && !File.Exists(NvmlLibrary))
        {
            yield return Problem("nvml-library", $"file not found: {NvmlLibrary}");
        }

        foreach (var url in AppMetricsUrls)
        {
            if (url.Scheme is not ("http" or "https"))
            {
                yield return Problem("app-metrics-url", $"must be an http or https URL, got {url}");
                break;
            }
        }

        foreach (var (runtime, program) in ContainerRuntimePaths)
        {
            if (!Path.IsPathRooted(program) || !File.Exists(program))
            {
                yield return Problem("container-runtime-path", $"{Jobs.ContainerRuntimeCli.Name(runtime)}: no such file: {program}");
                break;
            }
        }

        if (LabelRules.Check(Labels) is { } labelProblem)
        {
            yield return Problem("labels", labelProblem);
        }

        if (ControlPlaneProblem() is { } controlPlane)
        {
            yield return controlPlane;
        }
    }

    private static ValidationResult Problem(string setting, string message) => new(message, [setting]);

    /// <summary>The first problem with the control-plane settings: they depend on each other.</summary>
    private ValidationResult? ControlPlaneProblem()
    {
        foreach (var server in Servers)
        {
            if (!server.IsAbsoluteUri || server.Scheme is not ("http" or "https"))
            {
                return Problem("server", $"must be absolute http or https URLs, got {server}");
            }
        }

        if (AdvertiseUrl is { } advertise && (!advertise.IsAbsoluteUri || advertise.Scheme is not ("http" or "https")))
        {
            return Problem("advertise-url", $"must be an absolute http or https URL, got {advertise}");
        }

        if (NodeName is { } name && (name.Length is 0 or > 253 || name.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))))
        {
            return Problem("node-name", $"must be 1 to 253 characters without spaces, got '{name}'");
        }

        if (StateDir is { } dir && !Path.IsPathRooted(dir))
        {
            return Problem("state-dir", $"must be an absolute path, got '{dir}'");
        }

        if (JoinToken is not null && JoinTokenFile is not null)
        {
            return Problem("join-token-file", "cannot be combined with --join-token; give one of them");
        }

        if (Servers.Count == 0)
        {
            return JoinToken is not null || JoinTokenFile is not null ? Problem("join-token", "is only used with --server")
                : CaFile is not null ? Problem("ca-file", "is only used with --server")
                : CaCertHash is not null ? Problem("ca-cert-hash", "is only used with --server")
                : null;
        }

        if ((CaFile is not null || CaCertHash is not null) && !Servers.Any(s => s.Scheme == "https"))
        {
            return Problem(CaFile is not null ? "ca-file" : "ca-cert-hash", "checks an https:// server, and --server names only http:// ones");
        }

        if (CaFile is not null)
        {
            try
            {
                _ = Gantry.Core.Security.CertificatePin.ReadPemFile(CaFile);
            }
            catch (FormatException ex)
            {
                return Problem("ca-file", ex.Message);
            }
        }

        string? token;
        try
        {
            token = ResolveJoinToken();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return Problem("join-token-file", $"cannot read {JoinTokenFile}: {ex.Message}");
        }

        if (string.IsNullOrEmpty(token))
        {
            return JoinTokenFile is null
                ? Problem("join-token", "is required with --server (or give --join-token-file FILE)")
                : Problem("join-token-file", $"{JoinTokenFile} is empty");
        }

        return null;
    }
}
