using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Anomalies;
using Gantry.Server.Health;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;

namespace Gantry.Server.Alerts.Evaluation;

/// <summary>
/// The series alert rules read, built from what the server holds: each node's latest heartbeat summary
/// (named as the agent exposes them), node states, GPU health, job outcomes. <see cref="Refresh"/> takes one
/// view of the fleet per evaluation; a metric's series are built the first time a rule asks for it, then
/// reused by the evaluation's other rules. Every series has <c>node</c> (name) and <c>node_id</c>; GPU series
/// also <c>gpu</c> (index), <c>uuid</c> and <c>model</c>; series of simulated GPUs carry <c>simulated="true"</c>.
/// </summary>
internal sealed class FleetSeries : IAlertSeriesSource
{
    /// <summary>The metric names this source has, with their help (listed in docs/alerts.md and <c>gantry alerts rules ls</c>).</summary>
    public static IReadOnlyDictionary<string, string> Metrics { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["gantry_gpu_utilization_ratio"] = "GPU utilization, 0 to 1.",
        ["gantry_gpu_memory_used_bytes"] = "GPU memory in use.",
        ["gantry_gpu_memory_total_bytes"] = "GPU memory in all.",
        ["gantry_gpu_temperature_celsius"] = "GPU core temperature.",
        ["gantry_gpu_power_watts"] = "GPU power draw.",
        ["gantry_gpu_energy_joules_total"] = "GPU energy counter since driver load.",
        ["gantry_gpu_clock_hertz"] = "GPU clocks, label clock=\"sm\" or \"memory\".",
        ["gantry_gpu_lost"] = "1 when the GPU fell off the bus (NVML lost it).",
        ["gantry_gpu_health"] = "1 per GPU that is not plain healthy, labels state (degraded, cordoned), cause, until (reset, reboot, person), manual.",
        ["gantry_gpu_health_held"] = "1 per GPU whose cordon or drain the fleet breaker (--max-auto-cordon) holds back, label action.",
        ["gantry_gpu_ecc_errors_uncorrected_volatile"] = "Uncorrectable ECC errors since driver load (or the last reset), from GPU health reports.",
        ["gantry_gpu_remapped_rows_pending"] = "1 when a row remap waits for a GPU reset.",
        ["gantry_gpu_remapped_rows_failure"] = "1 when a row remap failed.",
        ["gantry_gpu_thermal_slowdown"] = "1 while clocks are slowed for temperature.",
        ["gantry_node_up"] = "1 while the node heartbeats within its lease (ready, draining, drained), 0 when suspect, down, suspended or resuming.",
        ["gantry_node_state"] = "1 per node, label state (ready, suspect, down) and drain (true, false).",
        ["gantry_node_drained_for_fault"] = "1 while the node is drained for a fault that needs a reboot, label cause.",
        ["gantry_node_cpu_utilization_ratio"] = "Node CPU busy share, 0 to 1.",
        ["gantry_node_memory_used_bytes"] = "Node memory in use (MemTotal - MemAvailable).",
        ["gantry_node_memory_total_bytes"] = "Node memory in all.",
        ["gantry_node_power_watts"] = "Node power (meter, or RAPL + GPUs).",
        ["gantry_node_power_envelope_watts"] = "The node's power envelope (the agent's --node-power-envelope-watts).",
        ["gantry_node_power_above_envelope"] = "1 while the node draws more than its envelope (only nodes with one).",
        ["gantry_anomaly_score"] = "The server's anomaly score, 0 to 1, of a node's or GPU's series (docs/anomalies.md), label metric: temperature_celsius, power_watts, cpu_utilization (against the series' own history) or peer_temperature_celsius, peer_power_watts (a GPU against its siblings at similar load); only scores above 0.",
        ["gantry_job_failure_ratio"] = "Fleet-wide share of jobs that failed or were lost among those that ended (cancelled ones left out), label window=\"15m\"; only when at least 5 ended.",
        ["gantry_jobs_ended"] = "Jobs that ended in the window (cancelled ones left out), labels window=\"15m\" and outcome (failed, succeeded).",
    };

    /// <summary>The least jobs that must have ended in the window for <c>gantry_job_failure_ratio</c> to exist.</summary>
    public const int FailureRatioMinimum = 5;

    private readonly NodeRegistry _nodes;
    private readonly GpuHealthRegistry? _health;
    private readonly JobOutcomes? _outcomes;
    private readonly AnomalyRegistry? _anomalies;
    private readonly TimeProvider _time;
    private readonly Dictionary<string, List<AlertSample>> _built = new(StringComparer.Ordinal);

    // Each node's label sets, kept across evaluations while its name and inventory stay: building them
    // is most of what a series costs (at 10,000 nodes, 187 MB and 250 ms per evaluation without it).
    private readonly Dictionary<string, NodeLabelCache> _labels = new(StringComparer.Ordinal);
    private readonly List<NodeAlertView> _view = [];
    private DateTimeOffset _now;

    public FleetSeries(NodeRegistry nodes, GpuHealthRegistry? health, JobOutcomes? outcomes, TimeProvider time, AnomalyRegistry? anomalies = null)
    {
        _nodes = nodes;
        _health = health;
        _outcomes = outcomes;
        _time = time;
        _anomalies = anomalies;
    }

    /// <summary>Takes the fleet as it stands now; series are built afresh as rules ask for them.</summary>
    public void Refresh()
    {
        _nodes.AlertViews(_view);
        _now = _time.GetUtcNow();
        _built.Clear();
        if (_labels.Count > _view.Count + (_view.Count / 8) + 16)
        {
            var present = new HashSet<string>(_view.Select(v => v.Id), StringComparer.Ordinal);
            foreach (var id in _labels.Keys.Where(id => !present.Contains(id)).ToList())
            {
                _labels.Remove(id);
            }
        }
    }

    public IReadOnlyList<AlertSample> Series(string metric)
    {
        if (!_built.TryGetValue(metric, out var series))
        {
            series = [];
            _built[metric] = series;
            Build(metric, new SampleSink(series));

            // Some metrics are built together (GPU conditions): the build may have put another list in place.
            series = _built[metric];
        }

        return series;
    }

    /// <summary>
    /// The series of <paramref name="metric"/> whose value <paramref name="value"/> keeps and whose labels
    /// <paramref name="labels"/> keeps, built as the fleet is walked, the value tested first: a selector
    /// compared with a number (most rules) looks up the labels of the few samples that pass only, and never
    /// holds the whole fleet's samples in a list (at 25,000 nodes, 200,000 samples a metric).
    /// </summary>
    public IReadOnlyList<AlertSample> Series(string metric, Func<double, bool>? value, Func<LabelSet, bool>? labels)
    {
        var sink = new SampleSink([], value, labels);
        if (_built.TryGetValue(metric, out var built))
        {
            return [.. built.Where(sink.Keeps)];
        }

        Build(metric, sink);

        // Some metrics are built together, whole (GPU conditions): then the build left them in the cache.
        return _built.TryGetValue(metric, out built) ? [.. built.Where(sink.Keeps)] : sink.Items;
    }

    /// <summary>Where a build puts the samples it makes: into the list, when the filters (if any) keep them.</summary>
    private readonly record struct SampleSink(List<AlertSample> Items, Func<double, bool>? Value, Func<LabelSet, bool>? Labels)
    {
        public SampleSink(List<AlertSample> items)
            : this(items, null, null)
        {
        }

        /// <summary>False when the value alone rules the sample out (tested before its labels are looked up).</summary>
        public bool Wants(double value) => Value is null || Value(value);

        public bool Keeps(AlertSample sample) => Wants(sample.Value) && (Labels is null || Labels(sample.Labels));

        public void Add(AlertSample sample)
        {
            if (Keeps(sample))
            {
                Items.Add(sample);
            }
        }
    }

    private void Build(string metric, SampleSink into)
    {
        switch (metric)
        {
            case "gantry_gpu_utilization_ratio": Gpu(metric, into, static g => g.Utilization); break;
            case "gantry_gpu_memory_used_bytes": Gpu(metric, into, static g => g.MemoryUsedBytes); break;
            case "gantry_gpu_memory_total_bytes": Gpu(metric, into, static g => g.MemoryTotalBytes); break;
            case "gantry_gpu_temperature_celsius": Gpu(metric, into, static g => g.TemperatureCelsius); break;
            case "gantry_gpu_power_watts": Gpu(metric, into, static g => g.PowerWatts); break;
            case "gantry_gpu_energy_joules_total": Gpu(metric, into, static g => g.EnergyJoules); break;
            case "gantry_gpu_lost": Gpu(metric, into, static g => g.Lost ? 1 : 0, includeLost: true); break;
            case "gantry_gpu_clock_hertz":
                Gpu(metric, into, static g => g.SmClockHertz, "clock", "sm");
                Gpu(metric, into, static g => g.MemoryClockHertz, "clock", "memory");
                break;
            case "gantry_gpu_health": GpuHealth(metric, into); break;
            case "gantry_gpu_health_held":
            case "gantry_gpu_ecc_errors_uncorrected_volatile":
            case "gantry_gpu_remapped_rows_pending":
            case "gantry_gpu_remapped_rows_failure":
            case "gantry_gpu_thermal_slowdown":
                GpuConditions();
                break;
            case "gantry_node_up":
                foreach (var node in _view)
                {
                    var up = Up(node.State) ? 1 : 0;
                    if (!into.Wants(up))
                    {
                        continue;
                    }

                    var cache = CacheOf(node);
                    var key = (metric, -1, false, (string?)null);
                    if (!cache.Gpu.TryGetValue(key, out var labels))
                    {
                        cache.Gpu[key] = labels = NodeLabels(metric, node);
                    }

                    into.Add(new(labels, up));
                }

                break;
            case "gantry_node_state":
                foreach (var node in _view)
                {
                    if (!into.Wants(1))
                    {
                        break;
                    }

                    // Cached under a code of state and drain in place of a GPU index.
                    var cache = CacheOf(node);
                    var key = (metric, ((int)node.State * 2) + (node.Drain ? 1 : 0), false, (string?)null);
                    if (!cache.Gpu.TryGetValue(key, out var labels))
                    {
                        cache.Gpu[key] = labels = NodeLabels(metric, node, "state", Name(node.State), "drain", node.Drain ? "true" : "false");
                    }

                    into.Add(new(labels, 1));
                }

                break;
            case "gantry_node_drained_for_fault":
                foreach (var node in _view)
                {
                    if (node.Health?.Node is { Drained: true } drained)
                    {
                        into.Add(new(NodeLabels(metric, node, "cause", drained.Cause ?? ""), 1));
                    }
                }

                break;
            case "gantry_node_cpu_utilization_ratio": Node(metric, into, static s => s.CpuUtilization); break;
            case "gantry_node_memory_used_bytes": Node(metric, into, static s => s.MemoryUsedBytes); break;
            case "gantry_node_memory_total_bytes": Node(metric, into, static s => s.MemoryTotalBytes); break;
            case "gantry_node_power_watts": Node(metric, into, static s => s.PowerWatts); break;
            case "gantry_node_power_envelope_watts": Node(metric, into, static s => s.PowerEnvelopeWatts); break;
            case "gantry_node_power_above_envelope":
                Node(metric, into, static s => s is { PowerEnvelopeWatts: { } envelope, PowerWatts: { } watts } ? (watts > envelope ? 1 : 0) : null);
                break;
            case "gantry_anomaly_score" when _anomalies is not null:
                Anomalies(metric, into);
                break;
            case "gantry_job_failure_ratio" or "gantry_jobs_ended" when _outcomes is not null:
                var (ended, failed) = _outcomes.Over(15, _now);
                if (metric == "gantry_jobs_ended")
                {
                    into.Add(new(LabelSet.Of(LabelSet.MetricName, metric, "window", "15m", "outcome", "failed"), failed));
                    into.Add(new(LabelSet.Of(LabelSet.MetricName, metric, "window", "15m", "outcome", "succeeded"), ended - failed));
                }
                else if (ended >= FailureRatioMinimum)
                {
                    into.Add(new(LabelSet.Of(LabelSet.MetricName, metric, "window", "15m"), (double)failed / ended));
                }

                break;
            default:
                break;
        }
    }

    private static string Name(NodeState state) => state.ToString().ToLowerInvariant();

    /// <summary>
    /// False for a node whose last summary is stale by design: down (silent), or suspended or resuming by power
    /// saving (powered off on purpose; its last figures would keep a temperature or power alert firing all night).
    /// </summary>
    private static bool Reporting(NodeState state) => state is not (NodeState.Down or NodeState.Suspended or NodeState.Resuming);

    /// <summary>True while the node heartbeats within its lease: ready, or drained by a person (it still reports).</summary>
    private static bool Up(NodeState state) => state is NodeState.Ready or NodeState.Draining or NodeState.Drained;

    private void Gpu(string metric, SampleSink into, Func<GpuSummary, double?> read, string? extraName = null, string? extraValue = null, bool includeLost = false)
    {
        foreach (var node in _view)
        {
            if (node.Summary is not { } summary || !Reporting(node.State))
            {
                // A down or powered-down node's last figures are stale: its series go away (node-state alerts speak for it).
                continue;
            }

            foreach (var gpu in summary.Gpus)
            {
                if ((gpu.Lost && !includeLost) || read(gpu) is not { } value || !into.Wants(value))
                {
                    continue;
                }

                var cache = CacheOf(node);
                var key = (metric, gpu.Index, summary.Simulated, extraValue);
                if (!cache.Gpu.TryGetValue(key, out var labels))
                {
                    cache.Gpu[key] = labels = GpuLabels(metric, node, gpu.Index, summary.Simulated, extraName, extraValue);
                }

                into.Add(new(labels, value));
            }
        }
    }

    private void Node(string metric, SampleSink into, Func<NodeSummary, double?> read)
    {
        foreach (var node in _view)
        {
            if (node.Summary is { } summary && Reporting(node.State) && read(summary) is { } value && into.Wants(value))
            {
                var cache = CacheOf(node);
                var key = (metric, -1, summary.Simulated, (string?)null);
                if (!cache.Gpu.TryGetValue(key, out var labels))
                {
                    cache.Gpu[key] = labels = summary.Simulated ? NodeLabels(metric, node, "simulated", "true") : NodeLabels(metric, node);
                }

                into.Add(new(labels, value));
            }
        }
    }

    private void Anomalies(string metric, SampleSink into)
    {
        var scores = new List<(string NodeId, int? Gpu, string Metric, double Score)>();
        _anomalies!.CollectForAlerts(scores, into.Value);
        if (scores.Count == 0)
        {
            return;
        }

        var byId = new Dictionary<string, NodeAlertView>(_view.Count, StringComparer.Ordinal);
        foreach (var node in _view)
        {
            byId[node.Id] = node;
        }

        foreach (var (nodeId, gpu, series, score) in scores)
        {
            if (!byId.TryGetValue(nodeId, out var node) || !Reporting(node.State))
            {
                continue;
            }

            var simulated = node.Summary?.Simulated == true;
            var labels = gpu is { } index
                ? GpuLabels(metric, node, index, simulated, "metric", series)
                : NodeLabels(metric, node, "metric", series, simulated ? "simulated" : "", simulated ? "true" : "");
            into.Add(new(labels, score));
        }
    }

    private void GpuHealth(string metric, SampleSink into)
    {
        foreach (var node in _view)
        {
            if (node.Health is not { } health)
            {
                continue;
            }

            foreach (var (index, info) in health.Gpus)
            {
                if (info.State == GpuHealthState.Healthy)
                {
                    continue;
                }

                var labels = GpuLabels(metric, node, index, node.Summary?.Simulated == true, null, null).With(
                [
                    new("state", info.State.ToString().ToLowerInvariant()),
                    new("cause", info.Cause ?? ""),
                    new("until", info.Until?.ToString().ToLowerInvariant() ?? ""),
                    new("manual", info.Manual ? "true" : "false"),
                ]);
                into.Add(new(labels, 1));
            }
        }
    }

    // One walk over the health registry fills every condition metric at once.
    private void GpuConditions()
    {
        var ecc = new List<AlertSample>();
        var pending = new List<AlertSample>();
        var failure = new List<AlertSample>();
        var thermal = new List<AlertSample>();
        var heldSeries = new List<AlertSample>();
        _built["gantry_gpu_ecc_errors_uncorrected_volatile"] = ecc;
        _built["gantry_gpu_remapped_rows_pending"] = pending;
        _built["gantry_gpu_remapped_rows_failure"] = failure;
        _built["gantry_gpu_thermal_slowdown"] = thermal;
        _built["gantry_gpu_health_held"] = heldSeries;
        if (_health is null)
        {
            return;
        }

        var conditions = new List<(string NodeId, int Gpu, Conditions Conditions)>();
        var held = new List<(string NodeId, int Gpu, string Held)>();
        _health.CollectForAlerts(conditions, held);
        var byId = new Dictionary<string, NodeAlertView>(_view.Count, StringComparer.Ordinal);
        foreach (var node in _view)
        {
            byId[node.Id] = node;
        }

        foreach (var (nodeId, gpu, c) in conditions)
        {
            if (!byId.TryGetValue(nodeId, out var node) || !Reporting(node.State))
            {
                continue;
            }

            var simulated = node.Summary?.Simulated == true;
            ecc.Add(new(GpuLabels("gantry_gpu_ecc_errors_uncorrected_volatile", node, gpu, simulated, null, null), c.EccUncorrected));
            pending.Add(new(GpuLabels("gantry_gpu_remapped_rows_pending", node, gpu, simulated, null, null), c.RemapPending ? 1 : 0));
            failure.Add(new(GpuLabels("gantry_gpu_remapped_rows_failure", node, gpu, simulated, null, null), c.RemapFailure ? 1 : 0));
            thermal.Add(new(GpuLabels("gantry_gpu_thermal_slowdown", node, gpu, simulated, null, null), c.Thermal ? 1 : 0));
        }

        foreach (var (nodeId, gpu, action) in held)
        {
            if (byId.TryGetValue(nodeId, out var node))
            {
                heldSeries.Add(new(GpuLabels("gantry_gpu_health_held", node, gpu, node.Summary?.Simulated == true, "action", action), 1));
            }
        }
    }

    private NodeLabelCache CacheOf(NodeAlertView node)
    {
        if (!_labels.TryGetValue(node.Id, out var cache) || !string.Equals(cache.Name, node.Name, StringComparison.Ordinal) || !ReferenceEquals(cache.Inventory, node.Gpus))
        {
            _labels[node.Id] = cache = new NodeLabelCache(node.Name, node.Gpus);
        }

        return cache;
    }

    /// <summary>One node's label sets by (metric, GPU index or -1 for a node series, simulated, extra label value).</summary>
    private sealed class NodeLabelCache(string name, IReadOnlyList<GpuInventory> inventory)
    {
        public string Name { get; } = name;

        public IReadOnlyList<GpuInventory> Inventory { get; } = inventory;

        public Dictionary<(string Metric, int Gpu, bool Simulated, string? Extra), LabelSet> Gpu { get; } = [];
    }

    private static LabelSet NodeLabels(string metric, NodeAlertView node, params string[] more)
    {
        var pairs = new List<KeyValuePair<string, string>>(4 + (more.Length / 2))
        {
            new(LabelSet.MetricName, metric),
            new("node", node.Name),
            new("node_id", node.Id),
        };
        for (var i = 0; i + 1 < more.Length; i += 2)
        {
            pairs.Add(new(more[i], more[i + 1]));
        }

        return LabelSet.Of(pairs);
    }

    private static LabelSet GpuLabels(string metric, NodeAlertView node, int index, bool simulated, string? extraName, string? extraValue)
    {
        var pairs = new List<KeyValuePair<string, string>>(8)
        {
            new(LabelSet.MetricName, metric),
            new("node", node.Name),
            new("node_id", node.Id),
            new("gpu", index.ToString(System.Globalization.CultureInfo.InvariantCulture)),
        };
        foreach (var inventory in node.Gpus)
        {
            if (inventory.Index == index)
            {
                pairs.Add(new("uuid", inventory.Uuid));
                pairs.Add(new("model", inventory.Model));
                simulated |= inventory.Simulated;
                break;
            }
        }

        if (simulated)
        {
            pairs.Add(new("simulated", "true"));
        }

        if (extraName is not null)
        {
            pairs.Add(new(extraName, extraValue ?? ""));
        }

        return LabelSet.Of(pairs);
    }
}
