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
/// takes the lowest of all), and the agent's last report of what it enforces. With a budget it also owns
/// the <see cref="BudgetLedger"/>, which the node registry keeps current per node as GPUs change. A
/// heartbeat costs one dictionary lookup for the wanted caps (rebuilt only when they change) and one to keep
/// the report; with a budget, also its own GPUs' budget caps worked out from the ledger (O(GPUs of the node)).
/// One lock guards the state; it is never held while calling the node registry, which calls in holding its own.
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
    private readonly BudgetLedger? _ledger;

    // A heartbeat's budget caps are worked out here (under the lock) and copied only when they changed.
    private readonly Dictionary<int, double> _handedOut = [];
    private long _version;
    private DateTimeOffset? _budgetCheckedAt;

    /// <summary>Loads the caps set by hand from <paramref name="state"/>; <paramref name="budgetWatts"/> is the fleet budget (<c>--power-budget</c>), null for none (no ledger is kept).</summary>
    public PowerCaps(IStateStore store, StoredState state, NodeRegistry nodes, TimeProvider time, ILogger logger, double? budgetWatts = null)
    {
        ArgumentNullException.ThrowIfNull(state);
        _store = store;
        _nodes = nodes;
        _time = time;
        _logger = logger;
        _ledger = budgetWatts is { } budget ? new BudgetLedger(budget) : null;

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

    /// <summary>Completes when GPUs were taken or let go by jobs (the budget worker publishes the budget's figures again).</summary>
    public Task GpusChangedTask => _gpusChanged.Next;

    /// <summary>The shortest time between two refreshes of the budget's figures, however often jobs start and end.</summary>
    public static TimeSpan DivisionSpacing => MinDivisionSpacing;

    /// <summary>Whether a fleet budget is kept (the registry then tells <see cref="TrackBudget"/> of every change).</summary>
    public bool Budgeted => _ledger is not null;

    /// <summary>A job took or let go of GPUs: the budget's figures are published again soon. Cheap; safe under other locks.</summary>
    public void GpusChanged() => _gpusChanged.Pulse();

    /// <summary>
    /// A node's GPUs as the registry holds them now (busy, measured, job cap), and whether the node counts
    /// (is not down). Called by the registry under its lock; O(GPUs of the node). Does nothing without a budget.
    /// </summary>
    public void TrackBudget(string nodeId, bool up, ReadOnlySpan<BudgetGpu> gpus)
    {
        if (_ledger is null)
        {
            return;
        }

        lock (_lock)
        {
            _ledger.Track(nodeId, up, gpus);
        }
    }

    /// <summary>
    /// The wanted caps for a node's heartbeat answer (never null: a server that sends them reads the report).
    /// With a budget, the node's budget caps are worked out now from the ledger (docs/power.md).
    /// </summary>
    public NodePowerOrders Orders(string nodeId)
    {
        lock (_lock)
        {
            _power.TryGetValue(nodeId, out var node);
            if (_ledger is not null)
            {
                _ledger.HandOut(nodeId, _handedOut);
                node = Budget(nodeId, node);
            }

            return node?.Orders ?? Empty;
        }
    }

    /// <summary>Keeps the agent's latest power report (and, with a budget, its GPUs' ranges in the ledger).</summary>
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
            if (_ledger is not null)
            {
                foreach (var gpu in report.Gpus)
                {
                    _ledger.Range(nodeId, gpu.Index, new GpuRange(gpu.MinWatts, gpu.MaxWatts));
                }
            }
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
    /// The budget's figures now (allocated, measured, GPUs, insufficient), noting when they were checked;
    /// null without a budget. O(log distinct limits): the ledger keeps them. Called by the budget worker.
    /// </summary>
    public BudgetFigures? CheckBudget()
    {
        if (_ledger is null)
        {
            return null;
        }

        lock (_lock)
        {
            _budgetCheckedAt = _time.GetUtcNow();
            return _ledger.Figures();
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

            // The budget's figures are the ledger's own sums, current at every scrape (no walk).
            var budget = _ledger is null ? null : new BudgetState(_ledger.BudgetWatts, _ledger.Figures(), _budgetCheckedAt ?? _time.GetUtcNow());
            return new PowerSnapshot(nodes, budget);
        }
    }

    /// <summary>Under the lock: makes <see cref="_handedOut"/> the node's budget caps, rebuilding its wanted caps when they changed.</summary>
    private NodePower? Budget(string nodeId, NodePower? node)
    {
        if (node?.Budget is { } before ? SameCaps(before, _handedOut) : _handedOut.Count == 0)
        {
            return node;
        }

        if (node is null)
        {
            _power[nodeId] = node = new NodePower();
        }

        node.Budget = _handedOut.Count == 0 ? null : new Dictionary<int, double>(_handedOut);
        Rebuild(node, null);
        return node;
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

/// <summary>The fleet budget's figures now, and when the budget worker last checked them.</summary>
internal sealed record BudgetState(double BudgetWatts, BudgetFigures Figures, DateTimeOffset DividedAt);

/// <summary>What /metrics renders of the power caps, copied under the lock.</summary>
internal sealed record PowerSnapshot(
    IReadOnlyList<(string NodeId, NodePowerReport? Report, NodePowerOrders? Orders)> Nodes,
    BudgetState? Budget);
