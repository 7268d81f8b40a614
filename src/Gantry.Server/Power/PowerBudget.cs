namespace Gantry.Server.Power;

/// <summary>One GPU as the budget sees it: whether a job holds it, its last measured power and the job's own cap.</summary>
internal readonly record struct BudgetGpu(string NodeId, int Index, bool Busy, double? MeasuredWatts, double? JobCapWatts);

/// <summary>A GPU's accepted power-limit range as its agent last reported it (null: not reported).</summary>
internal readonly record struct GpuRange(double? MinWatts, double? MaxWatts);

/// <summary>What one division of the budget decided.</summary>
/// <param name="Caps">Per node, per GPU index, the cap in watts; a GPU whose share reaches its highest limit gets none.</param>
/// <param name="AllocatedWatts">What the division hands out: idle GPUs' reserve plus busy GPUs' shares.</param>
/// <param name="MeasuredWatts">The GPUs' measured power when the division was made.</param>
/// <param name="Insufficient">True when the budget does not cover every busy GPU's lowest limit (each then gets that).</param>
/// <param name="Gpus">GPUs counted.</param>
/// <param name="BusyGpus">Of them, held by jobs.</param>
internal sealed record BudgetDivision(
    Dictionary<string, Dictionary<int, double>> Caps,
    double AllocatedWatts,
    double MeasuredWatts,
    bool Insufficient,
    int Gpus,
    int BusyGpus);

/// <summary>
/// Divides a fleet's GPU power budget among its GPUs by demand (docs/power.md). An idle GPU is given its
/// measured draw plus <see cref="IdleHeadroom"/> (its lowest limit where it has not been measured); its cap
/// cannot go below the lowest limit it accepts, but only the reserve counts against the budget. Busy GPUs
/// share what is left equally (water-filling), each within its range and never above its job's own cap;
/// a GPU whose share reaches its highest limit needs no cap. A pure function: no state, no clock.
/// <para>
/// The server does not call <c>Divide</c>: one division walks every GPU. It keeps the same division
/// incrementally in <see cref="BudgetLedger"/>, which shares the per-GPU rules below (<see cref="Reserve"/>,
/// <see cref="IdleCap"/>, <see cref="Bounds"/>, <see cref="BusyCap"/>); <c>Divide</c> is the reference the
/// ledger is tested against and the baseline its benchmark is measured against (docs/benchmarks.md).
/// </para>
/// </summary>
internal static class PowerBudget
{
    /// <summary>The margin over an idle GPU's measured draw it is given, so that noise does not throttle it.</summary>
    public const double IdleHeadroom = 1.1;

    /// <summary>Divides <paramref name="budgetWatts"/> among <paramref name="gpus"/>.</summary>
    /// <param name="budgetWatts">The fleet's GPU power budget.</param>
    /// <param name="gpus">Every GPU of the nodes that are up.</param>
    /// <param name="range">Each GPU's accepted range, by node and index.</param>
    public static BudgetDivision Divide(double budgetWatts, IReadOnlyList<BudgetGpu> gpus, Func<string, int, GpuRange> range)
    {
        ArgumentNullException.ThrowIfNull(gpus);
        ArgumentNullException.ThrowIfNull(range);
        var ranges = new GpuRange[gpus.Count];
        for (var i = 0; i < ranges.Length; i++)
        {
            ranges[i] = range(gpus[i].NodeId, gpus[i].Index);
        }

        return Divide(budgetWatts, gpus, ranges);
    }

    /// <summary>Divides <paramref name="budgetWatts"/> among <paramref name="gpus"/>, whose ranges are <paramref name="ranges"/> (same order).</summary>
    public static BudgetDivision Divide(double budgetWatts, IReadOnlyList<BudgetGpu> gpus, GpuRange[] ranges)
    {
        ArgumentNullException.ThrowIfNull(gpus);
        ArgumentNullException.ThrowIfNull(ranges);
        var caps = new Dictionary<string, Dictionary<int, double>>(StringComparer.Ordinal);
        double reserved = 0, measured = 0;
        var busy = new List<int>();
        for (var i = 0; i < gpus.Count; i++)
        {
            var gpu = gpus[i];
            measured += gpu.MeasuredWatts ?? 0;
            if (gpu.Busy)
            {
                busy.Add(i);
                continue;
            }

            var reserve = Reserve(gpu.MeasuredWatts, ranges[i]);
            reserved += reserve;
            if (IdleCap(reserve, ranges[i]) is { } cap)
            {
                Cap(caps, gpu, cap);
            }
        }

        var left = budgetWatts - reserved;
        var lowSum = 0.0;
        foreach (var i in busy)
        {
            lowSum += ranges[i].MinWatts ?? 0;
        }

        var insufficient = left < lowSum;
        var level = insufficient ? 0 : Level(left, busy, gpus, ranges);
        var allocated = reserved;
        foreach (var i in busy)
        {
            var (low, high) = Bounds(gpus[i].JobCapWatts, ranges[i]);
            var share = Math.Clamp(level, low, high);
            allocated += share;
            if (BusyCap(share, ranges[i]) is { } cap)
            {
                Cap(caps, gpus[i], cap);
            }
        }

        return new BudgetDivision(caps, allocated, measured, insufficient, gpus.Count, busy.Count);
    }

    /// <summary>
    /// The water level: the share L such that the busy GPUs, each given L within its bounds, use
    /// <paramref name="left"/> watts (found by bisection; the sum is monotonic in L).
    /// </summary>
    private static double Level(double left, List<int> busy, IReadOnlyList<BudgetGpu> gpus, GpuRange[] ranges)
    {
        if (busy.Count == 0)
        {
            return 0;
        }

        double Used(double level)
        {
            var sum = 0.0;
            foreach (var i in busy)
            {
                var (low, high) = Bounds(gpus[i].JobCapWatts, ranges[i]);
                sum += Math.Clamp(level, low, high);
            }

            return sum;
        }

        // No GPU can use more than all that is left: every one reaching its high bound below that ends it.
        if (Used(left) <= left)
        {
            return left;
        }

        double lo = 0, hi = left;
        for (var step = 0; step < 60; step++)
        {
            var mid = (lo + hi) / 2;
            if (Used(mid) <= left)
            {
                lo = mid;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    /// <summary>What an idle GPU reserves of the budget: its measured draw plus <see cref="IdleHeadroom"/>, its lowest limit when not measured, never above its highest.</summary>
    public static double Reserve(double? measuredWatts, GpuRange range)
    {
        var reserve = measuredWatts is { } watts ? watts * IdleHeadroom : range.MinWatts ?? 0;
        return range.MaxWatts is { } max && reserve > max ? max : reserve;
    }

    /// <summary>An idle GPU's cap for <paramref name="reserveWatts"/>: never below its lowest limit; null (no cap) at or above its highest, or when zero.</summary>
    public static double? IdleCap(double reserveWatts, GpuRange range)
    {
        var cap = Math.Max(reserveWatts, range.MinWatts ?? 0);
        return cap > 0 && !(range.MaxWatts is { } max && cap >= max) ? Whole(cap) : null;
    }

    /// <summary>A busy GPU's cap for <paramref name="shareWatts"/>: null (no cap) when the share reaches its highest limit or is unbounded.</summary>
    public static double? BusyCap(double shareWatts, GpuRange range) =>
        !(range.MaxWatts is { } max && shareWatts >= max) && !double.IsPositiveInfinity(shareWatts) ? Whole(shareWatts) : null;

    /// <summary>
    /// The range a busy GPU's share is clamped to: its accepted range, its top lowered to its job's cap (never
    /// below the lowest limit); an unknown top is unbounded.
    /// </summary>
    public static (double Low, double High) Bounds(double? jobCapWatts, GpuRange range)
    {
        var low = range.MinWatts ?? 0;
        var high = range.MaxWatts ?? double.PositiveInfinity;
        if (jobCapWatts is { } job && job < high)
        {
            high = job;
        }

        // A job's cap below the lowest limit, or a report whose highest is below its lowest: the lowest holds.
        return (low, Math.Max(high, low));
    }

    // Whole watts, rounded down: the division stays within the budget and agents see a stable figure.
    private static double Whole(double watts) => Math.Floor(watts);

    private static void Cap(Dictionary<string, Dictionary<int, double>> caps, BudgetGpu gpu, double watts)
    {
        if (!caps.TryGetValue(gpu.NodeId, out var node))
        {
            caps[gpu.NodeId] = node = [];
        }

        node[gpu.Index] = watts;
    }
}
