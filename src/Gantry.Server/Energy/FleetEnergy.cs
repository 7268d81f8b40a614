using System.Collections.Concurrent;
using Gantry.Core.Protocol;
using Gantry.Server.Carbon;

namespace Gantry.Server.Energy;

/// <summary>
/// The fleet's power, energy, tokens and CO2e as heartbeats report them, for the server's
/// <c>/metrics</c>. Each heartbeat updates its node's figures and the fleet's running totals in
/// constant work (its GPUs, nothing else); a scrape reads them without stopping heartbeats.
/// <list type="bullet">
/// <item>Power: the node's (meter, or RAPL plus GPUs), its GPUs' sum and its CPU package and DRAM (RAPL), as last reported.</item>
/// <item>Energy: GPU energy from each GPU's own counter (the delta between two heartbeats; power × time where a GPU has no
/// counter or it went backwards), CPU and node energy from power × time (trapezoid). An interval longer than
/// <see cref="MaxGap"/> (a node that was away) is not counted.</item>
/// <item>Tokens: the node's inference servers' rates; counted as rate × time.</item>
/// <item>CO2e: each interval's node energy × the carbon intensity of the node's location at that time
/// (<see cref="ICarbonIntensity"/>); nothing when the intensity is unknown.</item>
/// </list>
/// </summary>
internal sealed class FleetEnergy(ICarbonIntensity carbon)
{
    /// <summary>Intervals longer than this between two summaries of a node are not integrated.</summary>
    public static readonly TimeSpan MaxGap = TimeSpan.FromMinutes(1);

    private const double JoulesPerKwh = 3_600_000;

    private readonly ConcurrentDictionary<string, NodeFigures> _nodes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, LocationTotals> _locations = new(StringComparer.Ordinal);
    private readonly Lock _totalsLock = new();
    private double _nodeJoules;
    private double _gpuJoules;
    private double _cpuJoules;
    private double _generatedTokens;
    private double _promptTokens;

    /// <summary>
    /// Takes one heartbeat's summary of a node, received at <paramref name="receivedAt"/> on the server's
    /// clock (which says whether the node still reports); intervals are measured on the agent's clock
    /// (<see cref="NodeSummary.SampledAt"/>), between two samples of the same node.
    /// </summary>
    public void Observe(string nodeId, IReadOnlyDictionary<string, string> labels, NodeSummary summary, DateTimeOffset receivedAt)
    {
        ArgumentNullException.ThrowIfNull(nodeId);
        ArgumentNullException.ThrowIfNull(labels);
        ArgumentNullException.ThrowIfNull(summary);
        var figures = _nodes.GetOrAdd(nodeId, static _ => new NodeFigures());
        var at = summary.SampledAt;
        var gpuWatts = GpuPower(summary.Gpus);
        var location = carbon.Configured ? carbon.LocationOf(labels) : null;
        Interval delta;
        lock (figures)
        {
            if (figures.At is { } last && at <= last)
            {
                // An older or repeated summary (a retried heartbeat) adds nothing.
                return;
            }

            delta = figures.Advance(at, summary, gpuWatts);
            figures.ReceivedAt = receivedAt;
            figures.Location = location;
        }

        if (delta.Seconds <= 0)
        {
            return;
        }

        lock (_totalsLock)
        {
            _nodeJoules += delta.NodeJoules;
            _gpuJoules += delta.GpuJoules;
            _cpuJoules += delta.CpuJoules;
            _generatedTokens += delta.GeneratedTokens;
            _promptTokens += delta.PromptTokens;
        }

        // The interval is counted at the intensity of its middle, on the server's clock.
        if (location is not null && delta.NodeJoules > 0 && carbon.IntensityAt(location, receivedAt - TimeSpan.FromSeconds(delta.Seconds / 2)) is { } gramsPerKwh)
        {
            var grams = delta.NodeJoules / JoulesPerKwh * gramsPerKwh;
            lock (figures)
            {
                figures.Co2Grams += grams;
            }

            var totals = _locations.GetOrAdd(location, static _ => new LocationTotals());
            lock (totals)
            {
                totals.Co2Grams += grams;
                totals.Joules += delta.NodeJoules;
            }
        }
    }

    /// <summary>
    /// The fleet's figures now: totals since the server started, power and rates of the nodes that
    /// reported within <see cref="MaxGap"/> of <paramref name="now"/>, and each node's own.
    /// </summary>
    public FleetEnergySnapshot Snapshot(DateTimeOffset now)
    {
        var nodes = new List<NodeEnergySnapshot>(_nodes.Count);
        double power = 0, gpuPower = 0, cpuPower = 0, generated = 0, prompt = 0, tokenGpuPower = 0;
        var reporting = 0;
        bool anyPower = false, anyGpu = false, anyCpu = false, anyTokens = false;
        foreach (var (id, figures) in _nodes)
        {
            NodeEnergySnapshot node;
            lock (figures)
            {
                node = figures.Snapshot(id, now);
            }

            nodes.Add(node);
            if (!node.Fresh)
            {
                continue;
            }

            reporting++;
            Add(ref power, ref anyPower, node.PowerWatts);
            Add(ref gpuPower, ref anyGpu, node.GpuPowerWatts);
            Add(ref cpuPower, ref anyCpu, node.CpuPowerWatts);
            if (node.GeneratedTokensPerSecond is { } g)
            {
                generated += g;
                prompt += node.PromptTokensPerSecond ?? 0;
                tokenGpuPower += node.GpuPowerWatts ?? 0;
                anyTokens = true;
            }
        }

        nodes.Sort(static (a, b) => string.CompareOrdinal(a.NodeId, b.NodeId));
        var locations = new List<LocationEnergySnapshot>(_locations.Count);
        foreach (var (name, totals) in _locations)
        {
            lock (totals)
            {
                locations.Add(new LocationEnergySnapshot(name, totals.Joules, totals.Co2Grams));
            }
        }

        locations.Sort(static (a, b) => string.CompareOrdinal(a.Location, b.Location));
        lock (_totalsLock)
        {
            return new FleetEnergySnapshot
            {
                NodesReporting = reporting,
                PowerWatts = anyPower ? power : null,
                GpuPowerWatts = anyGpu ? gpuPower : null,
                CpuPowerWatts = anyCpu ? cpuPower : null,
                GeneratedTokensPerSecond = anyTokens ? generated : null,
                PromptTokensPerSecond = anyTokens ? prompt : null,
                GeneratedTokensPerJoule = anyTokens && tokenGpuPower > 0 ? generated / tokenGpuPower : null,
                NodeJoules = _nodeJoules,
                GpuJoules = _gpuJoules,
                CpuJoules = _cpuJoules,
                GeneratedTokens = _generatedTokens,
                PromptTokens = _promptTokens,
                Nodes = nodes,
                Locations = locations,
            };
        }
    }

    private static void Add(ref double sum, ref bool any, double? value)
    {
        if (value is { } v)
        {
            sum += v;
            any = true;
        }
    }

    private static double? GpuPower(IReadOnlyList<GpuSummary> gpus)
    {
        double? sum = null;
        foreach (var gpu in gpus)
        {
            if (!gpu.Lost && gpu.PowerWatts is { } w)
            {
                sum = (sum ?? 0) + w;
            }
        }

        return sum;
    }

    /// <summary>What one heartbeat added.</summary>
    private readonly record struct Interval(double Seconds, double NodeJoules, double GpuJoules, double CpuJoules, double GeneratedTokens, double PromptTokens);

    /// <summary>One node's running figures; guarded by locking the instance.</summary>
    private sealed class NodeFigures
    {
        private double[] _gpuCounters = [];
        private double?[] _gpuWatts = [];

        public DateTimeOffset? At { get; private set; }

        public DateTimeOffset ReceivedAt { get; set; }

        public string? Location { get; set; }

        public double Co2Grams { get; set; }

        private double? PowerWatts { get; set; }

        private double? GpuPowerWatts { get; set; }

        private double? CpuPowerWatts { get; set; }

        private double? GeneratedTokensPerSecond { get; set; }

        private double? PromptTokensPerSecond { get; set; }

        private bool Simulated { get; set; }

        private double NodeJoules { get; set; }

        private double GpuJoules { get; set; }

        private double CpuJoules { get; set; }

        private double GeneratedTokens { get; set; }

        private double PromptTokens { get; set; }

        public Interval Advance(DateTimeOffset at, NodeSummary summary, double? gpuWatts)
        {
            var seconds = At is { } last && at - last <= MaxGap ? (at - last).TotalSeconds : 0;
            double node = 0, gpu = 0, cpu = 0, generated = 0, prompt = 0;
            if (seconds > 0)
            {
                node = summary.PowerWatts is null ? 0 : Trapezoid(PowerWatts, summary.PowerWatts, seconds);
                cpu = Trapezoid(CpuPowerWatts, summary.CpuPowerWatts, seconds);
                generated = Trapezoid(GeneratedTokensPerSecond, summary.GeneratedTokensPerSecond, seconds);
                prompt = Trapezoid(PromptTokensPerSecond, summary.PromptTokensPerSecond, seconds);
            }

            gpu = GpuEnergy(summary.Gpus, seconds);
            if (summary.PowerWatts is null && seconds > 0)
            {
                // A node that reports no node power: its GPUs and CPU are what is known of it.
                node = gpu + cpu;
            }

            At = at;
            PowerWatts = summary.PowerWatts ?? (gpuWatts is null && summary.CpuPowerWatts is null ? null : (gpuWatts ?? 0) + (summary.CpuPowerWatts ?? 0));
            GpuPowerWatts = gpuWatts;
            CpuPowerWatts = summary.CpuPowerWatts;
            GeneratedTokensPerSecond = summary.GeneratedTokensPerSecond;
            PromptTokensPerSecond = summary.PromptTokensPerSecond;
            Simulated = summary.Simulated;
            NodeJoules += node;
            GpuJoules += gpu;
            CpuJoules += cpu;
            GeneratedTokens += generated;
            PromptTokens += prompt;
            return new Interval(seconds, node, gpu, cpu, generated, prompt);
        }

        public NodeEnergySnapshot Snapshot(string id, DateTimeOffset now)
        {
            var fresh = At is not null && now - ReceivedAt <= MaxGap;
            return new NodeEnergySnapshot
            {
                NodeId = id,
                Fresh = fresh,
                Simulated = Simulated,
                Location = Location,
                PowerWatts = fresh ? PowerWatts : null,
                GpuPowerWatts = fresh ? GpuPowerWatts : null,
                CpuPowerWatts = fresh ? CpuPowerWatts : null,
                GeneratedTokensPerSecond = fresh ? GeneratedTokensPerSecond : null,
                PromptTokensPerSecond = fresh ? PromptTokensPerSecond : null,
                GeneratedTokensPerJoule = fresh && GeneratedTokensPerSecond is { } g && GpuPowerWatts is > 0 and { } w ? g / w : null,
                NodeJoules = NodeJoules,
                GpuJoules = GpuJoules,
                CpuJoules = CpuJoules,
                GeneratedTokens = GeneratedTokens,
                PromptTokens = PromptTokens,
                Co2Grams = Co2Grams,
            };
        }

        /// <summary>The energy of an interval from two power readings; one missing counts the other flat, both missing count nothing.</summary>
        private static double Trapezoid(double? before, double? after, double seconds) => (before, after) switch
        {
            ({ } a, { } b) => (a + b) / 2 * seconds,
            ({ } a, null) => a * seconds,
            (null, { } b) => b * seconds,
            _ => 0,
        };

        /// <summary>GPU energy since the previous summary: each GPU's counter delta, else its power × time.</summary>
        private double GpuEnergy(IReadOnlyList<GpuSummary> gpus, double seconds)
        {
            var maxIndex = -1;
            foreach (var g in gpus)
            {
                maxIndex = Math.Max(maxIndex, g.Index);
            }

            if (maxIndex >= _gpuCounters.Length && maxIndex < 1024)
            {
                var counters = new double[maxIndex + 1];
                var watts = new double?[maxIndex + 1];
                counters.AsSpan().Fill(double.NaN);
                _gpuCounters.CopyTo(counters, 0);
                _gpuWatts.CopyTo(watts, 0);
                _gpuCounters = counters;
                _gpuWatts = watts;
            }

            double joules = 0;
            foreach (var g in gpus)
            {
                if (g.Index < 0 || g.Index >= _gpuCounters.Length)
                {
                    continue;
                }

                var previous = _gpuCounters[g.Index];
                var current = g.Lost ? null : g.EnergyJoules;
                if (seconds > 0)
                {
                    joules += current is { } c && !double.IsNaN(previous) && c >= previous
                        ? c - previous
                        : Trapezoid(_gpuWatts[g.Index], g.Lost ? null : g.PowerWatts, seconds);
                }

                _gpuCounters[g.Index] = current ?? double.NaN;
                _gpuWatts[g.Index] = g.Lost ? null : g.PowerWatts;
            }

            return joules;
        }
    }

    private sealed class LocationTotals
    {
        public double Joules { get; set; }

        public double Co2Grams { get; set; }
    }
}

/// <summary>The fleet's energy figures at one moment (<see cref="FleetEnergy.Snapshot"/>).</summary>
internal sealed record FleetEnergySnapshot
{
    public required int NodesReporting { get; init; }

    public double? PowerWatts { get; init; }

    public double? GpuPowerWatts { get; init; }

    public double? CpuPowerWatts { get; init; }

    public double? GeneratedTokensPerSecond { get; init; }

    public double? PromptTokensPerSecond { get; init; }

    /// <summary>Generated tokens per second over the GPU power of the nodes that serve tokens.</summary>
    public double? GeneratedTokensPerJoule { get; init; }

    public required double NodeJoules { get; init; }

    public required double GpuJoules { get; init; }

    public required double CpuJoules { get; init; }

    public required double GeneratedTokens { get; init; }

    public required double PromptTokens { get; init; }

    public required IReadOnlyList<NodeEnergySnapshot> Nodes { get; init; }

    public required IReadOnlyList<LocationEnergySnapshot> Locations { get; init; }
}

/// <summary>One node's energy figures; rates and power are null when it has not reported lately.</summary>
internal sealed record NodeEnergySnapshot
{
    public required string NodeId { get; init; }

    public required bool Fresh { get; init; }

    public required bool Simulated { get; init; }

    public string? Location { get; init; }

    public double? PowerWatts { get; init; }

    public double? GpuPowerWatts { get; init; }

    public double? CpuPowerWatts { get; init; }

    public double? GeneratedTokensPerSecond { get; init; }

    public double? PromptTokensPerSecond { get; init; }

    public double? GeneratedTokensPerJoule { get; init; }

    public required double NodeJoules { get; init; }

    public required double GpuJoules { get; init; }

    public required double CpuJoules { get; init; }

    public required double GeneratedTokens { get; init; }

    public required double PromptTokens { get; init; }

    public required double Co2Grams { get; init; }
}

/// <summary>Energy and CO2e counted in one carbon location since the server started.</summary>
internal sealed record LocationEnergySnapshot(string Location, double Joules, double Co2Grams);
