namespace Gantry.Core.Scheduling;

/// <summary>
/// <see cref="SchedulerPolicy.PreferEfficient"/>: the pass ranks nodes by measured power per busy GPU
/// (unmeasured last, then id) instead of by id alone. A node's rank is its index, and the index is the
/// last tie-break of every query (<see cref="CandidateGroup.FindBest"/>), so among nodes that fit a job
/// equally (same free GPUs and CPUs left) the more efficient one wins, and nothing else in the pass changes.
/// The cost is the sort the pass does anyway when its input is not in id order (the registry's is not).
/// </summary>
internal sealed partial class SchedulingPass
{
    private static SchedulingNode[] SchedulableInEfficiencyOrder(IReadOnlyList<SchedulingNode> nodes)
    {
        var list = new List<SchedulingNode>(nodes.Count);
        for (var i = 0; i < nodes.Count; i++)
        {
            if (nodes[i].Schedulable)
            {
                list.Add(nodes[i]);
            }
        }

        var array = list.ToArray();
        var watts = new double[array.Length];
        var order = new int[array.Length];
        for (var i = 0; i < array.Length; i++)
        {
            watts[i] = array[i].WattsPerBusyGpu is { } w && double.IsFinite(w) ? w : double.PositiveInfinity;
            order[i] = i;
        }

        // A primitive sort on the figures, then id order (and input order for equal ids) within each run
        // of equal figures: the unmeasured, and nodes that measure alike.
        Array.Sort(watts, order);
        Comparison<int> byId = (a, b) =>
        {
            var c = string.CompareOrdinal(array[a].Id, array[b].Id);
            return c != 0 ? c : a.CompareTo(b);
        };
        for (var i = 0; i < order.Length;)
        {
            var j = i + 1;
            while (j < order.Length && watts[j].Equals(watts[i]))
            {
                j++;
            }

            if (j - i > 1)
            {
                order.AsSpan(i, j - i).Sort(byId);
            }

            i = j;
        }

        var sorted = new SchedulingNode[array.Length];
        for (var i = 0; i < order.Length; i++)
        {
            sorted[i] = array[order[i]];
        }

        return sorted;
    }

    /// <summary>
    /// When power per busy GPU ranked the chosen node above another that fits the job equally: the two
    /// figures (the reason's words are made only for placements that are applied); null when no equal node
    /// is behind it, the chosen one is unmeasured, or they measure the same to the watt.
    /// </summary>
    private EfficiencyComparison? EfficiencyNote(CandidateGroup group, int slot, long memory)
    {
        var next = group.NextEqual(slot, memory, _freeMemory);
        if (next < 0 || _nodes[group.Nodes[slot]].WattsPerBusyGpu is not { } mine)
        {
            return null;
        }

        var other = _nodes[group.Nodes[next]];
        if (other.WattsPerBusyGpu is not { } theirs)
        {
            return new EfficiencyComparison(mine, other.Id, null);
        }

        return Math.Round(theirs) > Math.Round(mine) ? new EfficiencyComparison(mine, other.Id, theirs) : null;
    }
}
