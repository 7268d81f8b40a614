using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Procfs;

/// <summary>
/// Reads per-CPU times and scheduler counters from <c>/proc/stat</c> and the load average
/// from <c>/proc/loadavg</c>. Times are reported in seconds (the kernel counts in USER_HZ,
/// which is 100 on every Linux ABI).
/// </summary>
public sealed class CpuCollector : ICollector<CpuSample>
{
    private const double UserHz = 100.0;
    private readonly string _statPath;
    private readonly string _loadAvgPath;

    public CpuCollector(HostPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        _statPath = Path.Combine(paths.Proc, "stat");
        _loadAvgPath = Path.Combine(paths.Proc, "loadavg");
    }

    public string Name => "cpu";

    public ValueTask<CpuSample> CollectAsync(CancellationToken cancellationToken)
    {
        // /proc/stat is the collector's reason to exist: without it the reading fails.
        var stat = File.ReadAllText(_statPath);
        var sample = Parse(stat, KernelFile.TryReadText(_loadAvgPath));
        return ValueTask.FromResult(sample);
    }

    internal static CpuSample Parse(string stat, string? loadAvg)
    {
        var cores = new List<CpuCoreTimes>();
        ulong? contextSwitches = null, interrupts = null, forked = null;
        int? running = null, blocked = null;
        double? bootTime = null;

        foreach (var line in stat.AsSpan().EnumerateLines())
        {
            var fields = new FieldReader(line);
            if (!fields.TryNext(out var key))
            {
                continue;
            }

            // cpu0 4705 150 1120 1605130 1213 0 27 0 0 0
            // (the aggregate "cpu" line has no digits after it and is not a core)
            if (key.Length > 3 && key.StartsWith("cpu") && SpanParse.TryInt32(key[3..], out var cpu))
            {
                cores.Add(ParseCore(cpu, ref fields));
                continue;
            }

            switch (key)
            {
                case "ctxt":
                    contextSwitches = NextUInt64(ref fields);
                    break;
                case "intr":
                    // intr <total> <per-irq counts…>: only the total is kept.
                    interrupts = NextUInt64(ref fields);
                    break;
                case "processes":
                    forked = NextUInt64(ref fields);
                    break;
                case "procs_running":
                    running = NextInt32(ref fields);
                    break;
                case "procs_blocked":
                    blocked = NextInt32(ref fields);
                    break;
                case "btime":
                    bootTime = NextUInt64(ref fields);
                    break;
                default:
                    break;
            }
        }

        double? load1 = null, load5 = null, load15 = null;
        if (loadAvg is not null)
        {
            // 0.20 0.18 0.12 1/80 11206
            var fields = new FieldReader(loadAvg);
            load1 = NextDouble(ref fields);
            load5 = NextDouble(ref fields);
            load15 = NextDouble(ref fields);
        }

        return new CpuSample(cores, load1, load5, load15, contextSwitches, interrupts, forked, running, blocked, bootTime, cores.Count);
    }

    private static CpuCoreTimes ParseCore(int cpu, ref FieldReader fields)
    {
        // user nice system idle iowait irq softirq steal [guest guest_nice]; older kernels
        // stop early, and a column they do not have counts as no time spent.
        Span<double> times = stackalloc double[8];
        for (var i = 0; i < times.Length && fields.TryNextUInt64(out var ticks); i++)
        {
            times[i] = ticks / UserHz;
        }

        return new CpuCoreTimes(cpu, times[0], times[1], times[2], times[3], times[4], times[5], times[6], times[7]);
    }

    private static ulong? NextUInt64(ref FieldReader fields) => fields.TryNextUInt64(out var value) ? value : null;

    private static int? NextInt32(ref FieldReader fields) =>
        fields.TryNext(out var field) && SpanParse.TryInt32(field, out var value) ? value : null;

    private static double? NextDouble(ref FieldReader fields) =>
        fields.TryNext(out var field) && SpanParse.TryDouble(field, out var value) ? value : null;
}
