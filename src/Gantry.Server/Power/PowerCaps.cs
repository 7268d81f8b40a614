using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Server.Live;
using Gantry.Server.Nodes;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Power;

/// <summary>
/// The server's side of GPU power caps (docs/power.md). It owns, per node, the cap set by hand (kept in
/// the store, as a document of kind <see cref="DocumentKind"/>), the node's share of the fleet budget, the
/// wanted caps built from both (the lower wins; a job's own cap travels with its assignment and the agent
/// takes the lowest of all), and the agent's last report of what it enforces. A heartbeat costs one
/// dictionary lookup for the wanted caps (built when they change, not per heartbeat) and one to keep the
/// report. One lock guards the state; it is never held while calling the node registry.
/// </summary>
internal sealed partial class PowerCaps
{
    /// <summary>The store document kind of manual caps: id the node id, body the watts.</summary>
    public const string DocumentKind = "power-cap";

    /// <summary>The highest cap accepted, in watts (no GPU has a limit near it).</summary>
    public const double MaxWatts = 10_000;

    private static readonly TimeSpan MinDivisionSpacing = TimeSpan.FromSeconds(1);

    private readonly IStateStore _store;
    private readonly NodeRegistry _nodes;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly Dictionary<string, NodePower> _power = new(StringComparer.Ordinal);
    private readonly Signal _gpusChanged = new();
    private readonly List<BudgetGpu> _view = [];
    private long _version;
    private BudgetState? _budget;

    public PowerCaps(IStateStore store, StoredState state, NodeRegistry nodes, TimeProvider time, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(state);
        _store = store;
        _nodes = nodes;
        _time = time;
        _logger = logger;

        // Versions start from the clock so that one after a restart is never below one an agent saw before.
        _version = time.GetUtcNow().ToUnixTimeMilliseconds();
        foreach (var document in state.AlertDocuments)
        {
            if (document.Kind == DocumentKind
                && double.TryParse(document.Body, NumberStyles.Float, CultureInfo.InvariantCulture, out var watts)
                && watts > 0 && watts <= MaxWatts)
            {
                _power[document.Id] = new NodePower { Manual = watts };
            }
        }

        foreach (var (id, node) in _power)
        {
            Rebuild(node, _nodes.GpuIndexes(id));
        }
    }

    /// <summary>Completes when GPUs were taken or let go by jobs (the budget worker divides again).</summary>
    public Task GpusChangedTask => _gpusChanged.Next;

    /// <summary>The shortest time between two divisions of the budget, however often jobs start and end.</summary>
    public static TimeSpan DivisionSpacing => MinDivisionSpacing;

    /// <summary>A job took or let go of GPUs: the budget is divided again soon. Cheap; safe under other locks.</summary>
    public void GpusChanged() => _gpusChanged.Pulse();

    /// <summary>The wanted caps for a node's heartbeat answer (never null: a server that sends them reads the report).</summary>
    public NodePowerOrders Orders(string nodeId)
    {
        lock (_lock)
        {
            return _power.TryGetValue(nodeId, out var node) && node.Orders is { } orders ? orders : Empty;
        }
    }

    /// <summary>Keeps the agent's latest power report.</summary>
    public void Observe(string nodeId, NodePowerReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        lock (_lock)
        {
            if (!_power.TryGetValue(nodeId, out var node))
            {
                // Only nodes with something to say are kept: a report of plain, uncapped GPUs of a node never
                // capped is held too, for the limits on /metrics and the node page.
                _power[nodeId] = node = new NodePower();
            }

            node.Report = report;
        }
    }

    /// <summary>
    /// Sets (or with null lifts) the cap by hand on every GPU of a node, stored before it is applied; null
    /// when the node is unknown.
    /// </summary>
    public NodePowerInfo? SetManual(string nodeId, double? gpuWatts)
    {
        if (_nodes.GpuIndexes(nodeId) is not { } gpus)
        {
            return null;
        }

        var now = _time.GetUtcNow();
        if (gpuWatts is { } watts)
        {
            _store.Write(w => w.PutAlertDocument(DocumentKind, nodeId, watts.ToString("R", CultureInfo.InvariantCulture), now));
        }
        else
        {
            _store.Write(w => w.DeleteAlertDocument(DocumentKind, nodeId));
        }

        lock (_lock)
        {
            if (!_power.TryGetValue(nodeId, out var node))
            {
                _power[nodeId] = node = new NodePower();
            }

            node.Manual = gpuWatts;
            Rebuild(node, gpus);
            Log.ManualCap(_logger, nodeId, gpuWatts);
            return Info(node);
        }
    }

    /// <summary>What the server wants of a node's GPUs and what its agent last reported; null when the node is unknown.</summary>
    public NodePowerInfo? Info(string nodeId)
    {
        if (_nodes.NodeName(nodeId) is null)
        {
            return null;
        }

        lock (_lock)
        {
            return _power.TryGetValue(nodeId, out var node) ? Info(node) : new NodePowerInfo { Version = Empty.Version };
        }
    }

    /// <summary>
    /// Divides <paramref name="budgetWatts"/> among the fleet's GPUs (<see cref="PowerBudget"/>) and makes
    /// each node's share its budget caps. One walk of the fleet; called by the budget worker only.
    /// </summary>
    public BudgetDivision DivideBudget(double budgetWatts)
    {
        // The registry's view, the GPUs' ranges copied under this lock, the division itself outside it
        // (heartbeats take this lock), then its caps applied under it again.
        _nodes.PowerView(_view);
        var ranges = new GpuRange[_view.Count];
        lock (_lock)
        {
            for (var i = 0; i < ranges.Length; i++)
            {
                ranges[i] = Range(_view[i].NodeId, _view[i].Index);
            }
        }

        var division = PowerBudget.Divide(budgetWatts, _view, ranges);
        lock (_lock)
        {
            foreach (var (id, node) in _power)
            {
                if (node.Budget is not null && !division.Caps.ContainsKey(id))
                {
                    node.Budget = null;
                    node.Orders = null;
                }
            }

            foreach (var (id, caps) in division.Caps)
            {
                if (!_power.TryGetValue(id, out var node))
                {
                    _power[id] = node = new NodePower();
                }

                if (node.Budget is null || !SameCaps(node.Budget, caps))
                {
                    node.Budget = caps;
                    node.Orders = null;
                }
            }

            // Nodes whose wanted caps changed are rebuilt below, outside this walk's lookups.
            _budget = new BudgetState(budgetWatts, division, _time.GetUtcNow());
            foreach (var node in _power.Values)
            {
                if (node.Orders is null && (node.Budget is not null || node.Manual is not null || node.Version != 0))
                {
                    Rebuild(node, null);
                }
            }

            return division;
        }
    }

    /// <summary>The figures /metrics and the API show, copied under the lock (nothing rendered while holding it).</summary>
    public PowerSnapshot Snapshot()
    {
        lock (_lock)
        {
            var nodes = new List<(string NodeId, NodePowerReport? Report, NodePowerOrders? Orders)>(_power.Count);
            foreach (var (id, node) in _power)
            {
                nodes.Add((id, node.Report, node.Orders));
            }

            return new PowerSnapshot(nodes, _budget);
        }
    }

    private GpuRange Range(string nodeId, int gpu)
    {
        if (_power.TryGetValue(nodeId, out var node) && node.Report is { } report)
        {
            foreach (var state in report.Gpus)
            {
                if (state.Index == gpu)
                {
                    return new GpuRange(state.MinWatts, state.MaxWatts);
                }
            }
        }

        return default;
    }

    private static bool SameCaps(Dictionary<int, double> a, Dictionary<int, double> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        foreach (var (gpu, watts) in a)
        {
            if (!b.TryGetValue(gpu, out var other) || other != watts)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Under the lock: the node's wanted caps from its manual cap (on each of <paramref name="gpus"/>, or on
    /// the GPUs it had them on before) and its budget share, the lower per GPU; a new version when they changed.
    /// </summary>
    private void Rebuild(NodePower node, int[]? gpus)
    {
        if (gpus is not null)
        {
            node.Gpus = gpus;
        }

        var orders = new List<GpuPowerOrder>();
        if (node.Manual is { } manual)
        {
            foreach (var gpu in node.Gpus ?? [])
            {
                orders.Add(new GpuPowerOrder { Index = gpu, Watts = manual, Source = PowerCapSource.Manual });
            }
        }

        if (node.Budget is { } budget)
        {
            foreach (var (gpu, watts) in budget)
            {
                var at = orders.FindIndex(o => o.Index == gpu);
                if (at < 0)
                {
                    orders.Add(new GpuPowerOrder { Index = gpu, Watts = watts, Source = PowerCapSource.Budget });
                }
                else if (watts < orders[at].Watts)
                {
                    orders[at] = new GpuPowerOrder { Index = gpu, Watts = watts, Source = PowerCapSource.Budget };
                }
            }
        }

        orders.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        if (node.Wanted is { } before && Same(before, orders))
        {
            node.Orders = new NodePowerOrders { Version = node.Version, Gpus = before };
            return;
        }

        node.Version = ++_version;
        node.Wanted = orders;
        node.Orders = new NodePowerOrders { Version = node.Version, Gpus = orders };
    }

    private static bool Same(IReadOnlyList<GpuPowerOrder> a, List<GpuPowerOrder> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (a[i].Index != b[i].Index || a[i].Watts != b[i].Watts || a[i].Source != b[i].Source)
            {
                return false;
            }
        }

        return true;
    }

    private static NodePowerInfo Info(NodePower node) => new()
    {
        ManualGpuWatts = node.Manual,
        Version = node.Orders?.Version ?? Empty.Version,
        AppliedVersion = node.Report?.AppliedVersion,
        Simulated = node.Report?.Simulated ?? false,
        Wanted = node.Orders?.Gpus ?? [],
        Gpus = node.Report?.Gpus ?? [],
    };

    /// <summary>The answer for a node with no caps wanted: version 0, nothing capped.</summary>
    private static readonly NodePowerOrders Empty = new() { Version = 0, Gpus = [] };

    /// <summary>One node's power state. Guarded by the <see cref="PowerCaps"/> lock.</summary>
    private sealed class NodePower
    {
        public double? Manual { get; set; }

        public Dictionary<int, double>? Budget { get; set; }

        public int[]? Gpus { get; set; }

        public IReadOnlyList<GpuPowerOrder>? Wanted { get; set; }

        public long Version { get; set; }

        public NodePowerOrders? Orders { get; set; }

        public NodePowerReport? Report { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 3300, Level = LogLevel.Information, Message = "Node {NodeId}: power cap by hand set to {Watts} W per GPU (none: lifted)")]
        public static partial void ManualCap(ILogger logger, string nodeId, double? watts);
    }
}

/// <summary>The last division of the fleet budget.</summary>
internal sealed record BudgetState(double BudgetWatts, BudgetDivision Division, DateTimeOffset DividedAt);

/// <summary>What /metrics renders of the power caps, copied under the lock.</summary>
internal sealed record PowerSnapshot(
    IReadOnlyList<(string NodeId, NodePowerReport? Report, NodePowerOrders? Orders)> Nodes,
    BudgetState? Budget);
