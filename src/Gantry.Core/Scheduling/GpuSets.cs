using System.Numerics;

namespace Gantry.Core.Scheduling;

/// <summary>
/// Picks which GPUs of one node a job gets. GPUs are bits 0..63 of a mask in ascending GPU index
/// order; <c>links[p]</c> is the mask of GPUs that GPU <c>p</c> has NVLink to. Preference: a set in
/// which every GPU links to every other, then a set connected through NVLink, then any set; within
/// each, the lowest indexes.
/// </summary>
internal static class GpuSets
{
    /// <summary>Bounds the clique search on large, sparsely linked nodes; 8-GPU nodes need a few dozen steps.</summary>
    private const int CliqueSearchBudget = 4096;

    /// <summary>Chooses <paramref name="count"/> GPUs out of <paramref name="candidates"/>, which must hold at least that many.</summary>
    public static ulong Choose(ulong candidates, int count, ReadOnlySpan<ulong> links)
    {
        if (count <= 0)
        {
            return 0;
        }

        if (BitOperations.PopCount(candidates) == count)
        {
            return candidates;
        }

        if (count == 1)
        {
            return candidates & (~candidates + 1);
        }

        if (HasLinks(candidates, links))
        {
            var budget = CliqueSearchBudget;
            if (TryClique(candidates, count, 0, links, ref budget, out var clique))
            {
                return clique;
            }

            if (TryConnected(candidates, count, links, out var connected))
            {
                return connected;
            }
        }

        return Lowest(candidates, count);
    }

    /// <summary>Whether every GPU of <paramref name="set"/> links to every other one.</summary>
    public static bool IsClique(ulong set, ReadOnlySpan<ulong> links)
    {
        var rest = set;
        while (rest != 0)
        {
            var p = BitOperations.TrailingZeroCount(rest);
            rest &= rest - 1;
            var others = set & ~(1UL << p);
            if ((links[p] & others) != others)
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasLinks(ulong candidates, ReadOnlySpan<ulong> links)
    {
        var rest = candidates;
        while (rest != 0)
        {
            var p = BitOperations.TrailingZeroCount(rest);
            rest &= rest - 1;
            if ((links[p] & candidates) != 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Depth-first, lowest GPU first, so the first clique found is the lexicographically smallest.</summary>
    private static bool TryClique(ulong candidates, int need, ulong chosen, ReadOnlySpan<ulong> links, ref int budget, out ulong result)
    {
        if (need == 0)
        {
            result = chosen;
            return true;
        }

        var rest = candidates;
        while (BitOperations.PopCount(rest) >= need)
        {
            if (--budget < 0)
            {
                break;
            }

            var p = BitOperations.TrailingZeroCount(rest);
            rest &= rest - 1;
            if (TryClique(rest & links[p], need - 1, chosen | (1UL << p), links, ref budget, out result))
            {
                return true;
            }
        }

        result = 0;
        return false;
    }

    /// <summary>
    /// From each starting GPU in turn, grows a set by the lowest-index linked neighbour: it reaches
    /// <paramref name="count"/> exactly when the start's NVLink component among the candidates is that large.
    /// </summary>
    private static bool TryConnected(ulong candidates, int count, ReadOnlySpan<ulong> links, out ulong result)
    {
        var starts = candidates;
        while (starts != 0)
        {
            var s = BitOperations.TrailingZeroCount(starts);
            starts &= starts - 1;
            var set = 1UL << s;
            var frontier = links[s] & candidates & ~set;
            var size = 1;
            while (size < count && frontier != 0)
            {
                var next = BitOperations.TrailingZeroCount(frontier);
                set |= 1UL << next;
                size++;
                frontier = (frontier | links[next]) & candidates & ~set;
            }

            if (size == count)
            {
                result = set;
                return true;
            }
        }

        result = 0;
        return false;
    }

    private static ulong Lowest(ulong candidates, int count)
    {
        ulong set = 0;
        var rest = candidates;
        for (var i = 0; i < count; i++)
        {
            var bit = rest & (~rest + 1);
            set |= bit;
            rest &= rest - 1;
        }

        return set;
    }
}
