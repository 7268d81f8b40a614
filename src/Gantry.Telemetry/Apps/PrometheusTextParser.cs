using System.Buffers;
using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Gantry.Telemetry.Apps;

/// <summary>
/// Reads sample lines of the Prometheus text exposition format straight from the UTF-8 body,
/// without allocating per line:
/// <code>
/// # HELP vllm:prompt_tokens_total Number of prefill tokens processed.
/// # TYPE vllm:prompt_tokens_total counter
/// vllm:prompt_tokens_total{model_name="llama",engine="0"} 1.234e+06 1718000000000
/// </code>
/// Comments, <c># HELP</c>/<c># TYPE</c> lines and blank lines are skipped, <c>\r\n</c> line ends
/// are accepted, and a line that does not parse is skipped on its own (the rest of the body
/// still counts). Label values keep their escapes (<c>\\</c>, <c>\"</c>, <c>\n</c>) until a
/// caller compares or decodes one.
/// </summary>
internal static class PrometheusTextParser
{
    /// <summary>Enumerates the sample lines of <paramref name="text"/>.</summary>
    public static PrometheusSampleEnumerator EnumerateSamples(ReadOnlySpan<byte> text) => new(text);

    /// <summary>Parses one line; false for a comment, a blank line or a malformed line.</summary>
    public static bool TryParseSample(ReadOnlySpan<byte> line, out PrometheusSample sample)
    {
        sample = default;
        line = line.Trim(" \t\r"u8);
        if (line.IsEmpty || line[0] == (byte)'#')
        {
            return false;
        }

        var nameLength = 0;
        while (nameLength < line.Length && IsNameByte(line[nameLength], nameLength == 0))
        {
            nameLength++;
        }

        if (nameLength == 0)
        {
            return false;
        }

        var name = line[..nameLength];
        var rest = line[nameLength..].TrimStart(" \t"u8);
        ReadOnlySpan<byte> labels = default;
        if (!rest.IsEmpty && rest[0] == (byte)'{')
        {
            var close = FindClosingBrace(rest);
            if (close < 0)
            {
                return false;
            }

            labels = rest[1..close];
            if (!LabelsAreWellFormed(labels))
            {
                return false;
            }

            rest = rest[(close + 1)..].TrimStart(" \t"u8);
        }

        var valueEnd = rest.IndexOfAny(" \t"u8);
        var valueToken = valueEnd < 0 ? rest : rest[..valueEnd];
        if (!TryParseValue(valueToken, out var value))
        {
            return false;
        }

        rest = valueEnd < 0 ? default : rest[valueEnd..].TrimStart(" \t"u8);
        long? timestamp = null;
        // OpenMetrics may follow the value with an exemplar ("# {trace_id=…} 1"); it is ignored.
        if (!rest.IsEmpty && rest[0] != (byte)'#')
        {
            var timestampEnd = rest.IndexOfAny(" \t"u8);
            var timestampToken = timestampEnd < 0 ? rest : rest[..timestampEnd];
            if (!Utf8Parser.TryParse(timestampToken, out long ms, out var consumed) || consumed != timestampToken.Length)
            {
                return false;
            }

            timestamp = ms;
        }

        sample = new PrometheusSample(name, labels, value, timestamp);
        return true;
    }

    /// <summary>
    /// Finds the label <paramref name="labelName"/> in a sample's raw label text and returns its
    /// value with escapes intact.
    /// </summary>
    public static bool TryGetLabel(ReadOnlySpan<byte> labels, ReadOnlySpan<byte> labelName, out ReadOnlySpan<byte> rawValue)
    {
        var reader = new LabelReader(labels);
        while (reader.MoveNext())
        {
            if (reader.Name.SequenceEqual(labelName))
            {
                rawValue = reader.RawValue;
                return true;
            }
        }

        rawValue = default;
        return false;
    }

    /// <summary>Whether an escaped label value decodes to <paramref name="expected"/> (UTF-8).</summary>
    public static bool LabelValueEquals(ReadOnlySpan<byte> rawValue, ReadOnlySpan<byte> expected)
    {
        if (rawValue.IndexOf((byte)'\\') < 0)
        {
            return rawValue.SequenceEqual(expected);
        }

        var j = 0;
        for (var i = 0; i < rawValue.Length; i++, j++)
        {
            var b = rawValue[i];
            if (b == (byte)'\\' && i + 1 < rawValue.Length)
            {
                b = Unescape(rawValue[++i]);
            }

            if (j >= expected.Length || expected[j] != b)
            {
                return false;
            }
        }

        return j == expected.Length;
    }

    /// <summary>Decodes an escaped label value.</summary>
    public static string DecodeLabelValue(ReadOnlySpan<byte> rawValue)
    {
        if (rawValue.IndexOf((byte)'\\') < 0)
        {
            return Encoding.UTF8.GetString(rawValue);
        }

        var rented = ArrayPool<byte>.Shared.Rent(rawValue.Length);
        try
        {
            var length = 0;
            for (var i = 0; i < rawValue.Length; i++)
            {
                var b = rawValue[i];
                if (b == (byte)'\\' && i + 1 < rawValue.Length)
                {
                    b = Unescape(rawValue[++i]);
                }

                rented[length++] = b;
            }

            return Encoding.UTF8.GetString(rented, 0, length);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(rented);
        }
    }

    /// <summary>
    /// Parses a sample value: a float in invariant notation (exponents included), <c>+Inf</c>,
    /// <c>-Inf</c> or <c>NaN</c>.
    /// </summary>
    public static bool TryParseValue(ReadOnlySpan<byte> token, out double value)
    {
        if (token.IsEmpty)
        {
            value = 0;
            return false;
        }

        if (Ascii.EqualsIgnoreCase(token, "+Inf"u8) || Ascii.EqualsIgnoreCase(token, "Inf"u8))
        {
            value = double.PositiveInfinity;
            return true;
        }

        if (Ascii.EqualsIgnoreCase(token, "-Inf"u8))
        {
            value = double.NegativeInfinity;
            return true;
        }

        // Also accepts "NaN", "Infinity" and "-Infinity", as Go's ParseFloat does.
        return double.TryParse(token, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private static byte Unescape(byte escaped) => escaped == (byte)'n' ? (byte)'\n' : escaped;

    // Metric names: [a-zA-Z_:][a-zA-Z0-9_:]*
    private static bool IsNameByte(byte b, bool first) =>
        b is (>= (byte)'a' and <= (byte)'z') or (>= (byte)'A' and <= (byte)'Z') or (byte)'_' or (byte)':'
        || (!first && b is >= (byte)'0' and <= (byte)'9');

    /// <summary>Index of the '}' closing the label set that <paramref name="text"/> opens, skipping quoted values.</summary>
    private static int FindClosingBrace(ReadOnlySpan<byte> text)
    {
        var inQuotes = false;
        for (var i = 1; i < text.Length; i++)
        {
            var b = text[i];
            if (inQuotes)
            {
                if (b == (byte)'\\')
                {
                    i++;
                }
                else if (b == (byte)'"')
                {
                    inQuotes = false;
                }
            }
            else if (b == (byte)'"')
            {
                inQuotes = true;
            }
            else if (b == (byte)'}')
            {
                return i;
            }
        }

        return -1;
    }

    private static bool LabelsAreWellFormed(ReadOnlySpan<byte> labels)
    {
        var reader = new LabelReader(labels);
        while (reader.MoveNext())
        {
        }

        return !reader.Malformed;
    }

    /// <summary>Walks <c>name="value",…</c> pairs; a trailing comma is allowed.</summary>
    private ref struct LabelReader(ReadOnlySpan<byte> labels)
    {
        private readonly ReadOnlySpan<byte> _labels = labels;
        private int _position;

        public ReadOnlySpan<byte> Name { get; private set; }

        public ReadOnlySpan<byte> RawValue { get; private set; }

        public bool Malformed { get; private set; }

        public bool MoveNext()
        {
            var p = SkipSpaces(_position);
            if (p >= _labels.Length || Malformed)
            {
                return false;
            }

            var nameStart = p;
            while (p < _labels.Length && _labels[p] is not ((byte)'=' or (byte)' ' or (byte)'\t' or (byte)','))
            {
                p++;
            }

            var name = _labels[nameStart..p];
            p = SkipSpaces(p);
            if (name.IsEmpty || p >= _labels.Length || _labels[p] != (byte)'=')
            {
                return Fail();
            }

            p = SkipSpaces(p + 1);
            if (p >= _labels.Length || _labels[p] != (byte)'"')
            {
                return Fail();
            }

            var valueStart = ++p;
            while (p < _labels.Length && _labels[p] != (byte)'"')
            {
                p += _labels[p] == (byte)'\\' ? 2 : 1;
            }

            if (p >= _labels.Length)
            {
                return Fail();
            }

            Name = name;
            RawValue = _labels[valueStart..p];
            p = SkipSpaces(p + 1);
            if (p < _labels.Length)
            {
                if (_labels[p] != (byte)',')
                {
                    return Fail();
                }

                p++;
            }

            _position = p;
            return true;
        }

        private bool Fail()
        {
            Malformed = true;
            return false;
        }

        private readonly int SkipSpaces(int p)
        {
            while (p < _labels.Length && _labels[p] is (byte)' ' or (byte)'\t')
            {
                p++;
            }

            return p;
        }
    }
}

/// <summary>One parsed sample line. <see cref="Labels"/> is the raw text between the braces.</summary>
internal readonly ref struct PrometheusSample(ReadOnlySpan<byte> name, ReadOnlySpan<byte> labels, double value, long? timestampMilliseconds)
{
    public ReadOnlySpan<byte> Name { get; } = name;

    public ReadOnlySpan<byte> Labels { get; } = labels;

    public double Value { get; } = value;

    public long? TimestampMilliseconds { get; } = timestampMilliseconds;

    /// <summary>Whether the sample has label <paramref name="labelName"/> with (decoded) value <paramref name="expected"/>.</summary>
    public bool HasLabel(ReadOnlySpan<byte> labelName, ReadOnlySpan<byte> expected) =>
        PrometheusTextParser.TryGetLabel(Labels, labelName, out var raw) && PrometheusTextParser.LabelValueEquals(raw, expected);
}

/// <summary>Walks a body line by line, yielding the lines that parse as samples.</summary>
internal ref struct PrometheusSampleEnumerator(ReadOnlySpan<byte> text)
{
    private ReadOnlySpan<byte> _remaining = text;

    public PrometheusSample Current { get; private set; }

    public readonly PrometheusSampleEnumerator GetEnumerator() => this;

    public bool MoveNext()
    {
        while (!_remaining.IsEmpty)
        {
            var newline = _remaining.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line;
            if (newline < 0)
            {
                line = _remaining;
                _remaining = default;
            }
            else
            {
                line = _remaining[..newline];
                _remaining = _remaining[(newline + 1)..];
            }

            if (PrometheusTextParser.TryParseSample(line, out var sample))
            {
                Current = sample;
                return true;
            }
        }

        return false;
    }
}
