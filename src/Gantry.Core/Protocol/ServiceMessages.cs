using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>What kind of job: a batch job runs to its end; a service runs until stopped (docs/services.md).</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<JobKind>))]
public enum JobKind
{
    /// <summary>Runs to its end (the default).</summary>
    Batch,

    /// <summary>Runs until stopped; restarted by its <see cref="RestartPolicy"/>, moved when its node is lost.</summary>
    Service,
}

/// <summary>What makes a job a service: <c>gantry services run NAME …</c>.</summary>
/// <remarks>
/// Properties with defaults have setters, not init: System.Text.Json's source generator sets every
/// init-only property when it builds the object, so one left out of the JSON would read as 0, not as
/// its default (as <see cref="JobSubmission.Priority"/>).
/// </remarks>
public sealed record ServiceSpec
{
    /// <summary>How it is restarted when it exits or turns unhealthy.</summary>
    public RestartPolicy Restart { get; set; } = new();

    /// <summary>Its health check; null for none (it is then healthy while it runs).</summary>
    public HealthCheck? Health { get; init; }

    /// <summary>The port it serves on, on its node: its address. Null: the first published container port, else none.</summary>
    public int? Port { get; init; }

    /// <summary>
    /// The path of its Prometheus text endpoint on <see cref="Port"/> (<c>/metrics</c>), read for tokens
    /// and requests; null when it has none (Ollama: measured by GPU energy alone).
    /// </summary>
    public string? MetricsPath { get; init; }

    /// <summary>The preset it was made from (<c>vllm</c>, <c>ollama</c>); null for none.</summary>
    public string? Preset { get; init; }
}

/// <summary>
/// A service's restart policy, as Nomad's <c>restart</c> block: at most <see cref="Attempts"/> restarts
/// within <see cref="IntervalSeconds"/>, each after <see cref="DelaySeconds"/> plus up to 25 % jitter;
/// one more exit within the interval fails the service.
/// </summary>
public sealed record RestartPolicy
{
    /// <summary>Restarts allowed within the interval (<c>--restart-attempts</c>, default 3).</summary>
    public int Attempts { get; set; } = 3;

    /// <summary>The interval, in seconds (<c>--restart-interval</c>, default 30 minutes).</summary>
    public double IntervalSeconds { get; set; } = 1800;

    /// <summary>The wait before a restart, in seconds (<c>--restart-delay</c>, default 15 s); up to 25 % more is added at random.</summary>
    public double DelaySeconds { get; set; } = 15;
}

/// <summary>How a service's health is checked.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<HealthCheckKind>))]
public enum HealthCheckKind
{
    /// <summary>An HTTP GET that answers 2xx (<c>--health-http [HOST]:PORT/PATH</c>).</summary>
    Http,

    /// <summary>A TCP connection that opens (<c>--health-tcp [HOST]:PORT</c>).</summary>
    Tcp,
}

/// <summary>A service's health check, run by its agent.</summary>
public sealed record HealthCheck
{
    /// <summary>HTTP or TCP.</summary>
    public required HealthCheckKind Kind { get; init; }

    /// <summary>The host to check; null for the node's own address.</summary>
    public string? Host { get; init; }

    /// <summary>The port to check, 1–65535.</summary>
    public required int Port { get; init; }

    /// <summary>For HTTP, the path (<c>/health</c>); null for <c>/</c>.</summary>
    public string? Path { get; init; }

    /// <summary>How long after a start failures do not count (<c>--health-grace</c>, default 90 s).</summary>
    public double GraceSeconds { get; set; } = 90;

    /// <summary>Seconds between checks (default 10).</summary>
    public double IntervalSeconds { get; set; } = 10;

    /// <summary>Seconds a check may take (default 5).</summary>
    public double TimeoutSeconds { get; set; } = 5;

    /// <summary>Failed checks in a row, after the grace, that make it unhealthy and restart it (default 3).</summary>
    public int FailuresBeforeUnhealthy { get; set; } = 3;
}

/// <summary>A service's state as people see it.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<ServiceHealth>))]
public enum ServiceHealth
{
    /// <summary>Placed or running, not yet passed its health check (or within its grace).</summary>
    Starting,

    /// <summary>Running and passing its health check (or running, when it has none).</summary>
    Healthy,

    /// <summary>Running and failing its health check; it is restarted.</summary>
    Unhealthy,

    /// <summary>Its attempt ended; waiting out the restart delay (or for a node) before the next.</summary>
    Restarting,
}

/// <summary>A service's live state, on its job's JSON (<see cref="JobInfo.ServiceStatus"/>).</summary>
public sealed record ServiceStatus
{
    /// <summary>starting, healthy, unhealthy or restarting; null once the service has ended.</summary>
    public ServiceHealth? Health { get; init; }

    /// <summary>Why (the last check's failure, the restart's cause).</summary>
    public string? Message { get; init; }

    /// <summary>Where it serves: its node and port; null while it has no running attempt or no port.</summary>
    public ServiceAddress? Address { get; init; }

    /// <summary>Restarts so far (all time).</summary>
    public int Restarts { get; init; }

    /// <summary>While restarting: when the next attempt may start.</summary>
    public DateTimeOffset? NextStartAt { get; init; }

    /// <summary>From its metrics endpoint and its GPUs' energy; null before anything was measured.</summary>
    public ServiceMetricsInfo? Metrics { get; init; }
}

/// <summary>Where a service can be reached.</summary>
public sealed record ServiceAddress
{
    /// <summary>The node's id.</summary>
    public required string NodeId { get; init; }

    /// <summary>The node's address (host name or IP) as its agent advertises it.</summary>
    public required string Host { get; init; }

    /// <summary>The port.</summary>
    public required int Port { get; init; }

    /// <summary>The metrics endpoint's URL, when it has one.</summary>
    public string? MetricsUrl { get; init; }
}

/// <summary>A service's throughput and efficiency.</summary>
public sealed record ServiceMetricsInfo
{
    /// <summary>When these figures were measured.</summary>
    public required DateTimeOffset At { get; init; }

    /// <summary>Generated tokens per second (vLLM's <c>vllm:generation_tokens_total</c> rate).</summary>
    public double? GeneratedTokensPerSecond { get; init; }

    /// <summary>Prompt tokens per second (<c>vllm:prompt_tokens_total</c> rate).</summary>
    public double? PromptTokensPerSecond { get; init; }

    /// <summary>Requests running (<c>vllm:num_requests_running</c>).</summary>
    public double? RequestsRunning { get; init; }

    /// <summary>Requests waiting (<c>vllm:num_requests_waiting</c>).</summary>
    public double? RequestsWaiting { get; init; }

    /// <summary>Power of its GPUs together, in watts.</summary>
    public double? GpuPowerWatts { get; init; }

    /// <summary>Generated tokens per joule of its GPUs' energy; null without token counters.</summary>
    public double? TokensPerJoule { get; init; }

    /// <summary>Why a figure is missing (<c>no metrics endpoint: measured by GPU energy alone</c>, a scrape error).</summary>
    public string? Note { get; init; }

    /// <summary>True when its GPUs are simulated (the agent's <c>--simulate-gpus</c>): its power and tokens per joule are made up.</summary>
    public bool? Simulated { get; init; }
}

/// <summary>A service attempt's health and counters, sent by its agent with each heartbeat.</summary>
public sealed record ServiceReport
{
    /// <summary>The job.</summary>
    public required long JobId { get; init; }

    /// <summary>The attempt.</summary>
    public required int Attempt { get; init; }

    /// <summary>starting, healthy or unhealthy.</summary>
    public required ServiceHealth Health { get; init; }

    /// <summary>The last check's failure, when it failed.</summary>
    public string? Message { get; init; }

    /// <summary>When the counters were read; null when there is no metrics endpoint or the read failed.</summary>
    public DateTimeOffset? ScrapedAt { get; init; }

    /// <summary><c>vllm:generation_tokens_total</c> (summed over its series).</summary>
    public double? GeneratedTokensTotal { get; init; }

    /// <summary><c>vllm:prompt_tokens_total</c>.</summary>
    public double? PromptTokensTotal { get; init; }

    /// <summary><c>vllm:num_requests_running</c>.</summary>
    public double? RequestsRunning { get; init; }

    /// <summary><c>vllm:num_requests_waiting</c>.</summary>
    public double? RequestsWaiting { get; init; }

    /// <summary>Why the metrics read failed, when it did.</summary>
    public string? MetricsError { get; init; }
}
