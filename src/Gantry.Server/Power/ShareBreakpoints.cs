namespace Gantry.Server.Power;

/// <summary>
/// The busy GPUs' share bounds, kept for water-filling without a walk (docs/power.md). Each busy GPU adds
/// a <em>low</em> breakpoint (where its share starts to rise with the level) and, when bounded, a
/// <em>high</em> one (where it stops). With the level at L, the busy GPUs use
/// <c>Used(L) = Σ clamp(L, low, high) = (sum of lows ≥ L) + (sum of highs &lt; L) + L · (GPUs between)</c>,
/// a piecewise-linear, non-decreasing function whose pieces end at the breakpoints. A treap keyed by the
/// breakpoint's watts, each key holding how many lows and highs sit there and each subtree their counts
/// and sums, answers <see cref="Level"/> in one descent: O(log k) for k distinct breakpoints, as are
/// <see cref="Add"/> and <see cref="Remove"/>. Sums are rebuilt from the children on every change, so
/// they never drift. Not thread-safe: its owner's lock guards it.
/// </summary>
internal sealed class ShareBreakpoints
{
    private Node? _root;

    /// <summary>Busy GPUs held.</summary>
    public int Count => _root?.LowCount ?? 0;

    /// <summary>The sum of the busy GPUs' lowest limits: what the budget must leave them at least.</summary>
    public double LowSum => _root?.LowSum ?? 0;

    /// <summary>Distinct breakpoints (tree nodes) held.</summary>
    public int Distinct => _root?.Size ?? 0;

    /// <summary>Adds a busy GPU whose share stays within <paramref name="low"/>..<paramref name="high"/> (high may be unbounded).</summary>
    public void Add(double low, double high)
    {
        _root = Change(_root, low, 1, 0);
        if (!double.IsPositiveInfinity(high))
        {
            _root = Change(_root, high, 0, 1);
        }
    }

    /// <summary>Removes a busy GPU added with the same bounds.</summary>
    public void Remove(double low, double high)
    {
        _root = Change(_root, low, -1, 0);
        if (!double.IsPositiveInfinity(high))
        {
            _root = Change(_root, high, 0, -1);
        }
    }

    /// <summary>
    /// The level L at which the busy GPUs, each given L within its bounds, use <paramref name="left"/> watts;
    /// +∞ when even every GPU at its highest uses less (none needs capping), 0 with no busy GPU. The caller
    /// checks <paramref name="left"/> against <see cref="LowSum"/> first (below it no level fits).
    /// </summary>
    public double Level(double left)
    {
        if (_root is null)
        {
            return 0;
        }

        var lowSum = _root.LowSum;

        // The largest breakpoint k with Used(k) ≤ left, and the counts and sums of the breakpoints up to it.
        Node? node = _root;
        Sums before = default, upTo = default;
        var found = false;
        while (node is not null)
        {
            var below = before.PlusTree(node.Left);
            var used = lowSum - below.LowSum + below.HighSum + (node.Key * (below.LowCount - below.HighCount));
            if (used <= left)
            {
                found = true;
                upTo = below.PlusKey(node);
                before = upTo;
                node = node.Right;
            }
            else
            {
                node = node.Left;
            }
        }

        if (!found)
        {
            // Below every GPU's lowest limit: the caller's LowSum check makes this a budget that does not cover them.
            return 0;
        }

        // Past that breakpoint, Used(L) = lowSum - lows so far + highs so far + L · (GPUs whose share is rising).
        var rising = upTo.LowCount - upTo.HighCount;
        if (rising <= 0)
        {
            return double.PositiveInfinity;
        }

        return Math.Max((left - lowSum + upTo.LowSum - upTo.HighSum) / rising, upTo.Key);
    }

    private static Node? Change(Node? node, double key, int lows, int highs)
    {
        if (node is null)
        {
            if (lows < 0 || highs < 0)
            {
                throw new InvalidOperationException($"no breakpoint at {key} W to remove");
            }

            return new Node(key) { Lows = lows, Highs = highs }.Pull();
        }

        if (key == node.Key)
        {
            node.Lows += lows;
            node.Highs += highs;
            if (node.Lows < 0 || node.Highs < 0)
            {
                throw new InvalidOperationException($"no breakpoint at {key} W to remove");
            }

            return node.Lows == 0 && node.Highs == 0 ? Drop(node) : node.Pull();
        }

        if (key < node.Key)
        {
            node.Left = Change(node.Left, key, lows, highs);
            if (node.Left is not null && node.Left.Priority > node.Priority)
            {
                return RotateRight(node);
            }
        }
        else
        {
            node.Right = Change(node.Right, key, lows, highs);
            if (node.Right is not null && node.Right.Priority > node.Priority)
            {
                return RotateLeft(node);
            }
        }

        return node.Pull();
    }

    /// <summary>Removes an emptied node: rotates it down below its higher-priority child until it is a leaf's parent.</summary>
    private static Node? Drop(Node node)
    {
        if (node.Left is null)
        {
            return node.Right;
        }

        if (node.Right is null)
        {
            return node.Left;
        }

        if (node.Left.Priority > node.Right.Priority)
        {
            var top = node.Left;
            node.Left = top.Right;
            top.Right = Drop(node);
            return top.Pull();
        }
        else
        {
            var top = node.Right;
            node.Right = top.Left;
            top.Left = Drop(node);
            return top.Pull();
        }
    }

    private static Node RotateRight(Node node)
    {
        var top = node.Left!;
        node.Left = top.Right;
        top.Right = node.Pull();
        return top.Pull();
    }

    private static Node RotateLeft(Node node)
    {
        var top = node.Right!;
        node.Right = top.Left;
        top.Left = node.Pull();
        return top.Pull();
    }

    /// <summary>Counts and sums of lows and highs over a set of breakpoints, and the last key added.</summary>
    private readonly record struct Sums(int LowCount, double LowSum, int HighCount, double HighSum, double Key)
    {
        public Sums PlusTree(Node? subtree) => subtree is null ? this : new(LowCount + subtree.LowCount, LowSum + subtree.LowSum, HighCount + subtree.HighCount, HighSum + subtree.HighSum, Key);

        public Sums PlusKey(Node node) => new(LowCount + node.Lows, LowSum + (node.Key * node.Lows), HighCount + node.Highs, HighSum + (node.Key * node.Highs), node.Key);
    }

    private sealed class Node(double key)
    {
        public double Key { get; } = key;

        // A hash of the key, not a random draw: the same breakpoints always build the same tree.
        public ulong Priority { get; } = Mix((ulong)BitConverter.DoubleToInt64Bits(key));

        public int Lows { get; set; }

        public int Highs { get; set; }

        public Node? Left { get; set; }

        public Node? Right { get; set; }

        public int Size { get; private set; }

        public int LowCount { get; private set; }

        public double LowSum { get; private set; }

        public int HighCount { get; private set; }

        public double HighSum { get; private set; }

        /// <summary>Rebuilds this subtree's counts and sums from its children's.</summary>
        public Node Pull()
        {
            Size = 1 + (Left?.Size ?? 0) + (Right?.Size ?? 0);
            LowCount = Lows + (Left?.LowCount ?? 0) + (Right?.LowCount ?? 0);
            LowSum = (Key * Lows) + (Left?.LowSum ?? 0) + (Right?.LowSum ?? 0);
            HighCount = Highs + (Left?.HighCount ?? 0) + (Right?.HighCount ?? 0);
            HighSum = (Key * Highs) + (Left?.HighSum ?? 0) + (Right?.HighSum ?? 0);
            return this;
        }

        // SplitMix64's finaliser.
        private static ulong Mix(ulong x)
        {
            x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9UL;
            x = (x ^ (x >> 27)) * 0x94D049BB133111EBUL;
            return x ^ (x >> 31);
        }
    }
}
