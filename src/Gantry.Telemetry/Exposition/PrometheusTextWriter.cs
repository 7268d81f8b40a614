using System.Buffers;
using System.Buffers.Text;
using System.Globalization;

namespace Gantry.Telemetry.Exposition;

/// <summary>
/// Writes the Prometheus text exposition format (version 0.0.4) as UTF-8 bytes:
/// <code>
/// # HELP gantry_gpu_power_watts Power draw of the GPU.
/// # TYPE gantry_gpu_power_watts gauge
/// gantry_gpu_power_watts{gpu="0",uuid="GPU-…",model="NVIDIA H100"} 312.5
/// </code>
/// A family's HELP and TYPE lines are written only when its first sample is, so a family
/// whose every reading is unsupported leaves no trace. Callers write each family's samples
/// together (the format requires it). Numbers are locale-invariant, lines end in <c>\n</c>.
/// </summary>
internal sealed class PrometheusTextWriter(IBufferWriter<byte> output)
{
    private string? _pendingName;
    private string? _pendingHelp;
    private string? _pendingType;
    private string? _current;
    private int _labelCount;

    /// <summary>Starts a family; its header is written with the first sample.</summary>
    public void Family(string name, string type, string help)
    {
        _pendingName = name;
        _pendingType = type;
        _pendingHelp = help;
        _current = name;
    }

    /// <summary>
    /// Writes one family with a sample per item whose reading is not null; <paramref name="labels"/>
    /// adds the item's labels. The shape every per-device family shares (disks, NICs, GPUs).
    /// </summary>
    public void Series<T>(IReadOnlyList<T> items, string name, string type, string help, Func<T, double?> read, Action<PrometheusTextWriter, T> labels)
    {
        Family(name, type, help);
        foreach (var item in items)
        {
            if (read(item) is { } value)
            {
                Begin();
                labels(this, item);
                Value(value);
            }
        }
    }

    /// <summary>Starts a sample of the current family (use for summaries' <c>_sum</c> with <paramref name="suffix"/>).</summary>
    public PrometheusTextWriter Begin(string? suffix = null)
    {
        if (_current is null)
        {
            throw new InvalidOperationException("Family() must be called before a sample is written.");
        }

        if (_pendingName is not null)
        {
            WriteAscii("# HELP ");
            WriteAscii(_pendingName);
            Write(" "u8);
            WriteEscaped(_pendingHelp!, escapeQuotes: false);
            WriteAscii("\n# TYPE ");
            WriteAscii(_pendingName);
            Write(" "u8);
            WriteAscii(_pendingType!);
            Write("\n"u8);
            _pendingName = null;
        }

        WriteAscii(_current);
        if (suffix is not null)
        {
            WriteAscii(suffix);
        }

        _labelCount = 0;
        return this;
    }

    /// <summary>Adds a label to the sample begun by <see cref="Begin"/>.</summary>
    public PrometheusTextWriter Label(string name, string value)
    {
        Write(_labelCount == 0 ? "{"u8 : ","u8);
        WriteAscii(name);
        Write("=\""u8);
        WriteEscaped(value, escapeQuotes: true);
        Write("\""u8);
        _labelCount++;
        return this;
    }

    /// <summary>Adds an integer label (GPU index, link number) without allocating a string.</summary>
    public PrometheusTextWriter Label(string name, long value)
    {
        Write(_labelCount == 0 ? "{"u8 : ","u8);
        WriteAscii(name);
        Write("=\""u8);
        WriteInteger(value);
        Write("\""u8);
        _labelCount++;
        return this;
    }

    /// <summary>Ends the sample with its value.</summary>
    public void Value(double value)
    {
        if (_labelCount > 0)
        {
            Write("}"u8);
        }

        Write(" "u8);
        if (double.IsNaN(value))
        {
            Write("NaN"u8);
        }
        else if (double.IsPositiveInfinity(value))
        {
            Write("+Inf"u8);
        }
        else if (double.IsNegativeInfinity(value))
        {
            Write("-Inf"u8);
        }
        else if (value == Math.Floor(value) && Math.Abs(value) < 1e15)
        {
            WriteInteger((long)value);
        }
        else
        {
            var span = output.GetSpan(32);
            if (!value.TryFormat(span, out var written, "R", CultureInfo.InvariantCulture))
            {
                throw new InvalidOperationException("A double did not fit in 32 bytes.");
            }

            output.Advance(written);
        }

        Write("\n"u8);
    }

    /// <summary>Ends the sample with an unsigned counter value.</summary>
    public void Value(ulong value)
    {
        if (_labelCount > 0)
        {
            Write("}"u8);
        }

        Write(" "u8);
        var span = output.GetSpan(24);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
        Write("\n"u8);
    }

    private void WriteInteger(long value)
    {
        var span = output.GetSpan(24);
        Utf8Formatter.TryFormat(value, span, out var written);
        output.Advance(written);
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        var span = output.GetSpan(bytes.Length);
        bytes.CopyTo(span);
        output.Advance(bytes.Length);
    }

    private void WriteAscii(string text)
    {
        var span = output.GetSpan(text.Length);
        for (var i = 0; i < text.Length; i++)
        {
            span[i] = (byte)text[i];
        }

        output.Advance(text.Length);
    }

    // Label values escape backslash, double quote and line feed; HELP text escapes
    // backslash and line feed only. Everything else is written as UTF-8.
    private void WriteEscaped(string text, bool escapeQuotes)
    {
        var needsEscape = text.AsSpan().IndexOfAny(escapeQuotes ? "\\\"\n" : "\\\n") >= 0;
        if (!needsEscape)
        {
            var max = System.Text.Encoding.UTF8.GetMaxByteCount(text.Length);
            var span = output.GetSpan(max);
            var written = System.Text.Encoding.UTF8.GetBytes(text, span);
            output.Advance(written);
            return;
        }

        foreach (var rune in text.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '\\':
                    Write("\\\\"u8);
                    break;
                case '\n':
                    Write("\\n"u8);
                    break;
                case '"' when escapeQuotes:
                    Write("\\\""u8);
                    break;
                default:
                    var span = output.GetSpan(4);
                    var n = rune.EncodeToUtf8(span);
                    output.Advance(n);
                    break;
            }
        }
    }
}
