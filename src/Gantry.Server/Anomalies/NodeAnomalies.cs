using Gantry.Core.Anomalies;

namespace Gantry.Server.Anomalies;

/// <summary>The sum and count of one series' samples in the current UTC minute.</summary>
internal struct MinuteSum
{
    private double _sum;
    private int _count;

    /// <summary>Adds a reading; a missing or non-finite one is left out.</summary>
    public void Add(double? value)
    {
        if (value is { } v && double.IsFinite(v))
        {
            _sum += v;
            _count++;
        }
    }

    /// <summary>The minute's mean, NaN when it had no reading; starts the next minute.</summary>
    public double Take()
    {
        var mean = _count > 0 ? _sum / _count : double.NaN;
        _sum = 0;
        _count = 0;
        return mean;
    }
}

/// <summary>
/// A series against its own history: the current minute's sum, and a detector fed one mean per completed
/// minute (the rate it was tuned on, and nothing from a minute that has not ended). Writer thread only.
/// </summary>
internal sealed class SelfSeries(bool scored)
{
    // Null when the series is only summed per minute (for the peer comparison), not scored
    // (--anomaly-history): the detector is nearly all of a series' memory (~1.75 KB).
    private readonly AnomalyDetector? _detector = scored ? new() : null;
    private MinuteSum _minute;

    /// <summary>True when the series is scored against its own history.</summary>
    public bool Scored => _detector is not null;

    /// <summary>The score of the last completed minute that had samples.</summary>
    public double Score { get; private set; }

    /// <summary>The detector's term for <see cref="Score"/>.</summary>
    public AnomalyTerm Term { get; private set; }

    public void Add(double? value) => _minute.Add(value);

    /// <summary>Feeds the minute's mean to the detector and returns it; NaN (and the score unchanged) when the minute had no sample.</summary>
    public double Complete(DateTimeOffset minute)
    {
        var mean = _minute.Take();
        if (!double.IsNaN(mean) && _detector is not null)
        {
            Score = _detector.Update(minute, mean);
            Term = _detector.LastTerm;
        }

        return mean;
    }
}

/// <summary>
/// A GPU against its siblings: the excess over their median in robust spreads (z, from 0 to
/// <see cref="PeerComparison.MaxZ"/>), smoothed over minutes. Writer thread only.
/// </summary>
internal struct PeerSeries
{
    private double _smoothed;

    /// <summary>The score of the last minute, NaN when the GPU had no peers to be compared with then.</summary>
    public double Score { get; private set; }

    /// <summary>A minute compared with peers: z in, score out.</summary>
    public double Compare(double z)
    {
        _smoothed += PeerComparison.Smoothing * (z - _smoothed);
        Score = PeerComparison.ToScore(_smoothed);
        return Score;
    }

    /// <summary>A minute without peers: no score, and the evidence fades as a normal minute's would.</summary>
    public void Skip()
    {
        _smoothed *= 1 - PeerComparison.Smoothing;
        Score = double.NaN;
    }
}

/// <summary>One GPU's series and the figures of its last completed minute. Writer thread only.</summary>
internal sealed class GpuAnomalies(int index, bool scored)
{
    public int Index { get; } = index;

    public SelfSeries Temperature { get; } = new(scored);

    public SelfSeries Power { get; } = new(scored);

    public MinuteSum Utilization;

    public PeerSeries PeerTemperature;

    public PeerSeries PeerPower;

    // The completed minute's means (NaN: no reading), and the GPU's model then (null: not in the inventory).
    public double MinuteUtilization;
    public double MinuteTemperature;
    public double MinutePower;
    public string? Model;
}

/// <summary>
/// One node's series. The writer thread alone changes it; readers see only <see cref="Scores"/>, an
/// immutable snapshot replaced once a minute.
/// </summary>
internal sealed class NodeAnomalies
{
    private NodeScores? _scores;

    public NodeAnomalies(string nodeId, long minute, AnomalyHistory history)
    {
        History = history;
        Power = new SelfSeries(history != AnomalyHistory.Off);
        Cpu = new SelfSeries(history != AnomalyHistory.Off);
        NodeId = nodeId;
        Minute = minute;
        LastSeenMinute = minute;
        BySeen = new LinkedListNode<NodeAnomalies>(this);
    }

    public string NodeId { get; }

    /// <summary>The UTC minute (ticks / ticks per minute) whose samples are being summed.</summary>
    public long Minute { get; set; }

    /// <summary>The minute of the node's latest completed minute roll (or its first sample).</summary>
    public long LastSeenMinute { get; set; }

    /// <summary>The node's place in the registry's queue ordered by <see cref="LastSeenMinute"/>.</summary>
    public LinkedListNode<NodeAnomalies> BySeen { get; }

    /// <summary>Which of the node's series are scored against their own history.</summary>
    public AnomalyHistory History { get; }

    public SelfSeries Power { get; }

    public SelfSeries Cpu { get; }

    public GpuAnomalies[] Gpus { get; set; } = [];

    public int GpuCount { get; set; }

    /// <summary>The scores of the node's last completed minute; null before the first one.</summary>
    public NodeScores? Scores
    {
        get => Volatile.Read(ref _scores);
        set => Volatile.Write(ref _scores, value);
    }

    /// <summary>The GPU with this index, looked for first at <paramref name="position"/> (summaries list GPUs in the same order every time).</summary>
    public GpuAnomalies? Gpu(int index, int position)
    {
        var gpus = Gpus;
        if ((uint)position < (uint)GpuCount && gpus[position].Index == index)
        {
            return gpus[position];
        }

        for (var i = 0; i < GpuCount; i++)
        {
            if (gpus[i].Index == index)
            {
                return gpus[i];
            }
        }

        return null;
    }

    public GpuAnomalies AddGpu(int index)
    {
        if (GpuCount == Gpus.Length)
        {
            var grown = new GpuAnomalies[Math.Max(8, GpuCount * 2)];
            Array.Copy(Gpus, grown, GpuCount);
            Gpus = grown;
        }

        var gpu = new GpuAnomalies(index, History == AnomalyHistory.All);
        Gpus[GpuCount++] = gpu;
        return gpu;
    }
}

/// <summary>One series' score in a <see cref="NodeScores"/>: <see cref="Gpu"/> is -1 for a node's series.</summary>
internal readonly record struct ScoreReading(int Gpu, ScoredMetric Metric, AnomalyTerm Term, double Score);

/// <summary>The scores of one node's completed minute: every series that had samples (or peers) in it.</summary>
internal sealed class NodeScores(DateTimeOffset minute, ScoreReading[] readings)
{
    /// <summary>The start of the minute the scores are for.</summary>
    public DateTimeOffset Minute { get; } = minute;

    public ScoreReading[] Readings { get; } = readings;
}
