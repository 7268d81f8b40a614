using System.Numerics;

namespace Gantry.Core.Scheduling;

/// <summary>
/// The schedulable nodes that match one selector, seen through one GPU filter (model, memory): each
/// member's accepted GPUs, and an index of members by how many accepted GPUs are free (one bucket per
/// count), each bucket ordered by free CPUs then node order. Every job with the same selector and
/// filter shares the group, so a placement query is a walk up the buckets with one ceiling each,
/// never a scan of the cluster.
/// </summary>
internal sealed class CandidateGroup
{
    private const long SlotMask = 0xFFFF_FFFFL;

    /// <summary>Members in node order (node indexes of the pass, which are sorted by node id).</summary>
    public readonly int[] Nodes;

    /// <summary>Per member: the GPUs (bits in index order) the filter accepts.</summary>
    public readonly ulong[] Accepted;

    /// <summary>Per member: how many GPUs the filter accepts, free or not.</summary>
    public readonly int[] AcceptedCount;

    private readonly int[] _bucket;
    private readonly long[] _key;
    private readonly OrderedKeySet[] _available;
    private readonly OrderedKeySet[] _reserved;
    private readonly Capacity[] _front;

    public CandidateGroup(int id, int selectorId, int filterId, int[] nodes, ulong[] accepted, NodeCapacity capacity)
    {
        Id = id;
        SelectorId = selectorId;
        FilterId = filterId;
        Nodes = nodes;
        Accepted = accepted;
        AcceptedCount = new int[nodes.Length];
        _bucket = new int[nodes.Length];
        _key = new long[nodes.Length];
        var most = 0;
        for (var slot = 0; slot < nodes.Length; slot++)
        {
            var count = BitOperations.PopCount(accepted[slot]);
            AcceptedCount[slot] = count;
            most = Math.Max(most, count);
        }

        _available = new OrderedKeySet[most + 1];
        _reserved = new OrderedKeySet[most + 1];
        for (var b = 0; b <= most; b++)
        {
            _available[b] = new OrderedKeySet();
            _reserved[b] = new OrderedKeySet();
        }

        _front = ParetoFront(nodes, AcceptedCount, capacity);
    }

    public int Id { get; }

    public int SelectorId { get; }

    public int FilterId { get; }

    /// <summary>Puts a member into the index for the first time, reading the node's free resources.</summary>
    public void Insert(int slot, ulong freeGpus, int freeCpus, bool reserved)
    {
        var bucket = BitOperations.PopCount(freeGpus & Accepted[slot]);
        var key = Key(freeCpus, slot);
        _bucket[slot] = bucket;
        _key[slot] = key;
        (reserved ? _reserved : _available)[bucket].Add(key);
    }

    /// <summary>Moves a member to its new bucket and position after a placement on its node.</summary>
    public void Refresh(int slot, ulong freeGpus, int freeCpus)
    {
        var bucket = BitOperations.PopCount(freeGpus & Accepted[slot]);
        var key = Key(freeCpus, slot);
        if (bucket == _bucket[slot] && key == _key[slot])
        {
            return;
        }

        _available[_bucket[slot]].Remove(_key[slot]);
        _available[bucket].Add(key);
        _bucket[slot] = bucket;
        _key[slot] = key;
    }

    /// <summary>Takes a member out of placement: its node is held for a starving job.</summary>
    public void Reserve(int slot)
    {
        if (_available[_bucket[slot]].Remove(_key[slot]))
        {
            _reserved[_bucket[slot]].Add(_key[slot]);
        }
    }

    /// <summary>
    /// The best-fit member for a job: fewest accepted GPUs left free, then fewest CPUs left free, then
    /// node order; -1 when none fits. <paramref name="reserved"/> searches the held nodes instead.
    /// </summary>
    public int FindBest(int gpus, int cpus, long memory, long[] freeMemory, bool reserved)
    {
        var buckets = reserved ? _reserved : _available;
        var lowest = (long)cpus << 32;
        for (var b = Math.Max(gpus, 0); b < buckets.Length; b++)
        {
            var set = buckets[b];
            if (set.Count == 0 || !set.TryCeiling(lowest, out var cursor))
            {
                continue;
            }

            do
            {
                var slot = (int)(set.KeyAt(cursor) & SlotMask);
                if (freeMemory[Nodes[slot]] >= memory)
                {
                    return slot;
                }
            }
            while (set.MoveNext(ref cursor));
        }

        return -1;
    }

    /// <summary>
    /// The member after <paramref name="slot"/> (an unreserved member that <see cref="FindBest"/> returned)
    /// that fits a job just as well: same free accepted GPUs, same free CPUs, enough memory; -1 when none.
    /// </summary>
    public int NextEqual(int slot, long memory, long[] freeMemory)
    {
        var set = _available[_bucket[slot]];
        if (!set.TryCeiling(_key[slot], out var cursor))
        {
            return -1;
        }

        var cpus = _key[slot] >> 32;
        while (set.MoveNext(ref cursor))
        {
            var key = set.KeyAt(cursor);
            if (key >> 32 != cpus)
            {
                return -1;
            }

            var other = (int)(key & SlotMask);
            if (freeMemory[Nodes[other]] >= memory)
            {
                return other;
            }
        }

        return -1;
    }

    /// <summary>Whether some unreserved member has at least <paramref name="gpus"/> accepted GPUs free, whatever its CPUs.</summary>
    public bool AnyWithFreeGpus(int gpus)
    {
        for (var b = Math.Max(gpus, 0); b < _available.Length; b++)
        {
            if (_available[b].Count > 0)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// The unreserved member closest to fitting a job it could hold when empty: most accepted GPUs free,
    /// then most CPUs free, then node order; -1 when none could ever hold it.
    /// </summary>
    public int FindReservation(int gpus, int cpus, long memory, int[] cpuCores, long[] memoryBytes)
    {
        for (var b = _available.Length - 1; b >= 0; b--)
        {
            var set = _available[b];
            if (set.Count == 0 || !set.TryFloor(long.MaxValue, out var top))
            {
                continue;
            }

            var freeCpus = (int)(set.KeyAt(top) >> 32);
            while (true)
            {
                // Within one free-CPU value keys run in node order: walk it from the lowest node.
                set.TryCeiling((long)freeCpus << 32, out var cursor);
                do
                {
                    var key = set.KeyAt(cursor);
                    if ((int)(key >> 32) != freeCpus)
                    {
                        break;
                    }

                    var slot = (int)(key & SlotMask);
                    var node = Nodes[slot];
                    if (AcceptedCount[slot] >= gpus && cpuCores[node] >= cpus && memoryBytes[node] >= memory)
                    {
                        return slot;
                    }
                }
                while (set.MoveNext(ref cursor));

                if (!set.TryFloor(((long)freeCpus << 32) - 1, out var lower))
                {
                    break;
                }

                freeCpus = (int)(set.KeyAt(lower) >> 32);
            }
        }

        return -1;
    }

    /// <summary>Whether any member could hold the job on its whole capacity.</summary>
    public bool CanEverHold(int gpus, int cpus, long memory)
    {
        foreach (var c in _front)
        {
            if (c.Gpus >= gpus && c.Cpus >= cpus && c.Memory >= memory)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Which single dimensions no member has enough of, for the reason shown to people.</summary>
    public (bool Gpus, bool Cpus, bool Memory) Shortfall(int gpus, int cpus, long memory)
    {
        bool g = true, c = true, m = true;
        foreach (var f in _front)
        {
            g &= f.Gpus < gpus;
            c &= f.Cpus < cpus;
            m &= f.Memory < memory;
        }

        return (g, c, m);
    }

    private static long Key(int freeCpus, int slot) => ((long)freeCpus << 32) | (uint)slot;

    /// <summary>
    /// The capacities no other member dominates: a job fits some member's capacity exactly when it fits
    /// one of these. Clusters have a few node shapes, so this is a handful of entries.
    /// </summary>
    private static Capacity[] ParetoFront(int[] nodes, int[] acceptedCount, NodeCapacity capacity)
    {
        var shapes = new HashSet<Capacity>();
        for (var slot = 0; slot < nodes.Length; slot++)
        {
            shapes.Add(new Capacity(acceptedCount[slot], capacity.Cpus[nodes[slot]], capacity.Memory[nodes[slot]]));
        }

        var front = new List<Capacity>();
        foreach (var shape in shapes)
        {
            var dominated = false;
            foreach (var f in front)
            {
                if (f.Gpus >= shape.Gpus && f.Cpus >= shape.Cpus && f.Memory >= shape.Memory)
                {
                    dominated = true;
                    break;
                }
            }

            if (!dominated)
            {
                front.RemoveAll(f => shape.Gpus >= f.Gpus && shape.Cpus >= f.Cpus && shape.Memory >= f.Memory);
                front.Add(shape);
            }
        }

        return [.. front];
    }

    private readonly record struct Capacity(int Gpus, int Cpus, long Memory);
}

/// <summary>Whole-node capacity by node index, shared by every group of a pass.</summary>
internal sealed record NodeCapacity(int[] Cpus, long[] Memory);
