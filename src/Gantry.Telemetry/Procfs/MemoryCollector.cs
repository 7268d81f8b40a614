using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Procfs;

/// <summary>
/// Reads the machine's memory from <c>/proc/meminfo</c> (the kernel's figures in kB, reported
/// in bytes). This is the whole machine as the kernel sees it, not the agent's process or
/// its cgroup.
/// </summary>
public sealed class MemoryCollector : ICollector<MemorySample>
{
    private readonly string _memInfoPath;

    public MemoryCollector(HostPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        _memInfoPath = Path.Combine(paths.Proc, "meminfo");
    }

    public string Name => "memory";

    public ValueTask<MemorySample> CollectAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(Parse(File.ReadAllText(_memInfoPath)));

    internal static MemorySample Parse(string memInfo)
    {
        ulong? total = null, available = null, free = null, cached = null, buffers = null, swapTotal = null, swapFree = null;
        foreach (var line in memInfo.AsSpan().EnumerateLines())
        {
            // MemTotal:       16333708 kB
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var key = line[..colon];
            var fields = new FieldReader(line[(colon + 1)..]);
            if (!fields.TryNextUInt64(out var value))
            {
                continue;
            }

            // Every size line carries "kB"; a line without a unit is a count (HugePages_*).
            var bytes = fields.TryNext(out var unit) && unit.SequenceEqual("kB") ? value * 1024 : value;
            switch (key)
            {
                case "MemTotal":
                    total = bytes;
                    break;
                case "MemAvailable":
                    available = bytes;
                    break;
                case "MemFree":
                    free = bytes;
                    break;
                case "Cached":
                    cached = bytes;
                    break;
                case "Buffers":
                    buffers = bytes;
                    break;
                case "SwapTotal":
                    swapTotal = bytes;
                    break;
                case "SwapFree":
                    swapFree = bytes;
                    break;
                default:
                    break;
            }
        }

        if (total is null)
        {
            throw new InvalidDataException("/proc/meminfo has no MemTotal line.");
        }

        return new MemorySample(total.Value, available, free, cached, buffers, swapTotal, swapFree);
    }
}
