using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Procfs;

/// <summary>
/// Reads whole-disk I/O counters from <c>/proc/diskstats</c>. Like node_exporter's default it
/// leaves out RAM disks, loop and floppy devices and partitions (the devices its pattern
/// <c>^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$</c> matches), so a disk's traffic is
/// not counted twice.
/// </summary>
public sealed class DiskCollector : ICollector<IReadOnlyList<DiskSample>>
{
    // The kernel counts sectors of 512 bytes here whatever the device's own sector size.
    private const ulong SectorBytes = 512;
    private readonly string _diskStatsPath;

    public DiskCollector(HostPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        _diskStatsPath = Path.Combine(paths.Proc, "diskstats");
    }

    public string Name => "disk";

    public ValueTask<IReadOnlyList<DiskSample>> CollectAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(Parse(File.ReadAllText(_diskStatsPath)));

    internal static IReadOnlyList<DiskSample> Parse(string diskStats)
    {
        var disks = new List<DiskSample>();
        Span<ulong> stats = stackalloc ulong[10];
        foreach (var line in diskStats.AsSpan().EnumerateLines())
        {
            //  259  0 nvme0n1 reads merged sectors ms writes merged sectors ms in_flight io_ms weighted_ms …
            var fields = new FieldReader(line);
            if (!fields.Skip(2) || !fields.TryNext(out var device) || IsIgnored(device))
            {
                continue;
            }

            // in_flight (index 8) is a gauge the kernel has been known to print below zero;
            // such a value is left out rather than failing the line.
            ulong? inFlight = null;
            var complete = true;
            for (var i = 0; i < stats.Length; i++)
            {
                if (!fields.TryNext(out var field))
                {
                    complete = false;
                    break;
                }

                if (SpanParse.TryUInt64(field, out var value))
                {
                    stats[i] = value;
                    if (i == 8)
                    {
                        inFlight = value;
                    }
                }
                else if (i != 8)
                {
                    complete = false;
                    break;
                }
            }

            if (!complete)
            {
                continue;
            }

            disks.Add(new DiskSample(
                device.ToString(),
                ReadsCompleted: stats[0],
                WritesCompleted: stats[4],
                ReadBytes: stats[2] * SectorBytes,
                WrittenBytes: stats[6] * SectorBytes,
                ReadTimeSeconds: stats[3] / 1000.0,
                WriteTimeSeconds: stats[7] / 1000.0,
                IoTimeSeconds: stats[9] / 1000.0,
                IoInProgress: inFlight));
        }

        return disks;
    }

    /// <summary>
    /// node_exporter's default device exclusion,
    /// <c>^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$</c>, without a regex.
    /// </summary>
    internal static bool IsIgnored(ReadOnlySpan<char> device)
    {
        if (StripPrefix(device, "ram", out var rest) || StripPrefix(device, "loop", out rest) || StripPrefix(device, "fd", out rest))
        {
            return SpanParse.IsDigits(rest);
        }

        // (h|s|v|xv)d[a-z]\d+ : a partition of an IDE, SCSI, virtio or Xen disk.
        if (StripPrefix(device, "xvd", out rest) || StripPrefix(device, "hd", out rest) || StripPrefix(device, "sd", out rest) || StripPrefix(device, "vd", out rest))
        {
            return rest.Length >= 2 && char.IsAsciiLetterLower(rest[0]) && SpanParse.IsDigits(rest[1..]);
        }

        // nvme\d+n\d+p\d+ : an NVMe namespace's partition.
        if (StripPrefix(device, "nvme", out rest))
        {
            return SkipDigits(ref rest) && StripPrefix(rest, "n", out rest)
                && SkipDigits(ref rest) && StripPrefix(rest, "p", out rest)
                && SpanParse.IsDigits(rest);
        }

        return false;
    }

    private static bool StripPrefix(ReadOnlySpan<char> text, ReadOnlySpan<char> prefix, out ReadOnlySpan<char> rest)
    {
        if (text.StartsWith(prefix, StringComparison.Ordinal))
        {
            rest = text[prefix.Length..];
            return true;
        }

        rest = default;
        return false;
    }

    // Consumes one or more leading digits; false when there is none.
    private static bool SkipDigits(ref ReadOnlySpan<char> text)
    {
        var end = text.IndexOfAnyExceptInRange('0', '9');
        if (end == 0 || text.IsEmpty)
        {
            return false;
        }

        text = end < 0 ? default : text[end..];
        return true;
    }
}
