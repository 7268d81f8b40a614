using System.Buffers.Text;
using System.Text;

namespace Gantry.Telemetry.Health;

/// <summary>
/// One record of the kernel log as <c>/dev/kmsg</c> hands it out (the kernel's
/// <c>Documentation/ABI/testing/dev-kmsg</c>):
/// <code>
/// 4,1202,1843308201,-;NVRM: Xid (PCI:0000:3b:00): 79, pid='&lt;unknown&gt;', name=&lt;unknown&gt;, GPU has fallen off the bus.
///  SUBSYSTEM=pci
///  DEVICE=+pci:0000:3b:00.0
/// </code>
/// A header of comma-separated fields (priority: facility &lt;&lt; 3 | level; sequence number;
/// microseconds since boot; a flag, <c>-</c> or <c>c</c> or <c>+</c>; newer kernels may add
/// more, such as <c>caller=T123</c>, which are skipped), a <c>;</c>, then the message, in which
/// the kernel escapes non-printable bytes and the backslash as <c>\xNN</c>. The lines after it
/// that start with a space are the record's key=value dictionary, read as lines of their own
/// and ignored.
/// </summary>
internal readonly record struct KmsgRecord(int Priority, ulong Sequence, ulong TimestampMicroseconds, string Message)
{
    /// <summary>The syslog level, 0 (emergency) to 7 (debug).</summary>
    public int Level => Priority & 7;

    /// <summary>
    /// Parses one line (without its <c>\n</c>); false for a dictionary line, an empty line or a
    /// header that is not <c>priority,sequence,timestamp,flag[,…];</c>.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out KmsgRecord record)
    {
        record = default;
        var semicolon = line.IndexOf((byte)';');
        if (semicolon <= 0 || line[0] == (byte)' ')
        {
            return false;
        }

        var header = line[..semicolon];
        if (!NextNumber(ref header, out var priority) || !NextNumber(ref header, out var sequence) ||
            !NextNumber(ref header, out var timestamp) || header.IsEmpty || priority > int.MaxValue)
        {
            return false;
        }

        record = new KmsgRecord((int)priority, sequence, timestamp, Unescape(line[(semicolon + 1)..]));
        return true;
    }

    /// <summary>Reads one decimal field and the comma after it.</summary>
    private static bool NextNumber(ref ReadOnlySpan<byte> header, out ulong value)
    {
        var comma = header.IndexOf((byte)',');
        var field = comma < 0 ? header : header[..comma];
        if (!Utf8Parser.TryParse(field, out value, out var consumed) || consumed != field.Length || field.IsEmpty)
        {
            return false;
        }

        header = comma < 0 ? [] : header[(comma + 1)..];
        return true;
    }

    /// <summary>The message's text: <c>\xNN</c> escapes turned back into their bytes, then UTF-8.</summary>
    private static string Unescape(ReadOnlySpan<byte> message)
    {
        if (message.IndexOf("\\x"u8) < 0)
        {
            return Encoding.UTF8.GetString(message);
        }

        var bytes = new byte[message.Length];
        var length = 0;
        for (var i = 0; i < message.Length; i++)
        {
            if (message[i] == (byte)'\\' && i + 3 < message.Length && message[i + 1] == (byte)'x' &&
                Utf8Parser.TryParse(message.Slice(i + 2, 2), out byte value, out var consumed, 'x') && consumed == 2)
            {
                bytes[length++] = value;
                i += 3;
            }
            else
            {
                bytes[length++] = message[i];
            }
        }

        return Encoding.UTF8.GetString(bytes, 0, length);
    }
}
