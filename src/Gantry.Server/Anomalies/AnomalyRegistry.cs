using System.Collections.Concurrent;
using Gantry.Core.Anomalies;
using Gantry.Core.Protocol;
using Gantry.Server.Telemetry;

namespace Gantry.Server.Anomalies;

/// <summary>One series' current anomaly score: <paramref name="Gpu"/> null for a node's series.</summary>
/// <param name="NodeId">The node.</param>
/// <param name="Gpu">The GPU index; null for a node's series.</param>
/// <param name="Metric">The series (<see cref="ScoredSeries"/>), e.g. <c>temperature_celsius</c> or <c>peer_power_watts</c>.</param>
/// <param name="Score">0 to 1; <see cref="AnomalyDetector.AlarmScore"/> (0.5) or more is an alarm.</param>
/// <param name="Minute">The start of the UTC minute the score is for.</param>
/// <param name="Term">The detector's term that gave the score (<c>rareValue</c>, <c>rareMix</c>, <c>jump</c>, <c>hourOfDay</c>); null for peer series and scores of 0.</param>
internal sealed record AnomalyScore(string NodeId, int? Gpu, string Metric, double Score, DateTimeOffset Minute, string? Term);

/// <summary>
/// Anomaly scores of every telemetry series the server receives (<see cref="ScoredSeries"/>): each node's
/// power and CPU and each GPU's temperature and power against their own history (one
/// <see cref="AnomalyDetector"/> per series), and each GPU's temperature and power against the same-model
/// GPUs of its node at similar utilisation (<see cref="PeerComparison"/>).
/// <para>
/// Fed by <see cref="TelemetryWriter"/> on its thread, the only one that changes anything here. Samples
/// are summed per UTC minute (by the summary's time); when a node's sample of a later minute arrives, the
/// minute that ended is scored: each detector gets the minute's mean (one sample a minute, near the rate it
/// was tuned on; nothing from a minute that has not ended), then the node's GPUs are compared. A sample of
/// a minute already scored is ignored. Work per sample is constant (a few additions per series); per node
/// and minute it is one detector update per series and O(GPUs²) for the peers.
/// </para>
/// <para>
/// Memory: one object per series (a detector of under 2 KiB for each self series, the peer series inline
/// in the GPU's object): about 3.8 KB per GPU and 3.9 KB per node (its two series and its entries here), so
/// about 34 KB for an 8-GPU node, plus the snapshot of its scores (about 0.9 KB) replaced every minute;
/// measured with <see cref="GC.GetAllocatedBytesForCurrentThread"/> by AnomalyRegistryTests.Memory_PerNodeAndGpu_Bounded
/// (docs/anomalies.md has the figures). Samples within a minute allocate nothing. A node not seen for
/// <see cref="ForgetAfter"/> is forgotten at the next minute that ends, taken from a queue ordered by
/// when nodes were last seen (no walk over the fleet).
/// </para>
/// <para>
/// Reads (<see cref="Scores"/>, <see cref="CollectForAlerts"/>, <see cref="ScoresOf"/>) come from request
/// threads: each node's scores are an immutable snapshot replaced once a minute, read without a lock. A
/// node's scores are current while its last scored minute is within <see cref="CurrentFor"/> of the newest
/// sample the registry has seen; after that (a node that stopped reporting) it has none.
/// </para>
/// </summary>
internal sealed class AnomalyRegistry
{
    /// <summary>A node whose latest sample is this much older than the newest sample seen is forgotten.</summary>
    public static readonly TimeSpan ForgetAfter = TimeSpan.FromHours(1);

    /// <summary>How long after its minute a node's scores stay current.</summary>
    public static readonly TimeSpan CurrentFor = TimeSpan.FromMinutes(5);

    /// <summary>GPUs per node that get series (as many as a registration may list).</summary>
    public const int MaxGpusPerNode = 1024;

    /// <summary>
    /// With <see cref="AnomalyHistory.Auto"/>, nodes whose GPUs are also scored against their own history (about
    /// 68 MB at 34 KB per 8-GPU node); nodes beyond get their node series and the peer comparison (about 4 KB each).
    /// At 25,000 nodes every GPU series (850 MB more) made the heartbeats' p99 265 ms instead of 43 (docs/benchmarks.md).
    /// </summary>
    public const int AutoAllNodes = 2_000;

    private const long TicksPerMinute = TimeSpan.TicksPerMinute;
    private static readonly long ForgetAfterMinutes = (long)ForgetAfter.TotalMinutes;
    private static readonly long CurrentForMinutes = (long)CurrentFor.TotalMinutes;

    private readonly Func<string, IReadOnlyList<GpuInventory>?> _inventory;
    private readonly AnomalyHistory _history;
    private readonly ConcurrentDictionary<string, NodeAnomalies> _nodes = new(StringComparer.Ordinal);

    // Writer thread only: nodes by last seen, oldest first; scratch space for a node's minute.
    private readonly LinkedList<NodeAnomalies> _bySeen = new();
    private readonly List<ScoreReading> _readings = [];
    private double[] _scratch = new double[16];

    // The newest sample's minute: the registry's clock (readers use it to tell current scores).
    private long _clockMinute = long.MinValue;

    /// <param name="inventory">A node's GPU inventory (the GPUs' models), or null for a node the server does not know; asked once per node and minute.</param>
    /// <param name="history">Which series are scored against their own history (the peer comparison always runs).</param>
    public AnomalyRegistry(Func<string, IReadOnlyList<GpuInventory>?> inventory, AnomalyHistory history = AnomalyHistory.All)
    {
        ArgumentNullException.ThrowIfNull(inventory);
        _inventory = inventory;
        _history = history;
    }

    /// <summary>Nodes with series now.</summary>
    public int NodeCount => _nodes.Count;

    /// <summary>Series kept now: per node its own, per GPU four (two with a detector, two peer series).</summary>
    public int SeriesCount
    {
        get
        {
            var count = 0;
            foreach (var (_, node) in _nodes)
            {
                count += 2 + (4 * node.GpuCount);
            }

            return count;
        }
    }

    /// <summary>Adds a batch of summaries, oldest first. Writer thread only.</summary>
    public void Observe(ReadOnlySpan<TelemetryItem> items)
    {
        foreach (ref readonly var item in items)
        {
            Observe(item);
        }
    }

    /// <summary>Adds one heartbeat's summary, stamped with the time it stands for. Writer thread only.</summary>
    public void Observe(in TelemetryItem item)
    {
        var summary = item.Summary;
        var minute = item.Time.UtcTicks / TicksPerMinute;
        if (minute > Volatile.Read(ref _clockMinute))
        {
            Volatile.Write(ref _clockMinute, minute);
        }

        if (!_nodes.TryGetValue(item.NodeId, out var node))
        {
            // auto: every series of the first AutoAllNodes nodes; past that a node's GPUs are scored against their peers only.
            var history = _history != AnomalyHistory.Auto ? _history : _nodes.Count < AutoAllNodes ? AnomalyHistory.All : AnomalyHistory.Nodes;
            node = new NodeAnomalies(item.NodeId, minute, history);
            _nodes[item.NodeId] = node;
            _bySeen.AddLast(node.BySeen);
        }
        else if (minute > node.Minute)
        {
            Complete(node);
            node.Minute = minute;
            node.LastSeenMinute = minute;
            _bySeen.Remove(node.BySeen);
            _bySeen.AddLast(node.BySeen);
            ForgetBefore(minute - ForgetAfterMinutes);
        }
        else if (minute < node.Minute)
        {
            return;
        }

        node.Power.Add(summary.PowerWatts);
        node.Cpu.Add(summary.CpuUtilization);
        var gpus = summary.Gpus;
        for (var i = 0; i < gpus.Count; i++)
        {
            var reading = gpus[i];
            if (reading.Lost)
            {
                continue;
            }

            var gpu = node.Gpu(reading.Index, i);
            if (gpu is null)
            {
                if (node.GpuCount >= MaxGpusPerNode)
                {
                    continue;
                }

                gpu = node.AddGpu(reading.Index);
            }

            gpu.Temperature.Add(reading.TemperatureCelsius);
            gpu.Power.Add(reading.PowerWatts);
            gpu.Utilization.Add(reading.Utilization);
        }
    }

    /// <summary>
    /// Every current score of at least <paramref name="minScore"/>, of one node or (null) all of them, highest
    /// first (then by node, GPU and metric). Safe from any thread.
    /// </summary>
    public IReadOnlyList<AnomalyScore> Scores(string? nodeId, double minScore)
    {
        var scores = new List<AnomalyScore>();
        if (nodeId is not null)
        {
            if (_nodes.TryGetValue(nodeId, out var node))
            {
                Add(scores, nodeId, Current(node), minScore);
            }
        }
        else
        {
            foreach (var (id, node) in _nodes)
            {
                Add(scores, id, Current(node), minScore);
            }
        }

        scores.Sort(static (a, b) =>
        {
            var byScore = b.Score.CompareTo(a.Score);
            if (byScore != 0)
            {
                return byScore;
            }

            var byNode = string.CompareOrdinal(a.NodeId, b.NodeId);
            if (byNode != 0)
            {
                return byNode;
            }

            var byGpu = (a.Gpu ?? -1).CompareTo(b.Gpu ?? -1);
            return byGpu != 0 ? byGpu : string.CompareOrdinal(a.Metric, b.Metric);
        });
        return scores;
    }

    /// <summary>
    /// Adds every current score above 0 (series at 0 are left out, as on <c>/metrics</c>) to
    /// <paramref name="into"/>, for the alerting series <c>gantry_anomaly_score{node,node_id,gpu,metric}</c>.
    /// One walk over the nodes' snapshots; safe from any thread.
    /// </summary>
    /// <param name="into">Where the scores go.</param>
    /// <param name="keep">When given, only scores it keeps (an alert rule's comparison), so that a fleet's worth of small scores is never listed.</param>
    public void CollectForAlerts(List<(string NodeId, int? Gpu, string Metric, double Score)> into, Func<double, bool>? keep = null)
    {
        ArgumentNullException.ThrowIfNull(into);
        foreach (var (id, node) in _nodes)
        {
            if (Current(node) is not { } scores)
            {
                continue;
            }

            foreach (var reading in scores.Readings)
            {
                if (reading.Score > 0 && (keep is null || keep(reading.Score)))
                {
                    into.Add((id, reading.Gpu < 0 ? null : reading.Gpu, ScoredSeries.Name(reading.Metric), reading.Score));
                }
            }
        }
    }

    /// <summary>A node's current scores as a snapshot (for rendering without a copy); null when it has none.</summary>
    public NodeScores? ScoresOf(string nodeId) => _nodes.TryGetValue(nodeId, out var node) ? Current(node) : null;

    /// <summary>Every node's current scores, for <c>/metrics</c>.</summary>
    public IEnumerable<(string NodeId, NodeScores Scores)> AllScores()
    {
        foreach (var (id, node) in _nodes)
        {
            if (Current(node) is { } scores)
            {
                yield return (id, scores);
            }
        }
    }

    private NodeScores? Current(NodeAnomalies node)
    {
        var scores = node.Scores;
        return scores is not null && (scores.Minute.UtcTicks / TicksPerMinute) + CurrentForMinutes >= Volatile.Read(ref _clockMinute) ? scores : null;
    }

    private static void Add(List<AnomalyScore> into, string nodeId, NodeScores? scores, double minScore)
    {
        if (scores is null)
        {
            return;
        }

        foreach (var reading in scores.Readings)
        {
            if (reading.Score >= minScore)
            {
                into.Add(new AnomalyScore(nodeId, reading.Gpu < 0 ? null : reading.Gpu, ScoredSeries.Name(reading.Metric), reading.Score, scores.Minute, ScoredSeries.TermName(reading.Term)));
            }
        }
    }

    /// <summary>Scores the node's minute that ended: its detectors, then its GPUs against each other; publishes the scores.</summary>
    private void Complete(NodeAnomalies node)
    {
        var minute = new DateTimeOffset(node.Minute * TicksPerMinute, TimeSpan.Zero);
        var gpus = node.Gpus.AsSpan(0, node.GpuCount);
        var readings = _readings;
        readings.Clear();
        Self(readings, -1, ScoredMetric.NodePower, node.Power, minute);
        Self(readings, -1, ScoredMetric.NodeCpu, node.Cpu, minute);

        var inventory = gpus.Length > 0 ? _inventory(node.NodeId) : null;
        foreach (var gpu in gpus)
        {
            gpu.MinuteUtilization = gpu.Utilization.Take();
            gpu.MinuteTemperature = Self(readings, gpu.Index, ScoredMetric.GpuTemperature, gpu.Temperature, minute);
            gpu.MinutePower = Self(readings, gpu.Index, ScoredMetric.GpuPower, gpu.Power, minute);
            gpu.Model = ModelOf(inventory, gpu.Index);
        }

        if (_scratch.Length < 2 * gpus.Length)
        {
            _scratch = new double[2 * gpus.Length];
        }

        PeerComparison.CompareAll(gpus, _scratch);
        foreach (var gpu in gpus)
        {
            if (!double.IsNaN(gpu.PeerTemperature.Score))
            {
                readings.Add(new ScoreReading(gpu.Index, ScoredMetric.PeerTemperature, AnomalyTerm.None, gpu.PeerTemperature.Score));
            }

            if (!double.IsNaN(gpu.PeerPower.Score))
            {
                readings.Add(new ScoreReading(gpu.Index, ScoredMetric.PeerPower, AnomalyTerm.None, gpu.PeerPower.Score));
            }
        }

        node.Scores = new NodeScores(minute, readings.ToArray());
    }

    /// <summary>Completes a self series' minute and returns its mean; adds its reading when the minute had samples (NaN otherwise).</summary>
    private static double Self(List<ScoreReading> readings, int gpu, ScoredMetric metric, SelfSeries series, DateTimeOffset minute)
    {
        var mean = series.Complete(minute);
        if (!double.IsNaN(mean) && series.Scored)
        {
            readings.Add(new ScoreReading(gpu, metric, series.Score > 0 ? series.Term : AnomalyTerm.None, series.Score));
        }

        return mean;
    }

    private static string? ModelOf(IReadOnlyList<GpuInventory>? inventory, int index)
    {
        if (inventory is null)
        {
            return null;
        }

        for (var i = 0; i < inventory.Count; i++)
        {
            if (inventory[i].Index == index)
            {
                return inventory[i].Model;
            }
        }

        return null;
    }

    /// <summary>Forgets the nodes last seen before <paramref name="minute"/>, oldest first.</summary>
    private void ForgetBefore(long minute)
    {
        while (_bySeen.First is { } oldest && oldest.Value.LastSeenMinute < minute)
        {
            _bySeen.RemoveFirst();
            _nodes.TryRemove(oldest.Value.NodeId, out _);
        }
    }
}

/// <summary>Which series the server scores against their own history (<c>--anomaly-history</c>); GPUs are always compared with their peers.</summary>
public enum AnomalyHistory
{
    /// <summary>Every series of the first <see cref="AnomalyRegistry.AutoAllNodes"/> nodes, the node series of the rest.</summary>
    Auto,

    /// <summary>Every series: each node's power and CPU, each GPU's temperature and power (about 34 KB per 8-GPU node).</summary>
    All,

    /// <summary>Each node's power and CPU only (about 4 KB per 8-GPU node); GPUs against their peers.</summary>
    Nodes,

    /// <summary>None; GPUs against their peers only (about 1 KB per 8-GPU node).</summary>
    Off,
}
