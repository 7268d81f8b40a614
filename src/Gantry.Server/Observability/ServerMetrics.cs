using System.Buffers;
using System.Collections.Concurrent;
using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.Observability;

/// <summary>The server's own figures, rendered for <c>/metrics</c>.</summary>
internal sealed class ServerMetrics
{
    private static readonly double[] WaitBuckets = [0.01, 0.05, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600, 14400];
    private static readonly double[] PassBuckets = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5];
    private readonly ConcurrentDictionary<(string Route, string Method, int Status), Counter> _requests = new();

    public Counter Heartbeats { get; } = new();

    public Counter JobsSubmitted { get; } = new();

    public Counter LogCharacters { get; } = new();

    public Counter Placements { get; } = new();

    public Histogram QueueWait { get; } = new(WaitBuckets);

    public Histogram RunTime { get; } = new(WaitBuckets);

    public Histogram SchedulingPass { get; } = new(PassBuckets);

    public void Request(string route, string method, int status) =>
        _requests.GetOrAdd((route, method, status), static _ => new Counter()).Increment();

    /// <summary>Renders every family in Prometheus text format.</summary>
    /// <param name="output">Where the text goes.</param>
    /// <param name="registry">Nodes and GPUs by state.</param>
    /// <param name="queue">Jobs by state.</param>
    /// <param name="telemetryDropped">Heartbeat summaries the telemetry writer dropped (<c>TelemetryIngest.Dropped</c>).</param>
    /// <param name="startedAt">When the server started.</param>
    /// <param name="more">Families other features add (alerting).</param>
    public void Render(IBufferWriter<byte> output, NodeRegistry registry, JobQueue queue, long telemetryDropped, DateTimeOffset startedAt, Action<PrometheusTextWriter>? more = null)
    {
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(queue);
        var w = new PrometheusTextWriter(output);
        var (nodes, gpus, busyGpus) = registry.Counts();
        var jobs = queue.Counts();
        w.Family("gantry_server_nodes", "gauge", "Nodes by state.");
        foreach (var state in Enum.GetValues<NodeState>())
        {
            w.Begin().Label("state", state.Name()).Value(nodes.GetValueOrDefault(state));
        }

        w.Family("gantry_server_jobs", "gauge", "Jobs by state.");
        foreach (var state in Enum.GetValues<JobState>())
        {
            w.Begin().Label("state", state.Name()).Value(jobs.GetValueOrDefault(state));
        }

        w.Family("gantry_server_gpus", "gauge", "GPUs of all registered nodes.");
        w.Begin().Value(gpus);
        w.Family("gantry_server_gpus_busy", "gauge", "GPUs held by a live attempt.");
        w.Begin().Value(busyGpus);
        w.Family("gantry_server_jobs_submitted_total", "counter", "Jobs submitted (each array task counts).");
        w.Begin().Value(JobsSubmitted.Value);
        w.Family("gantry_server_placements_total", "counter", "Attempts placed by the scheduler.");
        w.Begin().Value(Placements.Value);
        w.Family("gantry_server_heartbeats_total", "counter", "Heartbeats received.");
        w.Begin().Value(Heartbeats.Value);
        w.Family("gantry_server_log_characters_total", "counter", "Characters of job output stored.");
        w.Begin().Value(LogCharacters.Value);
        w.Family("gantry_server_telemetry_summaries_dropped_total", "counter", "Heartbeat telemetry summaries not stored because the history writer fell behind.");
        w.Begin().Value(telemetryDropped);
        QueueWait.Render(w, "gantry_server_queue_wait_seconds", "Time from queued to placed.");
        RunTime.Render(w, "gantry_server_job_run_seconds", "Run time of jobs that ended.");
        SchedulingPass.Render(w, "gantry_server_scheduling_pass_seconds", "Duration of one scheduling pass.");
        w.Family("gantry_server_http_requests_total", "counter", "API requests by route, method and status.");
        foreach (var ((route, method, status), counter) in _requests.OrderBy(r => r.Key.Route, StringComparer.Ordinal).ThenBy(r => r.Key.Method, StringComparer.Ordinal).ThenBy(r => r.Key.Status))
        {
            w.Begin().Label("route", route).Label("method", method).Label("code", status).Value(counter.Value);
        }

        more?.Invoke(w);
        w.Family("gantry_server_start_time_seconds", "gauge", "When the server started, in Unix seconds.");
        w.Begin().Value(startedAt.ToUnixTimeMilliseconds() / 1000.0);
    }
}

/// <summary>A monotonically increasing count, safe from any thread.</summary>
internal sealed class Counter
{
    private long _value;

    public ulong Value => (ulong)Interlocked.Read(ref _value);

    public void Increment() => Interlocked.Increment(ref _value);

    public void Add(long n) => Interlocked.Add(ref _value, n);
}

/// <summary>A Prometheus histogram with fixed buckets.</summary>
internal sealed class Histogram(double[] bounds)
{
    private readonly long[] _counts = new long[bounds.Length + 1];
    private readonly Lock _lock = new();
    private double _sum;

    public void Observe(double value)
    {
        var i = 0;
        while (i < bounds.Length && value > bounds[i])
        {
            i++;
        }

        lock (_lock)
        {
            _counts[i]++;
            _sum += value;
        }
    }

    public void Render(PrometheusTextWriter w, string name, string help)
    {
        long[] counts;
        double sum;
        lock (_lock)
        {
            counts = (long[])_counts.Clone();
            sum = _sum;
        }

        w.Family(name, "histogram", help);
        ulong cumulative = 0;
        for (var i = 0; i < bounds.Length; i++)
        {
            cumulative += (ulong)counts[i];
            w.Begin("_bucket").Label("le", bounds[i].ToString(CultureInfo.InvariantCulture)).Value(cumulative);
        }

        cumulative += (ulong)counts[^1];
        w.Begin("_bucket").Label("le", "+Inf").Value(cumulative);
        w.Begin("_sum").Value(sum);
        w.Begin("_count").Value(cumulative);
    }
}
