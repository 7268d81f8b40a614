using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Gantry.Cli.Jobs;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Services;

/// <summary>
/// The flags of <c>gantry services run</c> and their mapping to a service's <see cref="JobSubmission"/>
/// (docs/services.md). Every bad value is reported with its flag and exit code 2.
/// </summary>
internal sealed partial class ServiceRunOptions
{
    public Argument<string> Name { get; } = new("NAME")
    {
        Description = "The service's name, unique among running services (letters, digits, '-', '_', '.'; starting with a letter). 'vllm' or 'ollama' with --model runs that preset.",
    };

    public Option<string> ServiceName { get; } = new("--name")
    {
        Description = "With a preset: the service's name instead of the preset's (to run two vLLM services: --name llama-8b).",
        HelpName = "NAME",
    };

    /// <summary>--image, --runtime, --port, --volume: the same flags (and parsers) as <c>jobs submit</c>'s.</summary>
    public ContainerFlags Container { get; } = ServiceContainerFlags();

    public Option<string> Gpus { get; } = new("--gpus") { Description = "Whole GPUs the service needs. (default: 0; 1 with a preset)", HelpName = "N" };

    public Option<string> Cpus { get; } = new("--cpus") { Description = "CPU cores reserved for it. (default: 1)", HelpName = "N" };

    public Option<string> Memory { get; } = new("--memory") { Description = "Host memory reserved for it, in MiB. (default: 0, none reserved)", HelpName = "MiB" };

    public Option<string> Priority { get; } = new("--priority") { Description = "0 (lowest) to 100 (highest). (default: 50)", HelpName = "P" };

    public Option<string[]> Selector { get; } = new("--selector")
    {
        Description = "Only place it on nodes with this label; repeatable, or comma-separated: --selector zone=a,rack=3.",
        HelpName = "KEY=VALUE",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<string[]> Env { get; } = new("--env")
    {
        Description = "Set an environment variable for it; repeatable. 'KEY=' sets it empty.",
        HelpName = "KEY=VALUE",
        AllowMultipleArgumentsPerToken = false,
    };

    public Option<bool> Shell { get; } = new("--shell")
    {
        Description = "Run the command with /bin/sh -c (a process service); give exactly one command string.",
    };

    // ---- the restart policy, as Nomad's restart block ----

    public Option<string> RestartAttempts { get; } = new("--restart-attempts")
    {
        Description = "Restarts allowed within --restart-interval, 0 to 100; one more exit within it fails the service. (default: 3)",
        HelpName = "N",
    };

    public Option<string> RestartInterval { get; } = new("--restart-interval")
    {
        Description = "The window the restarts are counted in, e.g. 30m or 1h. (default: 30m)",
        HelpName = "DURATION",
    };

    public Option<string> RestartDelay { get; } = new("--restart-delay")
    {
        Description = "The wait before a restart, e.g. 15s; up to 25 % more is added at random. At most the interval. (default: 15s)",
        HelpName = "DURATION",
    };

    // ---- health and metrics ----

    public Option<string> HealthHttp { get; } = new("--health-http")
    {
        Description = "Check health with an HTTP GET that must answer 2xx: [HOST]:PORT/PATH, e.g. :8000/health (the host defaults to the node's address).",
        HelpName = "[HOST]:PORT/PATH",
    };

    public Option<string> HealthTcp { get; } = new("--health-tcp")
    {
        Description = "Check health by opening a TCP connection: [HOST]:PORT, e.g. :5432.",
        HelpName = "[HOST]:PORT",
    };

    public Option<string> HealthGrace { get; } = new("--health-grace")
    {
        Description = "How long after a start failed checks do not count, e.g. 90s or 10m. (default: 90s; 10m for vllm)",
        HelpName = "DURATION",
    };

    public Option<string> HealthInterval { get; } = new("--health-interval")
    {
        Description = "Time between health checks, e.g. 10s; a service is unhealthy, and restarted, after 3 failed checks in a row past its grace. (default: 10s)",
        HelpName = "DURATION",
    };

    public Option<string> MetricsPath { get; } = new("--metrics-path")
    {
        Description = "The path of its Prometheus metrics on its port, e.g. /metrics: read for tokens per second and tokens per joule. (default: none; /metrics for vllm)",
        HelpName = "PATH",
    };

    // ---- presets ----

    public Option<string> Model { get; } = new("--model")
    {
        Description = "With the vllm or ollama preset: the model to serve (vLLM: a Hugging Face id or a path in the container; Ollama: a model name such as llama3.1:8b).",
        HelpName = "MODEL",
    };

    public Option<string> MaxModelLen { get; } = new("--max-model-len")
    {
        Description = "With vllm: the longest context in tokens (vLLM's --max-model-len).",
        HelpName = "TOKENS",
    };

    public Option<string> TensorParallel { get; } = new("--tensor-parallel")
    {
        Description = "With vllm: GPUs one model is split over (vLLM's --tensor-parallel-size). (default: --gpus when more than 1)",
        HelpName = "N",
    };

    public Argument<string[]> Command { get; } = new("COMMAND")
    {
        Description = "The program and its arguments after -- (with --image: the arguments of the image's entrypoint). None with a preset.",
        Arity = ArgumentArity.ZeroOrMore,
    };

    public void AddTo(Command command)
    {
        command.Arguments.Add(Name);
        command.Options.Add(ServiceName);
        Container.AddTo(command);
        Option[] options = [Gpus, Cpus, Memory, Priority, Selector, Env, Shell, RestartAttempts, RestartInterval, RestartDelay, HealthHttp, HealthTcp, HealthGrace, HealthInterval, MetricsPath, Model, MaxModelLen, TensorParallel];
        foreach (var option in options)
        {
            command.Options.Add(option);
        }

        command.Arguments.Add(Command);
    }

    /// <summary>The submission and, for a preset, what to tell the person (stderr); a bad value throws <see cref="UsageException"/>.</summary>
    public (JobSubmission Submission, string? Note) Build(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        var first = parseResult.GetValue(Name) ?? "";
        var command = parseResult.GetValue(Command) ?? [];
        CheckDoubleDash(parseResult, command);
        var model = parseResult.GetValue(Model);
        var preset = Names(first) && model is not null ? first : null;
        if (Names(first) && model is null && command.Length == 0)
        {
            throw new UsageException("--model", $"the {first} preset needs the model to serve, e.g. gantry services run {first} --model {(first == "vllm" ? "meta-llama/Llama-3.1-8B-Instruct" : "llama3.1:8b")}");
        }

        var name = parseResult.GetValue(ServiceName) ?? first;
        if (!ServiceNamePattern().IsMatch(name))
        {
            throw new UsageException(parseResult.GetValue(ServiceName) is null ? "NAME" : "--name", $"expected 1 to 63 letters, digits, '-', '_' or '.', starting with a letter, got '{name}'");
        }

        var gpus = SubmitOptions.ParseInt(parseResult.GetValue(Gpus), "--gpus", min: 0, max: int.MaxValue) ?? (preset is null ? 0 : 1);
        var defaults = new ResourceRequest();
        var resources = new ResourceRequest
        {
            Gpus = gpus,
            Cpus = SubmitOptions.ParseInt(parseResult.GetValue(Cpus), "--cpus", min: 0, max: int.MaxValue) ?? defaults.Cpus,
            MemoryBytes = SubmitOptions.ParseMebibytes(parseResult.GetValue(Memory), "--memory") ?? defaults.MemoryBytes,
        };

        var restart = ParseRestart(parseResult.GetValue(RestartAttempts), parseResult.GetValue(RestartInterval), parseResult.GetValue(RestartDelay));
        var health = ParseHealth(parseResult.GetValue(HealthHttp), parseResult.GetValue(HealthTcp));
        var grace = ParsePositive(parseResult.GetValue(HealthGrace), "--health-grace");
        var checkEvery = ParsePositive(parseResult.GetValue(HealthInterval), "--health-interval");
        var metricsPath = parseResult.GetValue(MetricsPath);
        if (metricsPath is not null && !IsPath(metricsPath))
        {
            throw new UsageException("--metrics-path", $"expected a path starting with '/', e.g. /metrics, got '{metricsPath}'");
        }

        var env = SubmitOptions.ParsePairs(parseResult.GetValue(Env), "--env", splitCommas: false);
        var image = parseResult.GetValue(Container.Image);
        var ports = parseResult.GetValue(Container.Port) ?? [];
        ContainerSpec? container;
        ServiceSpec service;
        IReadOnlyList<string> args;
        string? note = null;
        var shell = parseResult.GetValue(Shell);
        if (preset is not null)
        {
            if (command.Length > 0)
            {
                throw new UsageException("COMMAND", $"the {preset} preset makes the command itself; give none after -- (or leave out --model to run your own)");
            }

            if (shell)
            {
                throw new UsageException("--shell", $"is not for the {preset} preset (it runs a container image)");
            }

            if (ports.Length > 1)
            {
                throw new UsageException("--port", $"the {preset} preset serves on one port; got {ports.Length}");
            }

            int? port = ports.Length == 1 ? ContainerFlags.ParsePort(ports[0], ports[0]) : null;
            var made = preset == "vllm"
                ? ServicePresets.Vllm(model!, gpus, port,
                    SubmitOptions.ParseInt(parseResult.GetValue(MaxModelLen), "--max-model-len", min: 1, max: int.MaxValue),
                    SubmitOptions.ParseInt(parseResult.GetValue(TensorParallel), "--tensor-parallel", min: 1, max: 1024), image)
                : ServicePresets.Ollama(model!, port, image);
            if (preset == "ollama")
            {
                NotWith(parseResult, MaxModelLen, "ollama");
                NotWith(parseResult, TensorParallel, "ollama");
            }

            var volumes = parseResult.GetValue(Container.Volume) ?? [];
            container = made.Container with
            {
                Runtime = parseResult.GetValue(Container.Runtime) is { } runtime ? ContainerFlags.ParseRuntime(runtime) : ContainerRuntime.Podman,
                Volumes = [.. volumes.Select(ContainerFlags.ParseVolume)],
            };
            args = made.Command;
            foreach (var (key, value) in made.Env)
            {
                env.TryAdd(key, value); // --env wins over the preset's
            }

            // --health-http/--health-tcp, --health-grace and --metrics-path override the preset's.
            service = made.Service with { Health = health ?? made.Service.Health, MetricsPath = metricsPath ?? made.Service.MetricsPath };
            if (grace is { } g && service.Health is { } presetHealth)
            {
                presetHealth.GraceSeconds = g;
            }

            if (checkEvery is { } every && service.Health is { } presetChecked)
            {
                presetChecked.IntervalSeconds = every;
            }

            note = made.Note;
        }
        else
        {
            NotWith(parseResult, Model, null);
            NotWith(parseResult, MaxModelLen, null);
            NotWith(parseResult, TensorParallel, null);
            if (command.Length == 0 && image is null)
            {
                throw new UsageException("COMMAND", $"give the command to run after --, e.g. gantry services run {name} --port 8080 -- python -m http.server 8080 (or --image IMAGE)");
            }

            if (shell && command.Length != 1)
            {
                throw new UsageException("--shell", $"takes exactly one command string; got {command.Length} arguments (quote the whole command)");
            }

            container = BuildContainer(parseResult, image);
            int? port = null;
            if (container is null && ports.Length > 0)
            {
                // A process service: --port is the port it serves on, not a mapping.
                port = ports.Length == 1 ? ContainerFlags.ParsePort(ports[0], ports[0]) : throw new UsageException("--port", "without --image, give the one port the service serves on");
            }

            if (health is not null && grace is { } g)
            {
                health.GraceSeconds = g;
            }

            if (health is not null && checkEvery is { } every)
            {
                health.IntervalSeconds = every;
            }

            if (metricsPath is not null && port is null && container is not { Ports.Count: > 0 })
            {
                throw new UsageException("--metrics-path", "needs --port (the port the metrics are served on)");
            }

            args = command;
            service = new ServiceSpec { Port = port, Health = health, MetricsPath = metricsPath };
        }

        if (grace is not null && service.Health is null)
        {
            throw new UsageException("--health-grace", "needs --health-http or --health-tcp");
        }

        if (checkEvery is not null && service.Health is null)
        {
            throw new UsageException("--health-interval", "needs --health-http or --health-tcp");
        }

        service.Restart = restart;
        var submission = new JobSubmission
        {
            Name = name,
            Command = args,
            Shell = shell,
            Kind = JobKind.Service,
            Service = service,
            Container = container,
        };
        submission.Env = env;
        submission.Resources = resources;
        submission.Priority = SubmitOptions.ParseInt(parseResult.GetValue(Priority), "--priority", min: 0, max: 100) ?? submission.Priority;
        submission.Selector = SubmitOptions.ParsePairs(parseResult.GetValue(Selector), "--selector", splitCommas: true);
        return (submission, note);
    }

    /// <summary><c>--restart-attempts</c>, <c>--restart-interval</c>, <c>--restart-delay</c>, with the policy's defaults.</summary>
    internal static RestartPolicy ParseRestart(string? attempts, string? interval, string? delay)
    {
        var policy = new RestartPolicy();
        policy.Attempts = SubmitOptions.ParseInt(attempts, "--restart-attempts", min: 0, max: 100) ?? policy.Attempts;
        policy.IntervalSeconds = ParsePositive(interval, "--restart-interval") ?? policy.IntervalSeconds;
        if (delay is not null)
        {
            if (!Durations.TryParse(delay, out var wait) || wait < TimeSpan.Zero)
            {
                throw new UsageException("--restart-delay", $"expected a duration such as 15s or 1m, got '{delay}'");
            }

            policy.DelaySeconds = wait.TotalSeconds;
        }

        if (policy.DelaySeconds > policy.IntervalSeconds)
        {
            throw new UsageException("--restart-delay", $"must be at most the interval ({Durations.Format(TimeSpan.FromSeconds(policy.IntervalSeconds))}); got {Durations.Format(TimeSpan.FromSeconds(policy.DelaySeconds))}");
        }

        return policy;
    }

    /// <summary><c>--health-http [HOST]:PORT/PATH</c> or <c>--health-tcp [HOST]:PORT</c>; null for neither.</summary>
    internal static HealthCheck? ParseHealth(string? http, string? tcp)
    {
        if (http is not null && tcp is not null)
        {
            throw new UsageException("--health-http", "give --health-http or --health-tcp, not both");
        }

        if (http is not null)
        {
            var slash = http.IndexOf('/', StringComparison.Ordinal);
            var (hostPort, path) = slash < 0 ? (http, "/") : (http[..slash], http[slash..]);
            var (host, port) = HostPort(hostPort, http, "--health-http", "[HOST]:PORT/PATH, e.g. :8000/health");
            return new HealthCheck { Kind = HealthCheckKind.Http, Host = host, Port = port, Path = path };
        }

        if (tcp is not null)
        {
            var (host, port) = HostPort(tcp, tcp, "--health-tcp", "[HOST]:PORT, e.g. :5432");
            return new HealthCheck { Kind = HealthCheckKind.Tcp, Host = host, Port = port };
        }

        return null;
    }

    private static (string? Host, int Port) HostPort(string text, string whole, string flag, string shape)
    {
        var colon = text.LastIndexOf(':');
        if (colon < 0 || text.Any(char.IsWhiteSpace))
        {
            throw new UsageException(flag, $"expected {shape}, got '{whole}'");
        }

        var host = text[..colon];
        return (host.Length == 0 ? null : host, ContainerFlags.ParsePort(text[(colon + 1)..], whole, flag));
    }

    private static double? ParsePositive(string? text, string flag)
    {
        if (text is null)
        {
            return null;
        }

        return Durations.TryParse(text, out var value) && value > TimeSpan.Zero
            ? value.TotalSeconds
            : throw new UsageException(flag, $"expected a duration of more than 0s such as 90s, 10m or 1h, got '{text}'");
    }

    private static bool Names(string name) => ServicePresets.Names.Contains(name);

    private static bool IsPath(string path) => path.Length > 0 && path[0] == '/' && !path.Any(char.IsWhiteSpace);

    private static void NotWith(ParseResult parseResult, Option<string> option, string? preset)
    {
        if (parseResult.GetResult(option) is not null)
        {
            throw new UsageException(option.Name, preset is null ? "is only for a preset: gantry services run vllm|ollama --model MODEL" : $"is not for the {preset} preset");
        }
    }

    /// <summary>Everything after -- is the command (as for <c>jobs submit</c>).</summary>
    private static void CheckDoubleDash(ParseResult parseResult, string[] command) =>
        SubmitOptions.CheckCommandAfterDoubleDash(parseResult, command, "gantry services run web --port 8080 -- python -m http.server 8080", "gantry services run NAME --");

    [GeneratedRegex("^[A-Za-z][A-Za-z0-9._-]{0,62}$")]
    private static partial Regex ServiceNamePattern();

    /// <summary>
    /// <c>jobs submit</c>'s container flags with a service's words: without <c>--image</c>, <c>--port</c> is the
    /// port the process serves on.
    /// </summary>
    private static ContainerFlags ServiceContainerFlags()
    {
        var flags = new ContainerFlags();
        flags.Image.Description = "Run in a container of this image (podman by default), e.g. vllm/vllm-openai:v0.6.3; the command after -- is passed to the image's entrypoint.";
        flags.Port.Description = "With --image: publish a container port on the node, CONTAINER or HOST:CONTAINER (8000, 18000:8000); repeatable, and the first is the service's port. Without --image: the port the service serves on.";
        flags.Port.HelpName = "[HOST:]PORT";
        return flags;
    }

    /// <summary>
    /// The container of a service that is not a preset: <see cref="ContainerFlags.Build"/> with an image; without
    /// one, none (then --runtime and --volume are refused; --port is the process' own port).
    /// </summary>
    private ContainerSpec? BuildContainer(ParseResult parseResult, string? image)
    {
        if (image is not null)
        {
            return Container.Build(parseResult);
        }

        if (parseResult.GetValue(Container.Runtime) is not null)
        {
            throw new UsageException("--runtime", "needs --image (the runtime runs a container image)");
        }

        if (parseResult.GetValue(Container.Volume) is { Length: > 0 })
        {
            throw new UsageException("--volume", "needs --image (only a container mounts volumes)");
        }

        return null;
    }
}

/// <summary>Number formatting for the service views.</summary>
internal static class ServiceNumbers
{
    /// <summary>A figure to one decimal, or <c>-</c> when it was not measured.</summary>
    public static string OrDash(double? value, string format = "0.#") => value is { } v ? v.ToString(format, CultureInfo.InvariantCulture) : "-";
}
