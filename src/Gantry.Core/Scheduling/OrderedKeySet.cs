namespace Gantry.Core.Scheduling;

/// <summary>
/// A sorted set of distinct <see cref="long"/> keys kept in short sorted blocks (a one-level B-tree):
/// insert, remove and ceiling/floor cost a binary search over block maxima plus a copy of at most one
/// block, with no allocation once the blocks exist. The scheduler keeps one per free-GPU bucket, keyed
/// by free CPUs then node order, so "the first node with at least N free CPUs" is one ceiling.
/// </summary>
internal sealed class OrderedKeySet
{
    private const int BlockSize = 128;

    private long[][] _blocks = new long[2][];
    private int[] _counts = new int[2];

    // Each block's largest key, side by side, so finding a block touches one small array.
    private long[] _maxes = new long[2];
    private int _blockCount;

    /// <summary>Keys in the set.</summary>
    public int Count { get; private set; }

    /// <summary>Adds <paramref name="key"/>; returns false when it is already there.</summary>
    public bool Add(long key)
    {
        if (_blockCount == 0)
        {
            InsertBlock(0);
            _blocks[0][0] = key;
            _counts[0] = 1;
            _maxes[0] = key;
            Count = 1;
            return true;
        }

        var b = FindBlock(key);
        if (b == _blockCount)
        {
            b--;
        }

        var block = _blocks[b];
        var n = _counts[b];
        var i = LowerBound(block, n, key);
        if (i < n && block[i] == key)
        {
            return false;
        }

        if (n == BlockSize)
        {
            // Split: the upper half moves to a new block right after this one.
            const int Half = BlockSize / 2;
            InsertBlock(b + 1);
            Array.Copy(block, Half, _blocks[b + 1], 0, BlockSize - Half);
            _counts[b + 1] = BlockSize - Half;
            _maxes[b + 1] = _maxes[b];
            _counts[b] = Half;
            _maxes[b] = block[Half - 1];
            n = Half;
            if (i > Half)
            {
                b++;
                block = _blocks[b];
                i -= Half;
                n = _counts[b];
            }
        }

        Array.Copy(block, i, block, i + 1, n - i);
        block[i] = key;
        _counts[b] = n + 1;
        if (i == n)
        {
            _maxes[b] = key;
        }

        Count++;
        return true;
    }

    /// <summary>Removes <paramref name="key"/>; returns false when it was not there.</summary>
    public bool Remove(long key)
    {
        var b = FindBlock(key);
        if (b == _blockCount)
        {
            return false;
        }

        var block = _blocks[b];
        var n = _counts[b];
        var i = LowerBound(block, n, key);
        if (i >= n || block[i] != key)
        {
            return false;
        }

        Array.Copy(block, i + 1, block, i, n - i - 1);
        _counts[b] = n - 1;
        Count--;
        if (n == 1)
        {
            RemoveBlock(b);
        }
        else if (i == n - 1)
        {
            _maxes[b] = block[n - 2];
        }

        return true;
    }

    /// <summary>Positions a cursor on the smallest key that is at least <paramref name="key"/>.</summary>
    public bool TryCeiling(long key, out Cursor cursor)
    {
        var b = FindBlock(key);
        if (b == _blockCount)
        {
            cursor = default;
            return false;
        }

        cursor = new Cursor(b, LowerBound(_blocks[b], _counts[b], key));
        return true;
    }

    /// <summary>Positions a cursor on the largest key that is at most <paramref name="key"/>.</summary>
    public bool TryFloor(long key, out Cursor cursor)
    {
        if (_blockCount == 0)
        {
            cursor = default;
            return false;
        }

        var b = FindBlock(key);
        if (b == _blockCount)
        {
            cursor = new Cursor(b - 1, _counts[b - 1] - 1);
            return true;
        }

        var i = LowerBound(_blocks[b], _counts[b], key);
        if (_blocks[b][i] == key)
        {
            cursor = new Cursor(b, i);
            return true;
        }

        if (i > 0)
        {
            cursor = new Cursor(b, i - 1);
            return true;
        }

        if (b == 0)
        {
            cursor = default;
            return false;
        }

        cursor = new Cursor(b - 1, _counts[b - 1] - 1);
        return true;
    }

    /// <summary>The key under <paramref name="cursor"/>.</summary>
    public long KeyAt(Cursor cursor) => _blocks[cursor.Block][cursor.Index];

    /// <summary>Moves to the next larger key; false at the end.</summary>
    public bool MoveNext(ref Cursor cursor)
    {
        if (cursor.Index + 1 < _counts[cursor.Block])
        {
            cursor = new Cursor(cursor.Block, cursor.Index + 1);
            return true;
        }

        if (cursor.Block + 1 < _blockCount)
        {
            cursor = new Cursor(cursor.Block + 1, 0);
            return true;
        }

        return false;
    }

    /// <summary>First block whose largest key is at least <paramref name="key"/>, or the block count.</summary>
    private int FindBlock(long key)
    {
        int lo = 0, hi = _blockCount;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (_maxes[mid] < key)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private static int LowerBound(long[] block, int count, long key)
    {
        int lo = 0, hi = count;
        while (lo < hi)
        {
            var mid = (lo + hi) >>> 1;
            if (block[mid] < key)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }

        return lo;
    }

    private void InsertBlock(int at)
    {
        if (_blockCount == _blocks.Length)
        {
            Array.Resize(ref _blocks, _blocks.Length * 2);
            Array.Resize(ref _counts, _counts.Length * 2);
            Array.Resize(ref _maxes, _maxes.Length * 2);
        }

        // A block emptied earlier is parked just past the live ones; reuse its array.
        var spare = _blocks[_blockCount] ?? new long[BlockSize];
        Array.Copy(_blocks, at, _blocks, at + 1, _blockCount - at);
        Array.Copy(_counts, at, _counts, at + 1, _blockCount - at);
        Array.Copy(_maxes, at, _maxes, at + 1, _blockCount - at);
        _blocks[at] = spare;
        _counts[at] = 0;
        _blockCount++;
    }

    private void RemoveBlock(int at)
    {
        var emptied = _blocks[at];
        Array.Copy(_blocks, at + 1, _blocks, at, _blockCount - at - 1);
        Array.Copy(_counts, at + 1, _counts, at, _blockCount - at - 1);
        Array.Copy(_maxes, at + 1, _maxes, at, _blockCount - at - 1);
        _blockCount--;
        _blocks[_blockCount] = emptied;
        _counts[_blockCount] = 0;
    }

    /// <summary>A position in the set: a block and an index inside it. Invalid after any change.</summary>
    internal readonly record struct Cursor(int Block, int Index);
}
