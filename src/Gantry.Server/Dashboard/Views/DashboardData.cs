using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Anomalies;
using Gantry.Server.Health;
using Gantry.Server.Jobs;
using Gantry.Server.Logs;
using Gantry.Server.Nodes;
using Gantry.Server.Dashboard.Charts;
using Gantry.Server.Telemetry;

namespace Gantry.Server.Dashboard.Views;

/// <summary>Reads what the dashboard's pages and live updates show from the control plane and the telemetry store.</summary>
internal sealed class DashboardData
{
    /// <summary>Jobs one table shows at most; older ones are a link away.</summary>
    public const int JobPageSize = 100;

    private readonly NodeRegistry _nodes;
    private readonly JobQueue _jobs;
    private readonly JobLogs _logs;
    private readonly TelemetryStore _telemetry;
    private readonly TelemetryIngest _ingest;
    private readonly TimeProvider _time;
    private readonly GpuHealthRegistry _health;
    private readonly AnomalyRegistry _anomalies;

    public DashboardData(NodeRegistry nodes, JobQueue jobs, JobLogs logs, TelemetryStore telemetry, TelemetryIngest ingest, GpuHealthRegistry health, AnomalyRegistry anomalies, TimeProvider time)
    {
        _nodes = nodes;
        _health = health;
        _anomalies = anomalies;
        _jobs = jobs;
        _logs = logs;
        _telemetry = telemetry;
        _ingest = ingest;
        _time = time;
    }

    /// <summary>The server's clock.</summary>
    public DateTimeOffset Now => _time.GetUtcNow();

    /// <summary>The overview's figures: counts from the control plane, power and tokens from the nodes' latest summaries.</summary>
    public OverviewStats Overview()
    {
        var (nodes, gpus, busy) = _nodes.Counts();
        var jobs = _jobs.Counts();
        double? power = null;
        double? tokens = null;
        double tokenWatts = 0;
        var simulated = false;
        foreach (var node in _nodes.ListNodes(state: null, cursor: null, limit: int.MaxValue).Items)
        {
            simulated |= Show.IsSimulated(node);
            // A suspended node's last summary is from before it slept (power saving): not its power now.
            if (node.State is NodeState.Down or NodeState.Suspended || node.Summary is not { } summary)
            {
                continue;
            }

            if (EnergyToday.PowerOf(summary) is { } watts)
            {
                power = (power ?? 0) + watts;
            }

            if (summary.GeneratedTokensPerSecond is { } rate)
            {
                tokens = (tokens ?? 0) + rate;
                foreach (var gpu in summary.Gpus)
                {
                    tokenWatts += gpu.PowerWatts ?? 0;
                }
            }
        }

        var energy = _ingest.Energy.Joules(Now);
        return new OverviewStats
        {
            NodesTotal = nodes.Values.Sum(),
            NodesReady = nodes.GetValueOrDefault(NodeState.Ready),
            NodesSuspect = nodes.GetValueOrDefault(NodeState.Suspect),
            NodesDown = nodes.GetValueOrDefault(NodeState.Down),
            NodesDraining = nodes.GetValueOrDefault(NodeState.Draining) + nodes.GetValueOrDefault(NodeState.Drained),
            NodesSuspended = nodes.GetValueOrDefault(NodeState.Suspended) + nodes.GetValueOrDefault(NodeState.Resuming),
            GpusTotal = gpus,
            GpusBusy = busy,
            JobsRunning = Clamp(jobs.GetValueOrDefault(JobState.Running) + jobs.GetValueOrDefault(JobState.Assigned)),
            JobsPending = Clamp(jobs.GetValueOrDefault(JobState.Pending)),
            JobsSucceeded = Clamp(jobs.GetValueOrDefault(JobState.Succeeded)),
            JobsFailed = Clamp(jobs.GetValueOrDefault(JobState.Failed) + jobs.GetValueOrDefault(JobState.Lost)),
            PowerWatts = power,
            // Nothing to show until some node reports power; a fleet that idles at 0 W shows 0.
            EnergyTodayJoules = power is null && energy == 0 ? null : energy,
            TokensPerSecond = tokens,
            TokensPerJoule = tokens is { } t && tokenWatts > 0 ? t / tokenWatts : null,
            AnySimulated = simulated,
        };
    }

    private static int Clamp(long count) => (int)Math.Min(count, int.MaxValue);

    /// <summary>Every node, by name.</summary>
    public List<NodeInfo> Nodes()
    {
        var nodes = new List<NodeInfo>(_nodes.ListNodes(state: null, cursor: null, limit: int.MaxValue).Items);
        nodes.Sort(static (a, b) => string.CompareOrdinal(a.Name, b.Name) is var byName and not 0 ? byName : string.CompareOrdinal(a.Id, b.Id));
        return nodes;
    }

    /// <summary>One node, with its power caps (docs/power.md); null when unknown.</summary>
    public NodeInfo? Node(string id) => _nodes.GetNode(id) is { } node ? node with { Power = _nodes.Power?.Info(id) } : null;

    /// <summary>A node's latest health changes, newest first (from the store: read when the page loads).</summary>
    public IReadOnlyList<HealthEvent> HealthHistory(string id) => _health.History(id);

    /// <summary>
    /// The highest current anomaly alarm (a score of at least 0.5) of the node's own series and of each GPU's,
    /// the node's first, then by GPU: "anomaly 0.83 (temperature vs peers)". Read when the page loads.
    /// </summary>
    public List<AnomalyNote> Anomalies(string id)
    {
        // Highest first: the first score of each GPU (or of the node) is its highest.
        var highest = new List<AnomalyScore>();
        foreach (var score in _anomalies.Scores(id, Gantry.Core.Anomalies.AnomalyDetector.AlarmScore))
        {
            if (!highest.Exists(h => h.Gpu == score.Gpu))
            {
                highest.Add(score);
            }
        }

        highest.Sort(static (a, b) => (a.Gpu ?? -1).CompareTo(b.Gpu ?? -1));
        return highest.ConvertAll(static s => new AnomalyNote(
            s.Gpu,
            $"anomaly {s.Score.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)} ({ScoredSeries.Label(s.Metric, s.Gpu is not null)})",
            s.Minute,
            s.Term));
    }

    /// <summary>One job with its attempts and transitions; null when unknown.</summary>
    public JobInfo? Job(long id) => _jobs.GetJob(id);

    /// <summary>Newest jobs first, optionally of one state, older than <paramref name="before"/>.</summary>
    public (List<JobRowModel> Rows, long? Next) Jobs(JobState? state, long? before)
    {
        var page = _jobs.ListJobs(state, before, JobPageSize);
        var now = Now;
        var rows = new List<JobRowModel>(page.Items.Count);
        foreach (var job in page.Items)
        {
            rows.Add(new JobRowModel(job, NodeName(job.NodeId), now));
        }

        return (rows, page.NextCursor is { } next && long.TryParse(next, System.Globalization.CultureInfo.InvariantCulture, out var cursor) ? cursor : null);
    }

    /// <summary>The live jobs (running and assigned, then pending), newest first, at most <paramref name="limit"/>.</summary>
    public List<JobRowModel> ActiveJobs(int limit)
    {
        var now = Now;
        var rows = new List<JobRowModel>();
        foreach (var state in (ReadOnlySpan<JobState>)[JobState.Running, JobState.Assigned, JobState.Pending])
        {
            foreach (var job in _jobs.ListJobs(state, before: null, limit).Items)
            {
                rows.Add(new JobRowModel(job, NodeName(job.NodeId), now));
            }
        }

        rows.Sort(static (a, b) => b.Job.Id.CompareTo(a.Job.Id));
        if (rows.Count > limit)
        {
            rows.RemoveRange(limit, rows.Count - limit);
        }

        return rows;
    }

    /// <summary>
    /// A job's output so far, up to <paramref name="maxChars"/> characters: the text, the sequence
    /// number of its last chunk (where the live stream goes on), and whether it was cut short.
    /// </summary>
    public (string Text, long After, bool Truncated) InitialLogs(long jobId, int maxChars)
    {
        var text = new System.Text.StringBuilder();
        long after = 0;
        while (true)
        {
            var chunks = _logs.Read(jobId, after, LogReadPage);
            foreach (var chunk in chunks)
            {
                if (text.Length + (chunk.Data?.Length ?? 0) > maxChars)
                {
                    // The page shows the beginning; live updates go on from the newest chunk.
                    return (text.ToString(), LastSeq(jobId, after), true);
                }

                text.Append(chunk.Data);
                after = chunk.Seq ?? after;
            }

            if (chunks.Count < LogReadPage)
            {
                return (text.ToString(), after, false);
            }
        }
    }

    private long LastSeq(long jobId, long after)
    {
        while (_logs.Read(jobId, after, LogReadPage) is { Count: > 0 } chunks)
        {
            after = chunks[^1].Seq ?? after;
            if (chunks.Count < LogReadPage)
            {
                break;
            }
        }

        return after;
    }

    /// <summary>Log chunks read from the store at a time.</summary>
    public const int LogReadPage = 500;

    /// <summary>The name of the node with id <paramref name="nodeId"/>; null when there is none or it is unknown.</summary>
    public string? NodeName(string? nodeId) => nodeId is null ? null : _nodes.NodeName(nodeId);

    /// <summary>The node page's four history charts over <paramref name="range"/>, one line per GPU.</summary>
    public NodeCharts Charts(NodeInfo node, ChartRange range)
    {
        ArgumentNullException.ThrowIfNull(node);
        ArgumentNullException.ThrowIfNull(range);
        var end = Now;
        var start = end - range.Span;
        // About 240 points across; rollups (one per minute) once the step reaches a minute.
        var step = TimeSpan.FromSeconds(Math.Max(5, Math.Ceiling(range.Span.TotalSeconds / 240 / 5) * 5));
        var source = step >= TimeSpan.FromMinutes(1) ? TelemetrySource.Rollup : TelemetrySource.Raw;
        if (source == TelemetrySource.Rollup)
        {
            step = TimeSpan.FromMinutes(Math.Ceiling(step.TotalMinutes));
        }

        var charts = new List<DrawnChart>(ChartKinds.Length);
        foreach (var (id, title, metric, unit, scale) in ChartKinds)
        {
            var series = new List<ChartSeries>(node.Gpus.Count);
            foreach (var gpu in node.Gpus)
            {
                var points = _telemetry.FindSeries(node.Id, gpu.Index, metric) is { } seriesId
                    ? _telemetry.Query(seriesId, source, start, end, step)
                    : [];
                series.Add(ChartSeries.FromTelemetry($"GPU {gpu.Index}", points, scale));
            }

            charts.Add(new DrawnChart(title, SvgChart.Render(new ChartSpec
            {
                Id = id,
                Title = title,
                Unit = unit,
                Start = start,
                End = end,
                Step = step,
                Series = series,
            })));
        }

        return new NodeCharts(range.Name, charts);
    }

    // The chart kinds of the node page: data-chart id, title, stored metric, unit, scale to the unit.
    private static readonly (string Id, string Title, string Metric, ChartUnit Unit, double Scale)[] ChartKinds =
    [
        ("utilization", "GPU utilization", "utilization", ChartUnit.Percent, 100),
        ("temperature", "GPU temperature", "temperature_celsius", ChartUnit.Celsius, 1),
        ("power", "GPU power", "power_watts", ChartUnit.Watts, 1),
        ("memory", "GPU memory used", "memory_used_bytes", ChartUnit.Bytes, 1),
    ];
}
