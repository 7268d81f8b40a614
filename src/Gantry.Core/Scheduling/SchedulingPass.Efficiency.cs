using System.Globalization;

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

        // Stable, as the id order: duplicate ids keep their input order.
        Array.Sort(order, (a, b) =>
        {
            var c = watts[a].CompareTo(watts[b]);
            if (c == 0)
            {
                c = string.CompareOrdinal(array[a].Id, array[b].Id);
            }

            return c != 0 ? c : a.CompareTo(b);
        });
        var sorted = new SchedulingNode[array.Length];
        for (var i = 0; i < order.Length; i++)
        {
            sorted[i] = array[order[i]];
        }

        return sorted;
    }

    /// <summary>
    /// What the placement reason says when power per busy GPU ranked the chosen node above another that
    /// fits the job equally ("212 W per busy GPU vs 265 W on n1"); null when no equal node is behind it
    /// or they measure the same.
    /// </summary>
    private string? EfficiencyNote(CandidateGroup group, int slot, int gpus, int cpus, long memory)
    {
        var next = group.NextEqual(slot, memory, _freeMemory);
        if (next < 0)
        {
            return null;
        }

        var chosen = _nodes[group.Nodes[slot]];
        var other = _nodes[group.Nodes[next]];
        if (chosen.WattsPerBusyGpu is not { } mine)
        {
            return null;
        }

        if (other.WattsPerBusyGpu is not { } theirs)
        {
            return string.Create(CultureInfo.InvariantCulture, $"{mine:0} W per busy GPU; {other.Id} not measured yet");
        }

        return Math.Round(theirs) > Math.Round(mine)
            ? string.Create(CultureInfo.InvariantCulture, $"{mine:0} W per busy GPU vs {theirs:0} W on {other.Id}")
            : null;
    }
}
