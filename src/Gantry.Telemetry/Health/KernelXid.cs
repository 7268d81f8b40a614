using System.Globalization;

namespace Gantry.Telemetry.Health;

/// <summary>
/// An XID the NVIDIA driver wrote to the kernel log. Some never reach NVML's event path (79,
/// the GPU fell off the bus; 119 and 120, GSP timeouts), so the kernel log is the only place
/// they are seen.
/// </summary>
/// <param name="Xid">The XID number.</param>
/// <param name="PciBusId">The GPU's bus id in NVML's form (<c>00000000:3B:00.0</c>, see <see cref="Health.PciBusId.Normalize"/>), null when the line gave none.</param>
/// <param name="Pid">The process the driver names, null when it gives none or <c>'&lt;unknown&gt;'</c>.</param>
/// <param name="ProcessName">That process's name, null when it gives none or <c>&lt;unknown&gt;</c>.</param>
/// <param name="Text">The driver's description, after the number and the process.</param>
internal sealed record KernelXid(ulong Xid, string? PciBusId, int? Pid, string? ProcessName, string Text)
{
    /// <summary>The kernel log's sequence number of the record; a reader can resume after it.</summary>
    public ulong Sequence { get; init; }

    /// <summary>When the kernel logged it, in microseconds since boot (the kernel's clock, which stops in suspend).</summary>
    public ulong TimestampMicroseconds { get; init; }

    /// <summary>When the agent read it (its own clock): what matching against NVML's events goes by.</summary>
    public DateTimeOffset ObservedAt { get; init; }
}

/// <summary>
/// Reads the NVIDIA driver's XID lines. Forms seen in kernel logs, all handled:
/// <code>
/// NVRM: Xid (PCI:0000:3b:00): 79, pid='&lt;unknown&gt;', name=&lt;unknown&gt;, GPU has fallen off the bus.
/// NVRM: Xid (PCI:0000:61:00): 119, pid=123417, name=nv-hostengine, Timeout after 6s of waiting for RPC response from GPU0 GSP! …
/// NVRM: Xid (PCI:0000:01:00): 95, pid=7062, Uncontained: LTC TAG (0x2,0x0). RST: Yes, D-RST: No
/// NVRM: Xid (PCI:0000:01:00): 79, GPU has fallen off the bus.
/// NVRM: Xid (0000:03:00): 14, Channel 00000001
/// </code>
/// The process name may itself hold colons and brackets (<c>name=nvc:[driver]</c>); it ends at
/// the next <c>", "</c>. NVSwitch <c>SXid</c> lines are not GPU XIDs and are not matched.
/// </summary>
internal static class KernelXidParser
{
    private const string Marker = "NVRM: Xid ";

    /// <summary>The bytes every XID line holds; a cheap test before a record is decoded.</summary>
    public static ReadOnlySpan<byte> MarkerUtf8 => "NVRM: Xid "u8;

    /// <summary>Parses an XID out of one kernel log message; false when it holds none.</summary>
    public static bool TryParse(string message, out KernelXid xid)
    {
        ArgumentNullException.ThrowIfNull(message);
        xid = null!;
        var at = message.IndexOf(Marker, StringComparison.Ordinal);
        if (at < 0)
        {
            return false;
        }

        var rest = message.AsSpan(at + Marker.Length).TrimStart(' ');
        string? busId = null;
        if (rest.StartsWith('('))
        {
            var close = rest.IndexOf(')');
            if (close < 0)
            {
                return false;
            }

            busId = PciBusId.Normalize(rest[1..close]);
            rest = rest[(close + 1)..];
            if (!rest.StartsWith(':'))
            {
                return false;
            }

            rest = rest[1..];
        }

        rest = rest.TrimStart(' ');
        var digits = 0;
        while (digits < rest.Length && char.IsAsciiDigit(rest[digits]))
        {
            digits++;
        }

        if (digits == 0 || !ulong.TryParse(rest[..digits], NumberStyles.None, CultureInfo.InvariantCulture, out var number) ||
            (digits < rest.Length && rest[digits] != ','))
        {
            return false;
        }

        rest = SkipSeparator(rest[digits..]);
        int? pid = null;
        string? name = null;
        if (rest.StartsWith("pid="))
        {
            var value = Field(ref rest, "pid=".Length, ",");
            pid = int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) ? parsed : null;
            if (rest.StartsWith("name="))
            {
                var text = Field(ref rest, "name=".Length, ", ");
                name = text.IsEmpty || text.SequenceEqual("<unknown>") ? null : text.ToString();
            }
        }

        xid = new KernelXid(number, busId, pid, name, rest.Trim().ToString());
        return true;
    }

    /// <summary>Takes one <c>key=value</c> field off the front, up to <paramref name="end"/>, and the separator after it.</summary>
    private static ReadOnlySpan<char> Field(ref ReadOnlySpan<char> rest, int skip, string end)
    {
        rest = rest[skip..];
        var stop = rest.IndexOf(end);
        var value = stop < 0 ? rest : rest[..stop];
        rest = stop < 0 ? [] : SkipSeparator(rest[stop..]);
        return value.Trim();
    }

    private static ReadOnlySpan<char> SkipSeparator(ReadOnlySpan<char> rest) => rest.TrimStart(',').TrimStart(' ');
}
