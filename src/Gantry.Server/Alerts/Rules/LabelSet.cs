using System.Text;

namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// A set of labels sorted by name, compared by value: a series' identity (<c>__name__</c> included) or an
/// alert's. Immutable; <see cref="Fingerprint"/> is stable across runs (FNV-1a 64 over the pairs).
/// </summary>
internal sealed class LabelSet : IEquatable<LabelSet>
{
    /// <summary>The label that holds a series' metric name.</summary>
    public const string MetricName = "__name__";

    private readonly KeyValuePair<string, string>[] _pairs;
    private readonly ulong _hash;

    /// <summary>No labels.</summary>
    public static LabelSet Empty { get; } = new([]);

    private LabelSet(KeyValuePair<string, string>[] sortedPairs)
    {
        _pairs = sortedPairs;
        var hash = 14695981039346656037UL;
        foreach (var (name, value) in sortedPairs)
        {
            hash = Mix(Mix(hash, name), value);
        }

        _hash = hash;
    }

    /// <summary>The pairs, sorted by name (ordinal).</summary>
    public IReadOnlyList<KeyValuePair<string, string>> Pairs => _pairs;

    /// <summary>Number of labels.</summary>
    public int Count => _pairs.Length;

    /// <summary>A stable 16-hex-digit identity of the set.</summary>
    public string Fingerprint => _hash.ToString("x16", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>A set of <paramref name="pairs"/>; a later pair of the same name wins; empty values are dropped (as in Prometheus).</summary>
    public static LabelSet Of(IEnumerable<KeyValuePair<string, string>> pairs)
    {
        // Sorted by name, then by position, so that the last pair of a name is the one kept.
        var items = pairs is ICollection<KeyValuePair<string, string>> collection ? new List<(KeyValuePair<string, string> Pair, int At)>(collection.Count) : [];
        foreach (var pair in pairs)
        {
            items.Add((pair, items.Count));
        }

        items.Sort(static (a, b) =>
        {
            var byName = string.CompareOrdinal(a.Pair.Key, b.Pair.Key);
            return byName != 0 ? byName : a.At.CompareTo(b.At);
        });
        var kept = new List<KeyValuePair<string, string>>(items.Count);
        for (var i = 0; i < items.Count; i++)
        {
            var pair = items[i].Pair;
            if ((i + 1 < items.Count && string.Equals(items[i + 1].Pair.Key, pair.Key, StringComparison.Ordinal)) || pair.Value.Length == 0)
            {
                // A later pair of the same name wins; an empty value removes the label.
                continue;
            }

            kept.Add(pair);
        }

        return kept.Count == 0 ? Empty : new LabelSet([.. kept]);
    }

    /// <summary>A set of name/value pairs given in turn: <c>Of("a", "1", "b", "2")</c>.</summary>
    public static LabelSet Of(params string[] namesAndValues)
    {
        if (namesAndValues.Length % 2 != 0)
        {
            throw new ArgumentException("names and values come in pairs", nameof(namesAndValues));
        }

        var pairs = new KeyValuePair<string, string>[namesAndValues.Length / 2];
        for (var i = 0; i < pairs.Length; i++)
        {
            pairs[i] = new(namesAndValues[2 * i], namesAndValues[(2 * i) + 1]);
        }

        return Of(pairs);
    }

    /// <summary>The value of <paramref name="name"/>, or "" when absent (as PromQL treats a missing label).</summary>
    public string Get(string name)
    {
        foreach (var (n, v) in _pairs)
        {
            if (string.Equals(n, name, StringComparison.Ordinal))
            {
                return v;
            }
        }

        return "";
    }

    /// <summary>This set with <paramref name="changes"/> applied (an empty value removes the label).</summary>
    public LabelSet With(IEnumerable<KeyValuePair<string, string>> changes) => Of(_pairs.Concat(changes));

    /// <summary>This set without <paramref name="name"/>.</summary>
    public LabelSet Without(string name) =>
        Array.FindIndex(_pairs, p => string.Equals(p.Key, name, StringComparison.Ordinal)) < 0 ? this : new LabelSet(Array.FindAll(_pairs, p => !string.Equals(p.Key, name, StringComparison.Ordinal)));

    /// <summary>Only the labels named in <paramref name="names"/> (PromQL's <c>by (…)</c>).</summary>
    public LabelSet Keep(IReadOnlyList<string> names) => new(Array.FindAll(_pairs, p => names.Contains(p.Key, StringComparer.Ordinal)));

    /// <summary>The set as a dictionary (for JSON).</summary>
    public Dictionary<string, string> ToDictionary() => _pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);

    public bool Equals(LabelSet? other) =>
        other is not null && (ReferenceEquals(this, other) || (other._hash == _hash && _pairs.AsSpan().SequenceEqual(other._pairs)));

    public override bool Equals(object? obj) => Equals(obj as LabelSet);

    public override int GetHashCode() => (int)_hash ^ (int)(_hash >> 32);

    /// <summary>PromQL's spelling: <c>{a="1", b="2"}</c>.</summary>
    public override string ToString()
    {
        var text = new StringBuilder("{");
        for (var i = 0; i < _pairs.Length; i++)
        {
            text.Append(i == 0 ? "" : ", ").Append(_pairs[i].Key).Append("=\"").Append(_pairs[i].Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }

        return text.Append('}').ToString();
    }

    private static ulong Mix(ulong hash, string text)
    {
        foreach (var c in text)
        {
            hash = (hash ^ c) * 1099511628211UL;
        }

        return (hash ^ 0xFF) * 1099511628211UL;
    }
}
