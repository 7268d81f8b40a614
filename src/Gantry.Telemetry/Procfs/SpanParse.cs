using System.Globalization;

namespace Gantry.Telemetry.Procfs;

/// <summary>Invariant-culture number parsing over spans, as the kernel writes numbers.</summary>
internal static class SpanParse
{
    public static bool TryUInt64(ReadOnlySpan<char> text, out ulong value) =>
        ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    public static bool TryInt64(ReadOnlySpan<char> text, out long value) =>
        long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out value);

    public static bool TryInt32(ReadOnlySpan<char> text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value);

    public static bool TryDouble(ReadOnlySpan<char> text, out double value) =>
        double.TryParse(text, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out value);

    /// <summary>True when <paramref name="text"/> is one or more ASCII digits.</summary>
    public static bool IsDigits(ReadOnlySpan<char> text) =>
        !text.IsEmpty && !text.ContainsAnyExceptInRange('0', '9');
}

/// <summary>
/// Walks the whitespace-separated fields of one line (spaces or tabs, runs of them count
/// once), as procfs tables are laid out.
/// </summary>
internal ref struct FieldReader
{
    private ReadOnlySpan<char> _rest;

    public FieldReader(ReadOnlySpan<char> line) => _rest = line;

    /// <summary>The part of the line not read yet, leading blanks removed.</summary>
    public readonly ReadOnlySpan<char> Rest => _rest.TrimStart(" \t");

    public bool TryNext(out ReadOnlySpan<char> field)
    {
        _rest = _rest.TrimStart(" \t");
        if (_rest.IsEmpty)
        {
            field = default;
            return false;
        }

        var end = _rest.IndexOfAny(' ', '\t');
        if (end < 0)
        {
            field = _rest;
            _rest = default;
        }
        else
        {
            field = _rest[..end];
            _rest = _rest[end..];
        }

        return true;
    }

    /// <summary>Reads the next field as an unsigned integer; false when absent or not a number.</summary>
    public bool TryNextUInt64(out ulong value)
    {
        if (TryNext(out var field))
        {
            return SpanParse.TryUInt64(field, out value);
        }

        value = 0;
        return false;
    }

    /// <summary>Skips <paramref name="count"/> fields; false when the line ran out first.</summary>
    public bool Skip(int count)
    {
        for (var i = 0; i < count; i++)
        {
            if (!TryNext(out _))
            {
                return false;
            }
        }

        return true;
    }
}
