namespace Gantry.Server.Power;

/// <summary>What the fleet budget stands at, read without a walk.</summary>
/// <param name="AllocatedWatts">What is handed out now: idle GPUs' reserve plus what busy GPUs' nodes were last given.</param>
/// <param name="MeasuredWatts">The GPUs' measured power, each as its node last reported it.</param>
/// <param name="Insufficient">True when the budget does not cover every busy GPU's lowest limit (each then gets that).</param>
/// <param name="Gpus">GPUs counted (those of nodes that are up).</param>
/// <param name="BusyGpus">Of them, held by jobs.</param>
/// <param name="LevelWatts">The busy GPUs' equal share before each is clamped to its range (+∞: none needs a cap).</param>
internal sealed record BudgetFigures(double AllocatedWatts, double MeasuredWatts, bool Insufficient, int Gpus, int BusyGpus, double LevelWatts);

/// <summary>
/// The fleet budget kept incrementally (docs/power.md): what <see cref="PowerBudget.Divide(double, IReadOnlyList{BudgetGpu}, GpuRange[])"/>
/// computes from a walk of every GPU, held as fleet-wide sums that each event moves by its own GPUs. The node
/// registry tells it a node's GPUs (busy, measured, job cap, up) whenever they change, the agent's report
/// their ranges; the level the busy GPUs share is found from the <see cref="ShareBreakpoints"/>; a node's caps
/// are worked out only when its heartbeat is answered (<see cref="HandOut"/>). Every call costs O(GPUs of one
/// node · log distinct limits), never a pass over the fleet.
/// <para>
/// What keeps the fleet under the budget while nodes still run at caps handed out earlier: each counted GPU
/// holds a <em>grant</em>, what it was last given (an idle GPU its reserve, a busy one its share), and the
/// sum of grants is tracked. A heartbeat lowers its GPUs' grants to what they should have at once, and
/// raises them only out of what is free (budget minus the grants), so no heartbeat answer takes the sum
/// over the budget. A GPU that goes busy is counted at no less than its lowest limit from that moment (its
/// cap cannot be lower); a GPU that goes idle keeps its grant until its node's next heartbeat (it runs at
/// that cap until then). Amounts are kept in whole microwatts, so sums are exact however long it runs.
/// </para>
/// Not thread-safe: <see cref="PowerCaps"/>' lock guards it.
/// </summary>
internal sealed class BudgetLedger
{
    private const double MicrowattsPerWatt = 1e6;

    private readonly Dictionary<string, List<Slot>> _nodes = new(StringComparer.Ordinal);
    private readonly ShareBreakpoints _shares = new();
    private readonly long _budget;
    private long _reserved;
    private long _measured;
    private long _handedOut;
    private int _gpus;
    private double _level;
    private bool _insufficient;
    private bool _levelStale = true;

    public BudgetLedger(double budgetWatts)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(budgetWatts);
        BudgetWatts = budgetWatts;
        _budget = Micro(budgetWatts);
    }

    /// <summary>The fleet's GPU power budget.</summary>
    public double BudgetWatts { get; }

    /// <summary>The sum of every counted GPU's grant.</summary>
    public double HandedOutWatts => _handedOut / MicrowattsPerWatt;

    /// <summary>
    /// A node's GPUs as the registry holds them now. <paramref name="up"/> false (the node is down) takes
    /// them out of the budget; GPUs no longer listed leave it too.
    /// </summary>
    public void Track(string nodeId, bool up, ReadOnlySpan<BudgetGpu> gpus)
    {
        if (!_nodes.TryGetValue(nodeId, out var slots))
        {
            if (gpus.IsEmpty)
            {
                return;
            }

            _nodes[nodeId] = slots = new List<Slot>(gpus.Length);
        }

        foreach (var slot in slots)
        {
            slot.Listed = false;
        }

        foreach (var gpu in gpus)
        {
            var slot = Find(slots, gpu.Index);
            slot.Listed = true;
            Set(slot, up, gpu.Busy, gpu.MeasuredWatts, gpu.JobCapWatts, slot.Range);
        }

        foreach (var slot in slots)
        {
            if (!slot.Listed && slot.Counted)
            {
                Set(slot, counted: false, slot.Busy, slot.Measured, slot.JobCap, slot.Range);
            }
        }
    }

    /// <summary>A GPU's accepted range as its agent reported it (known before or after the registry lists the GPU).</summary>
    public void Range(string nodeId, int index, GpuRange range)
    {
        if (!_nodes.TryGetValue(nodeId, out var slots))
        {
            _nodes[nodeId] = slots = [];
        }

        var slot = Find(slots, index);
        if (slot.Range != range)
        {
            Set(slot, slot.Counted, slot.Busy, slot.Measured, slot.JobCap, range);
        }
    }

    /// <summary>
    /// The budget caps for a node's heartbeat answer, by GPU index, into <paramref name="caps"/> (cleared):
    /// each GPU's grant moved toward what the current level gives it (down at once, up only out of what is free).
    /// A GPU whose share reaches its highest limit gets none. O(GPUs of the node), plus O(log distinct limits)
    /// when the level moved since it was last found.
    /// </summary>
    public void HandOut(string nodeId, Dictionary<int, double> caps)
    {
        ArgumentNullException.ThrowIfNull(caps);
        caps.Clear();
        if (!_nodes.TryGetValue(nodeId, out var slots))
        {
            return;
        }

        var level = Level();
        foreach (var slot in slots)
        {
            if (!slot.Counted)
            {
                continue;
            }

            // What the level gives this GPU now, in watts and in microwatts.
            var wanted = slot.Busy ? (_insufficient ? slot.Low : Math.Clamp(level, slot.Low, slot.High)) : slot.ReserveWatts;
            var target = double.IsPositiveInfinity(wanted) ? long.MaxValue : Micro(wanted);
            var grant = target <= slot.Grant ? target : slot.Grant + Math.Min(target - slot.Grant, Math.Max(0, _budget - _handedOut));
            _handedOut += grant - slot.Grant;
            slot.Grant = grant;
            var watts = grant == target ? wanted : grant / MicrowattsPerWatt;
            if ((slot.Busy ? PowerBudget.BusyCap(watts, slot.Range) : PowerBudget.IdleCap(watts, slot.Range)) is { } cap)
            {
                caps[slot.Index] = cap;
            }
        }
    }

    /// <summary>The budget's figures now (O(log distinct limits) when the level moved, else O(1)).</summary>
    public BudgetFigures Figures()
    {
        var level = Level();
        return new BudgetFigures(_handedOut / MicrowattsPerWatt, _measured / MicrowattsPerWatt, _insufficient, _gpus, _shares.Count, level);
    }

    /// <summary>The level the busy GPUs share, found again only when a reserve or a busy GPU's bounds changed.</summary>
    private double Level()
    {
        if (_levelStale)
        {
            var left = (_budget - _reserved) / MicrowattsPerWatt;
            _insufficient = left < _shares.LowSum;
            _level = _insufficient ? 0 : _shares.Level(left);
            _levelStale = false;
        }

        return _level;
    }

    /// <summary>Moves one GPU to its new state: the sums lose its old part and gain its new one.</summary>
    private void Set(Slot slot, bool counted, bool busy, double? measured, double? jobCap, GpuRange range)
    {
        var joining = counted && !slot.Counted;
        var reservedBefore = _reserved;
        var wasShare = slot.Counted && slot.Busy;
        var (oldLow, oldHigh) = (slot.Low, slot.High);
        if (slot.Counted)
        {
            _gpus--;
            _measured -= slot.MeasuredMicro;
            _handedOut -= slot.Grant;
            if (!slot.Busy)
            {
                _reserved -= slot.ReserveMicro;
            }
        }

        slot.Counted = counted;
        slot.Busy = busy;
        slot.Measured = measured;
        slot.JobCap = jobCap;
        slot.Range = range;
        var isShare = counted && busy;
        (slot.Low, slot.High) = isShare ? PowerBudget.Bounds(jobCap, range) : (0, 0);

        // The busy GPUs' breakpoints move only when a GPU's bounds did (a heartbeat usually leaves them).
        if (wasShare != isShare || oldLow != slot.Low || oldHigh != slot.High)
        {
            if (wasShare)
            {
                _shares.Remove(oldLow, oldHigh);
            }

            if (isShare)
            {
                _shares.Add(slot.Low, slot.High);
            }

            _levelStale = true;
        }

        if (!counted)
        {
            slot.Grant = 0;
            _levelStale |= _reserved != reservedBefore;
            return;
        }

        _gpus++;
        slot.MeasuredMicro = Micro(measured ?? 0);
        _measured += slot.MeasuredMicro;
        if (busy)
        {
            // Its cap cannot be below its lowest limit, whatever it was given while idle.
            var floor = Micro(slot.Low);
            slot.Grant = joining ? floor : Math.Max(slot.Grant, floor);
        }
        else
        {
            slot.ReserveWatts = PowerBudget.Reserve(measured, range);
            slot.ReserveMicro = Micro(slot.ReserveWatts);
            _reserved += slot.ReserveMicro;

            // A GPU that just went idle keeps its busy grant until its node's heartbeat is answered.
            if (joining)
            {
                slot.Grant = slot.ReserveMicro;
            }
        }

        _levelStale |= _reserved != reservedBefore;
        _handedOut += slot.Grant;
    }

    private static Slot Find(List<Slot> slots, int index)
    {
        foreach (var slot in slots)
        {
            if (slot.Index == index)
            {
                return slot;
            }
        }

        var added = new Slot { Index = index };
        slots.Add(added);
        return added;
    }

    // Rounded down: the sums stay exact, and a grant never counts for more than was given.
    private static long Micro(double watts) => (long)Math.Floor(watts * MicrowattsPerWatt);

    /// <summary>One GPU in the ledger. A GPU is counted when its node is up and the registry lists it.</summary>
    private sealed class Slot
    {
        public required int Index { get; init; }

        public bool Listed { get; set; }

        public bool Counted { get; set; }

        public bool Busy { get; set; }

        public double? Measured { get; set; }

        public double? JobCap { get; set; }

        public GpuRange Range { get; set; }

        /// <summary>A busy GPU's share bounds (as added to the breakpoints).</summary>
        public double Low { get; set; }

        public double High { get; set; }

        public long MeasuredMicro { get; set; }

        public double ReserveWatts { get; set; }

        public long ReserveMicro { get; set; }

        /// <summary>What this GPU counts for against the budget, in microwatts.</summary>
        public long Grant { get; set; }
    }
}
