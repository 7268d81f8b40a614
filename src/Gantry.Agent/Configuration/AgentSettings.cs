using Gantry.Core.Text;
using Gantry.Hosting.Settings;
using Microsoft.Extensions.Options;

namespace Gantry.Agent.Configuration;

/// <summary>
/// Every setting of <c>gantry agent</c>, in <c>--help</c>'s order. Each has one name in three spellings,
/// read in this order of precedence: the flag <c>--node-power-envelope-watts</c>, the environment variable
/// <c>GANTRY_NODE_POWER_ENVELOPE_WATTS</c>, the config file's key <c>"nodePowerEnvelopeWatts"</c>
/// (<see cref="SettingSources"/>).
/// </summary>
public static class AgentSettings
{
    /// <summary>The settings, with their help and how each value applies to <see cref="AgentOptions"/>.</summary>
    public static IReadOnlyList<Setting<AgentOptions>> All { get; } =
    [
        new("listen", SettingKind.Value, "ADDRESS:PORT", "Address and port for /metrics, /status, /events and /healthz. ':9450' listens on all interfaces. (default: 127.0.0.1:9450)",
            static (o, v) => o.Listen = SettingParsers.Endpoint(v)),
        new("interval", SettingKind.Value, "DURATION", "Time between samples, e.g. 5s, 2s, 1m; at least 1s. (default: 5s)",
            static (o, v) => o.Interval = SettingParsers.Duration(v)),
        new("collector-timeout", SettingKind.Value, "DURATION", "How long one collector may take before its reading is left out of a sample. (default: 80% of the interval, at most 10s)",
            static (o, v) => o.CollectorTimeout = SettingParsers.Duration(v)),
        new("nvml-library", SettingKind.Value, "PATH", "Load NVML from this file instead of the driver's libnvidia-ml.so.1 (nvml.dll on Windows).",
            static (o, v) => o.NvmlLibrary = SettingParsers.FullPath(v)),
        new("no-nvml", SettingKind.Switch, "", "Do not load NVML: no GPU metrics.",
            static (o, v) => o.NoNvml = SettingParsers.Bool(v)),
        new("simulate-gpus", SettingKind.Value, "N", "Report N simulated GPUs with changing readings, for demos and machines without GPUs. Every simulated series is labelled simulated=\"true\". (default: 0)",
            static (o, v) => o.SimulateGpus = SettingParsers.WholeNumber(v)),
        new("app-metrics-url", SettingKind.List, "URL", "Prometheus endpoint of a local inference server (vLLM, TGI, or one exporting model_tokens_total); repeatable. Exports tokens per second and tokens per joule.",
            static (o, v) => o.AppMetricsUrls = [.. o.AppMetricsUrls, SettingParsers.HttpUrl(v, "http://127.0.0.1:8000/metrics")]),
        new("dcgm-compat", SettingKind.Switch, "", "Also emit dcgm-exporter's metric names and labels for its default counters, so existing Grafana dashboards work unchanged.",
            static (o, v) => o.DcgmCompat = SettingParsers.Bool(v)),
        new("node-power-envelope-watts", SettingKind.Value, "WATTS", "The node's power budget; exports gantry_node_power_above_envelope.",
            static (o, v) => o.NodePowerEnvelopeWatts = SettingParsers.Number(v)),
        new("kernel-log", SettingKind.Value, "PATH", "Where the agent reads the NVIDIA driver's XID lines (NVRM: Xid ...) with NVML: XIDs NVML cannot deliver (79, 119, 120) are only there. Reading /dev/kmsg needs CAP_SYSLOG where kernel.dmesg_restrict is 1; without it the agent says so once in its log and in /status. off: do not read it. (default: /dev/kmsg)",
            static (o, v) => o.KernelLog = string.Equals(v.Trim(), "off", StringComparison.OrdinalIgnoreCase) ? null : SettingParsers.FullPath(v)),
        new("procfs", SettingKind.Value, "PATH", "Where procfs is mounted, e.g. /host/proc in a container. (default: /proc)",
            static (o, v) => o.ProcPath = SettingParsers.NonEmpty(v)),
        new("sysfs", SettingKind.Value, "PATH", "Where sysfs is mounted. (default: /sys)",
            static (o, v) => o.SysPath = SettingParsers.NonEmpty(v)),
        new("log-level", SettingKind.Value, "LEVEL", "trace, debug, info, warning or error. (default: info)",
            static (o, v) => o.LogLevel = SettingParsers.LogLevel(v)),
        new("server", SettingKind.List, "URL[,URL...]", "Join this control plane (gantry server) and run the jobs it assigns. Without it the agent runs alone. Give the URLs of several replicas sharing one database, separated by commas (in a config file also a JSON array): the agent talks to one at a time, follows the leader a standby names (307), and moves on to the next URL when one refuses, times out or answers 503, backing off after each full round.",
            static (o, v) => o.Servers = Merge(o.Servers, ParseServers(v))),
        new("join-token", SettingKind.Value, "TOKEN", "The server's join token; required with --server. Prefer --join-token-file or the environment: flags show in ps.",
            static (o, v) => o.JoinToken = SettingParsers.NonEmpty(v, "a token")),
        new("join-token-file", SettingKind.Value, "FILE", "Read the join token from the first line of FILE.",
            static (o, v) => o.JoinTokenFile = SettingParsers.FullPath(v)),
        new("ca-file", SettingKind.Value, "FILE", "Trust an https server only if its certificate chains to a CA in this PEM file (instead of the system's CA store), e.g. <data-dir>/tls/ca.crt of a server run with --tls auto.",
            static (o, v) => o.CaFile = SettingParsers.FullPath(v)),
        new("ca-cert-hash", SettingKind.Value, "sha256:HEX", "Trust an https server only if its chain leads to the CA with this public-key pin (the SHA-256 of its SubjectPublicKeyInfo), as 'gantry server' prints it in its join command; the CA is fetched from the server and checked against the pin, as kubeadm join does (docs/tls.md).",
            static (o, v) => o.CaCertHash = Gantry.Core.Security.CertificatePin.Parse(v)),
        new("state-dir", SettingKind.Value, "DIR", "Where the node id and running attempts are kept. (default: /var/lib/gantry/agent as root, else $XDG_STATE_HOME/gantry/agent or ~/.local/state/gantry/agent)",
            static (o, v) => o.StateDir = SettingParsers.FullPath(v)),
        new("job-limits", SettingKind.Value, "cgroups|off", "cgroups: each job runs in a cgroup of its own limited to its reservation, --cpus as a CPU quota and --memory as a memory limit (a job past it is killed and ends 'out of memory'); cgroup v2 where the machine has it, else v1's memory and cpu controllers. Needs the agent to be allowed to make cgroups (root, or a delegated cgroup); where it is not, the agent says so at start and the reservations stay bookkeeping. off: bookkeeping only. (default: cgroups)",
            static (o, v) => o.JobLimits = v.Trim().ToLowerInvariant() switch
            {
                "cgroups" => true,
                "off" => false,
                _ => throw new FormatException("expected cgroups or off"),
            }),
        new("container-runtimes", SettingKind.Value, "auto|none|RUNTIME,...", "The container runtimes container jobs (gantry jobs submit --image) may run with: auto looks for podman and docker (each counts once it answers 'version'; docker's client alone, without its daemon, does not), none runs no container jobs, or a list such as podman,docker. What is found, with its version, is in the node's facts; a job asking for a runtime a node lacks is not placed there. (default: auto)",
            static (o, v) => o.ContainerRuntimes = ParseContainerRuntimes(v)),
        new("container-runtime-path", SettingKind.Pairs, "RUNTIME=PATH,...", "Run a container runtime from this program instead of the one on PATH, e.g. podman=/opt/podman/bin/podman.",
            static (o, v) => o.ContainerRuntimePaths = ParseContainerRuntimePaths(v)),
        new("container-gpus", SettingKind.Value, "cdi|env-only", "How a container job gets its GPUs. cdi: as devices, podman's --device nvidia.com/gpu=UUID (a CDI spec from the NVIDIA container toolkit: nvidia-ctk cdi generate) or docker's --gpus device=UUID,...; env-only: only NVIDIA_VISIBLE_DEVICES (their UUIDs) and CUDA_VISIBLE_DEVICES, for a runtime whose NVIDIA hook acts on them, or a node without a CDI spec. Simulated GPUs never get a device. (default: cdi)",
            static (o, v) => o.ContainerGpus = v.Trim().ToLowerInvariant() switch
            {
                "cdi" => Jobs.ContainerGpuMode.Cdi,
                "env-only" => Jobs.ContainerGpuMode.EnvOnly,
                _ => throw new FormatException("expected cdi or env-only"),
            }),
        new("labels", SettingKind.Pairs, "K=V,...", "Node labels jobs can select on, e.g. gpu=h100,zone=a (in a config file also {\"gpu\": \"h100\"}).",
            static (o, v) => o.Labels = LabelRules.Parse(v)),
        new("node-name", SettingKind.Value, "NAME", "The node's name at the server. (default: the host name)",
            static (o, v) => o.NodeName = SettingParsers.NonEmpty(v, "a name")),
        new("advertise-url", SettingKind.Value, "URL", "The URL the server and Prometheus use to reach this agent. (default: http:// + the listen address)",
            static (o, v) => o.AdvertiseUrl = SettingParsers.HttpUrl(v, "http://10.0.0.5:9450")),
        new("gc-gen0-size", SettingKind.Value, "SIZE", "How much the agent allocates between two garbage collections (the GC's generation-0 budget, also its largest), e.g. 1MiB, 4MiB, or off for the runtime's defaults (a budget sized from the CPU cache, tens of MiB, and 4 MiB heap regions). Small keeps resident memory low; the GC's regions are sized to match (1 to 4 MiB). Applied by restarting the agent in place at start (same pid); DOTNET_GCgen0size, DOTNET_GCgen0MaxBudget or DOTNET_GCRegionSize, if you set any, win. Linux only. (default: 1MiB)",
            static (o, v) => o.GcGen0Size = Sizes.Parse(v)),
    ];

    /// <summary>The source-generated validator of <see cref="AgentOptions"/>.</summary>
    public static IValidateOptions<AgentOptions> Validator { get; } = new AgentOptionsValidator();

    /// <summary>
    /// Loads the agent's options from <paramref name="flags"/> (only those given on the command line, as
    /// name and value), the <c>GANTRY_*</c> environment (<paramref name="environment"/> stands in for the
    /// process's in tests) and <paramref name="configFile"/> (or <c>GANTRY_CONFIG</c>), and validates them.
    /// Throws <see cref="SettingException"/> naming each bad setting and where its value came from.
    /// </summary>
    public static Task<AgentOptions> LoadAsync(
        IEnumerable<KeyValuePair<string, string>> flags,
        string? configFile,
        IReadOnlyDictionary<string, string>? environment = null,
        CancellationToken cancellationToken = default) =>
        SettingsLoader.LoadAsync(All, Validator, flags, configFile, environment, cancellationToken);

    /// <summary>
    /// Reads <c>http://10.0.0.1:7070,http://10.0.0.2:7070</c>: one or more absolute http(s) URLs,
    /// in the order the agent tries them.
    /// </summary>
    internal static IReadOnlyList<Uri> ParseServers(string text)
    {
        const string Example = "http://10.0.0.1:7070 or http://10.0.0.1:7070,http://10.0.0.2:7070";
        var servers = new List<Uri>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(item, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new FormatException($"'{item}' is not an absolute http(s) URL; expected one or more such as {Example}");
            }

            servers.Add(url);
        }

        return servers.Count > 0 ? servers : throw new FormatException("expected one or more absolute http(s) URLs such as " + Example);
    }

    /// <summary>Reads <c>auto</c>, <c>none</c> or a list of runtimes such as <c>podman,docker</c>.</summary>
    internal static IReadOnlyList<Gantry.Core.Protocol.ContainerRuntime>? ParseContainerRuntimes(string text)
    {
        var trimmed = text.Trim().ToLowerInvariant();
        if (trimmed == "auto")
        {
            return null;
        }

        if (trimmed == "none")
        {
            return [];
        }

        var list = new List<Gantry.Core.Protocol.ContainerRuntime>();
        foreach (var item in trimmed.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Jobs.ContainerRuntimeCli.TryParse(item, out var runtime))
            {
                throw new FormatException($"'{item}' is not a container runtime; expected auto, none, or podman and/or docker such as podman,docker");
            }

            if (!list.Contains(runtime))
            {
                list.Add(runtime);
            }
        }

        return list.Count > 0 ? list : throw new FormatException("expected auto, none, or podman and/or docker such as podman,docker");
    }

    /// <summary>Reads <c>podman=/usr/bin/podman,docker=/usr/local/bin/docker</c>.</summary>
    internal static Dictionary<Gantry.Core.Protocol.ContainerRuntime, string> ParseContainerRuntimePaths(string text)
    {
        var paths = new Dictionary<Gantry.Core.Protocol.ContainerRuntime, string>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var equals = item.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0 || !Jobs.ContainerRuntimeCli.TryParse(item[..equals], out var runtime) || equals == item.Length - 1)
            {
                throw new FormatException($"expected RUNTIME=PATH such as podman=/usr/bin/podman, got '{item}'");
            }

            paths[runtime] = Path.GetFullPath(item[(equals + 1)..]);
        }

        return paths;
    }

    /// <summary>The URLs so far and the new ones, a URL given twice counted once.</summary>
    private static List<Uri> Merge(IReadOnlyList<Uri> servers, IReadOnlyList<Uri> more)
    {
        var merged = new List<Uri>(servers);
        foreach (var url in more)
        {
            if (!merged.Exists(s => s.AbsoluteUri == url.AbsoluteUri))
            {
                merged.Add(url);
            }
        }

        return merged;
    }
}

/// <summary>Checks <see cref="AgentOptions"/> through its <see cref="System.ComponentModel.DataAnnotations.IValidatableObject"/> rules; the body is source-generated.</summary>
[OptionsValidator]
internal sealed partial class AgentOptionsValidator : IValidateOptions<AgentOptions>;
