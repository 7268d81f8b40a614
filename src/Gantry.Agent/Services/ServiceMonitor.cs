using System.Globalization;
using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Services;

/// <summary>
/// Watches the node's running service attempts (docs/service-health.md): for each attempt whose
/// assignment is a <see cref="JobKind.Service"/>, its health check runs every
/// <see cref="HealthCheck.IntervalSeconds"/> (bounded by <see cref="HealthCheck.TimeoutSeconds"/>)
/// and its metrics endpoint is read every sample interval. Failures within
/// <see cref="HealthCheck.GraceSeconds"/> of the start do not count (it stays <c>starting</c> until
/// its first pass); after <see cref="HealthCheck.FailuresBeforeUnhealthy"/> failures in a row past
/// the grace it is <c>unhealthy</c> and <see cref="StopUnhealthy"/> stops it (ending with
/// <see cref="AttemptEndCause.Unhealthy"/>; the server's restart policy starts it again).
/// <para>
/// Threading: <see cref="Started"/> and <see cref="Ended"/> come from the job runner, <see cref="Reports"/>
/// from the heartbeat loop; each attempt's loop runs on its own task. Every attempt's state is guarded by
/// <c>_gate</c>, held only to copy or set a few fields, never across I/O. Work per heartbeat is one
/// report per service attempt of this node.
/// </para>
/// </summary>
internal sealed class ServiceMonitor : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<AttemptKey, Watched> _watched = [];
    private readonly HttpClient _http;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly TimeSpan _metricsInterval;

    /// <param name="http">The client for HTTP checks and metrics reads (owned: disposed with the monitor).</param>
    /// <param name="time">The clock.</param>
    /// <param name="logger">The log.</param>
    /// <param name="metricsInterval">How often a service's metrics endpoint is read (the agent's sample interval).</param>
    public ServiceMonitor(HttpClient http, TimeProvider time, ILogger<ServiceMonitor> logger, TimeSpan metricsInterval)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(metricsInterval, TimeSpan.Zero);
        _http = http;
        _time = time;
        _logger = logger;
        _metricsInterval = metricsInterval;
    }

    /// <summary>
    /// The host a check or a metrics read goes to when the service names none: the host of the URL the
    /// agent advertises to the server (its <c>--advertise-url</c>, else the address it listens on, else
    /// the node's name for a wildcard address), so the check reaches the service where its clients do.
    /// An agent listening on loopback (<c>gantry dev</c>) checks on loopback.
    /// </summary>
    public string NodeHost { get; set; } = "127.0.0.1";

    /// <summary>Stops an attempt found unhealthy, with the reason; set once at wiring (the job runner's <see cref="JobRunner.StopUnhealthy"/>).</summary>
    public Func<AttemptKey, string, bool>? StopUnhealthy { get; set; }

    /// <summary>Service attempts watched now.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _watched.Count;
            }
        }
    }

    /// <summary>The job runner started an attempt: a service one is watched from now on; anything else is ignored.</summary>
    public void Started(AttemptKey key, Assignment assignment, DateTimeOffset startedAt)
    {
        ArgumentNullException.ThrowIfNull(assignment);
        if (assignment.Kind != JobKind.Service || assignment.Service is not { } spec)
        {
            return;
        }

        var watched = new Watched(key, spec, PortOf(assignment), startedAt)
        {
            // A service without a check is healthy while it runs.
            Health = spec.Health is null ? ServiceHealth.Healthy : ServiceHealth.Starting,
        };
        lock (_gate)
        {
            if (!_watched.TryAdd(key, watched))
            {
                return;
            }
        }

        var metricsUrl = watched.MetricsPort is { } port && spec.MetricsPath is { } path ? ServiceProbe.Url(Host(spec), port, path) : null;
        var described = Describe(spec.Health);
        var metricsNote = metricsUrl is null ? "" : $"; metrics at {metricsUrl}";
        ServiceLog.Watching(_logger, key.JobId, key.Attempt, described, spec.Health?.GraceSeconds ?? 0, spec.Health?.IntervalSeconds ?? 0, metricsNote);
        if (spec.Health is not null || metricsUrl is not null)
        {
            watched.Loop = Task.Run(() => WatchAsync(watched, metricsUrl, watched.Stopping.Token));
        }
    }

    /// <summary>The attempt ended: it is no longer watched nor reported.</summary>
    public void Ended(AttemptKey key)
    {
        Watched? watched;
        lock (_gate)
        {
            if (!_watched.Remove(key, out watched))
            {
                return;
            }
        }

        watched.Stopping.Cancel();
    }

    /// <summary>One report per watched attempt, for the next heartbeat; null when the node runs no service.</summary>
    public List<ServiceReport>? Reports()
    {
        lock (_gate)
        {
            if (_watched.Count == 0)
            {
                return null;
            }

            var reports = new List<ServiceReport>(_watched.Count);
            foreach (var w in _watched.Values)
            {
                var c = w.Counters;
                reports.Add(new ServiceReport
                {
                    JobId = w.Key.JobId,
                    Attempt = w.Key.Attempt,
                    Health = w.Health,
                    Message = w.Message,
                    ScrapedAt = c is { Error: null } ? w.ScrapedAt : null,
                    GeneratedTokensTotal = c?.GeneratedTokensTotal,
                    PromptTokensTotal = c?.PromptTokensTotal,
                    RequestsRunning = c?.RequestsRunning,
                    RequestsWaiting = c?.RequestsWaiting,
                    MetricsError = c?.Error,
                });
            }

            return reports;
        }
    }

    public async ValueTask DisposeAsync()
    {
        List<Watched> all;
        lock (_gate)
        {
            all = [.. _watched.Values];
            _watched.Clear();
        }

        foreach (var w in all)
        {
            await w.Stopping.CancelAsync().ConfigureAwait(false);
        }

        foreach (var w in all)
        {
            try
            {
                await w.Loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped.
            }

            w.Stopping.Dispose();
        }

        _http.Dispose();
    }

    /// <summary>
    /// The port its metrics are read on: the service's port, else the first published container port
    /// (as <see cref="ServiceSpec.Port"/> says), else its health check's port.
    /// </summary>
    private static int? PortOf(Assignment assignment)
    {
        if (assignment.Service?.Port is { } port)
        {
            return port;
        }

        if (assignment.Container?.Ports is { Count: > 0 } ports)
        {
            return ports[0].HostPort ?? ports[0].ContainerPort;
        }

        return assignment.Service?.Health?.Port;
    }

    private static string Describe(HealthCheck? check) => check switch
    {
        null => "no health check",
        { Kind: HealthCheckKind.Tcp } => string.Create(CultureInfo.InvariantCulture, $"TCP {check.Host ?? "(node)"}:{check.Port}"),
        _ => string.Create(CultureInfo.InvariantCulture, $"HTTP {check.Host ?? "(node)"}:{check.Port}{check.Path ?? "/"}"),
    };

    private string Host(ServiceSpec spec) => spec.Health?.Host is { Length: > 0 } host ? host : NodeHost;

    private async Task WatchAsync(Watched w, Uri? metricsUrl, CancellationToken cancellationToken)
    {
        var check = w.Spec.Health;
        var checkEvery = check is null ? TimeSpan.MaxValue : TimeSpan.FromSeconds(Math.Max(0.1, check.IntervalSeconds));
        var grace = check is null ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Max(0, check.GraceSeconds));
        var metricsTimeout = _metricsInterval < TimeSpan.FromSeconds(5) ? _metricsInterval : TimeSpan.FromSeconds(5);
        var nextCheck = _time.GetUtcNow();
        var nextRead = nextCheck;
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                var now = _time.GetUtcNow();
                if (check is not null && now >= nextCheck)
                {
                    var failure = await ServiceProbe.CheckAsync(_http, check, Host(w.Spec), _time, cancellationToken).ConfigureAwait(false);
                    nextCheck = _time.GetUtcNow() + checkEvery;
                    if (Judge(w, check, failure, _time.GetUtcNow() - w.StartedAt < grace) is { } unhealthy)
                    {
                        // Stopped once; the report says unhealthy until the attempt's end removes it.
                        ServiceLog.StoppingUnhealthy(_logger, w.Key.JobId, w.Key.Attempt, unhealthy);
                        StopUnhealthy?.Invoke(w.Key, unhealthy);
                        check = null;
                        checkEvery = TimeSpan.MaxValue;
                    }
                }

                if (metricsUrl is not null && now >= nextRead)
                {
                    var counters = await ServiceProbe.ReadMetricsAsync(_http, metricsUrl, metricsTimeout, _time, cancellationToken).ConfigureAwait(false);
                    nextRead = _time.GetUtcNow() + _metricsInterval;
                    string? newError;
                    lock (_gate)
                    {
                        newError = counters.Error is { } e && w.Counters?.Error is null ? e : null;
                        w.Counters = counters;
                        w.ScrapedAt = _time.GetUtcNow();
                    }

                    if (newError is not null)
                    {
                        ServiceLog.MetricsFailed(_logger, w.Key.JobId, w.Key.Attempt, metricsUrl.ToString(), newError);
                    }
                }

                var next = metricsUrl is null ? nextCheck : check is null ? nextRead : (nextCheck < nextRead ? nextCheck : nextRead);
                if (metricsUrl is null && check is null)
                {
                    return;
                }

                var wait = next - _time.GetUtcNow();
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The attempt ended.
        }
        catch (Exception ex)
        {
            ServiceLog.MonitorFailed(_logger, w.Key.JobId, w.Key.Attempt, ex);
        }
    }

    /// <summary>
    /// Applies one check's result to the attempt's state; returns the reason when it has just turned
    /// unhealthy (the caller stops it), else null.
    /// </summary>
    private string? Judge(Watched w, HealthCheck check, string? failure, bool inGrace)
    {
        ServiceHealth before, after;
        string? unhealthy = null;
        lock (_gate)
        {
            before = w.Health;
            if (failure is null)
            {
                w.Health = ServiceHealth.Healthy;
                w.Failures = 0;
                w.Message = null;
            }
            else if (inGrace)
            {
                // Within the grace a failure is expected (the server loads its model): said, not counted.
                w.Message = failure;
            }
            else
            {
                w.Failures++;
                var limit = Math.Max(1, check.FailuresBeforeUnhealthy);
                w.Message = w.Failures >= limit
                    ? string.Create(CultureInfo.InvariantCulture, $"health check failed {w.Failures} times in a row: {failure}")
                    : failure;
                if (w.Failures >= limit)
                {
                    w.Health = ServiceHealth.Unhealthy;
                    unhealthy = w.Message;
                }
            }

            after = w.Health;
        }

        if (before != after)
        {
            ServiceLog.HealthChanged(_logger, w.Key.JobId, w.Key.Attempt, after, failure is null ? "" : ": " + failure);
        }

        return unhealthy;
    }

    /// <summary>One watched attempt; mutable fields guarded by the monitor's <c>_gate</c>.</summary>
    private sealed class Watched(AttemptKey key, ServiceSpec spec, int? metricsPort, DateTimeOffset startedAt)
    {
        public AttemptKey Key { get; } = key;
        public ServiceSpec Spec { get; } = spec;
        public int? MetricsPort { get; } = metricsPort;
        public DateTimeOffset StartedAt { get; } = startedAt;
        public CancellationTokenSource Stopping { get; } = new();
        public Task Loop { get; set; } = Task.CompletedTask;
        public ServiceHealth Health { get; set; }
        public string? Message { get; set; }
        public int Failures { get; set; }
        public ServiceCounters? Counters { get; set; }
        public DateTimeOffset ScrapedAt { get; set; }
    }
}
