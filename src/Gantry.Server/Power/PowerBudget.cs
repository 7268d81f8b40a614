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

            var min = ranges[i].MinWatts ?? 0;
            var reserve = gpu.MeasuredWatts is { } watts ? watts * IdleHeadroom : min;
            if (ranges[i].MaxWatts is { } idleMax && reserve > idleMax)
            {
                reserve = idleMax;
            }

            reserved += reserve;
            var cap = Math.Max(reserve, min);
            if (cap > 0 && !(ranges[i].MaxWatts is { } max && cap >= max))
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
            var (low, high) = Bounds(gpus[i], ranges[i]);
            var share = Math.Clamp(level, low, high);
            allocated += share;
            if (!(ranges[i].MaxWatts is { } max && share >= max) && !double.IsPositiveInfinity(share))
            {
                Cap(caps, gpus[i], share);
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
                var (low, high) = Bounds(gpus[i], ranges[i]);
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

    private static (double Low, double High) Bounds(BudgetGpu gpu, GpuRange range)
    {
        var low = range.MinWatts ?? 0;
        var high = range.MaxWatts ?? double.PositiveInfinity;
        if (gpu.JobCapWatts is { } job && job < high)
        {
            high = Math.Max(job, low);
        }

        return (low, high);
    }

    private static void Cap(Dictionary<string, Dictionary<int, double>> caps, BudgetGpu gpu, double watts)
    {
        if (!caps.TryGetValue(gpu.NodeId, out var node))
        {
            caps[gpu.NodeId] = node = [];
        }

        // Whole watts, rounded down: the division stays within the budget and agents see a stable figure.
        node[gpu.Index] = Math.Floor(watts);
    }
}
