using System.Runtime.CompilerServices;

namespace Gantry.Core.Anomalies;

/// <summary>
/// How often a series has taken each value, with old samples fading: a histogram of equal-width bins with
/// exponentially decaying counts, its bins kept in a fixed open-addressing table (<see cref="Slots"/>
/// slots, at most three quarters used; the least-used bin makes room for a new one). A bin is the value's
/// offset from an origin in bin widths, so a series that moves to a level it never had lands in a bin of
/// its own however far away. Fixed size; no allocation.
/// </summary>
internal struct ValueHistogram
{
    /// <summary>Slots in the table.</summary>
    public const int Slots = 64;

    private const int MaxUsed = Slots * 3 / 4;

    // Counts are stored scaled by the weight of the latest sample, which grows by 1/decay per sample:
    // decaying every count each sample is then a multiplication of one number, and ratios of counts are
    // unchanged. Everything is rescaled before the weight overflows.
    private const double RescaleAbove = 1e100;

    private SlotKeys _keys;
    private SlotCounts _counts;
    private int _used;
    private double _total;
    private double _weight;
    private double _origin;
    private double _width;

    /// <summary>Fixes the bins: <paramref name="bins"/> bins between <paramref name="min"/> and <paramref name="max"/> (a tiny width when they are equal).</summary>
    public void Start(double min, double max, int bins)
    {
        var range = max - min;
        _width = range > 0 ? range / bins : Math.Max(Math.Abs(max) * 1e-3, 1e-9);
        _origin = min;
        _weight = 1;
    }

    /// <summary>
    /// The surprise of <paramref name="value"/>, −ln p, where p is the share of (decayed) samples that fell in
    /// bins no more common than the value's own, with <paramref name="prior"/> samples' worth of doubt (a value
    /// in a bin never seen gets p = prior / (samples + prior)); then counts the value.
    /// </summary>
    public double Observe(double value, double prior, double growth)
    {
        var key = Key(value);
        Span<long> keys = _keys;
        Span<double> counts = _counts;
        var slot = Find(keys, counts, key);
        var own = slot >= 0 ? counts[slot] : 0;
        var scaledPrior = prior * _weight;
        double p;
        if (slot >= 0)
        {
            var rarer = 0.0;
            for (var i = 0; i < Slots; i++)
            {
                var count = counts[i];
                if (count > 0 && count <= own)
                {
                    rarer += count;
                }
            }

            p = (rarer + scaledPrior) / (_total + scaledPrior);
        }
        else
        {
            p = scaledPrior / (_total + scaledPrior);
        }

        _weight *= growth;
        if (slot < 0)
        {
            slot = Insert(keys, counts, key);
        }

        counts[slot] += _weight;
        _total += _weight;
        if (_weight > RescaleAbove)
        {
            for (var i = 0; i < Slots; i++)
            {
                counts[i] /= _weight;
            }

            _total /= _weight;
            _weight = 1;
        }

        return -Math.Log(p);
    }

    private readonly long Key(double value)
    {
        // Clamped so that a value far outside every earlier one still has a bin (the cast saturates anyway).
        var offset = Math.Floor((value - _origin) / _width);
        return (long)Math.Clamp(offset, -4e18, 4e18);
    }

    private static int Home(long key) => (int)(((ulong)key * 0x9E3779B97F4A7C15UL) >> 58);

    private static int Find(Span<long> keys, Span<double> counts, long key)
    {
        for (int i = 0, slot = Home(key); i < Slots; i++, slot = (slot + 1) & (Slots - 1))
        {
            if (counts[slot] == 0)
            {
                return -1;
            }

            if (keys[slot] == key)
            {
                return slot;
            }
        }

        return -1;
    }

    private int Insert(Span<long> keys, Span<double> counts, long key)
    {
        if (_used >= MaxUsed)
        {
            var least = -1;
            for (var i = 0; i < Slots; i++)
            {
                if (counts[i] > 0 && (least < 0 || counts[i] < counts[least]))
                {
                    least = i;
                }
            }

            _total -= counts[least];
            Remove(keys, counts, least);
        }

        var slot = Home(key);
        while (counts[slot] > 0)
        {
            slot = (slot + 1) & (Slots - 1);
        }

        keys[slot] = key;
        _used++;
        return slot;
    }

    /// <summary>Empties a slot and moves later entries of its probe run back, so that every entry stays reachable from its home slot.</summary>
    private void Remove(Span<long> keys, Span<double> counts, int slot)
    {
        counts[slot] = 0;
        _used--;
        var hole = slot;
        for (var i = (slot + 1) & (Slots - 1); counts[i] > 0; i = (i + 1) & (Slots - 1))
        {
            var home = Home(keys[i]);
            if (((hole - home) & (Slots - 1)) < ((i - home) & (Slots - 1)))
            {
                keys[hole] = keys[i];
                counts[hole] = counts[i];
                counts[i] = 0;
                hole = i;
            }
        }
    }

    [InlineArray(Slots)]
    private struct SlotKeys
    {
        private long _element;
    }

    [InlineArray(Slots)]
    private struct SlotCounts
    {
        private double _element;
    }
}
