using System.Globalization;
using System.Net.Http.Headers;

namespace Gantry.FleetBench;

/// <summary>
/// CPU and memory over one stretch of the run, from /proc: the server's utime+stime and VmRSS
/// (sampled every second for the peak), this driver's own CPU (it shares the machine), the whole
/// machine's busy share (/proc/stat) and the load average at both ends.
/// </summary>
internal sealed class ResourceWindow
{
    private readonly int? _serverPid;
    private readonly long _serverTicks;
    private readonly long _selfTicks;
    private readonly (long Busy, long Total) _machine;
    private readonly string _loadAtStart;
    private readonly long _started = Environment.TickCount64;
    private long _peakRssKb;

    public ResourceWindow(int? serverPid)
    {
        _serverPid = serverPid;
        _serverTicks = serverPid is { } pid ? Proc.CpuTicks(pid) ?? 0 : 0;
        _selfTicks = Proc.CpuTicks(Environment.ProcessId) ?? 0;
        _machine = Proc.MachineJiffies();
        _loadAtStart = Proc.LoadAverage();
        Sample();
    }

    /// <summary>Reads the server's RSS and keeps the peak.</summary>
    public void Sample()
    {
        if (_serverPid is { } pid && Proc.RssKb(pid) is { } kb)
        {
            long seen;
            while (kb > (seen = Interlocked.Read(ref _peakRssKb)) && Interlocked.CompareExchange(ref _peakRssKb, kb, seen) != seen)
            {
            }
        }
    }

    /// <summary>Adds the window's figures; returns the server's CPU seconds over it, or null when they could not be read.</summary>
    public double? Report(Results results, string phase)
    {
        Sample();
        var seconds = (Environment.TickCount64 - _started) / 1000.0;
        double? serverCpu = null;
        if (seconds <= 0)
        {
            return null;
        }

        // Clock ticks are 1/100 s (USER_HZ); a reading that failed is left out.
        if (_serverPid is { } pid && Proc.CpuTicks(pid) is { } serverTicks)
        {
            serverCpu = (serverTicks - _serverTicks) / 100.0;
            results.Add(phase, "server_cpu_s", serverCpu.Value, "F1");
            results.Add(phase, "server_cpu_pct", 100.0 * serverCpu.Value / seconds, "F0");
            results.Add(phase, "server_rss_mb", Interlocked.Read(ref _peakRssKb) / 1024.0, "F0");
        }

        if (Proc.CpuTicks(Environment.ProcessId) is { } selfTicks)
        {
            results.Add(phase, "driver_cpu_pct", 100.0 * (selfTicks - _selfTicks) / 100.0 / seconds, "F0");
        }

        var machine = Proc.MachineJiffies();
        if (machine.Total > _machine.Total)
        {
            results.Add(phase, "machine_busy_pct", 100.0 * (machine.Busy - _machine.Busy) / (machine.Total - _machine.Total), "F0");
        }

        results.Add(phase, "load", $"{_loadAtStart} -> {Proc.LoadAverage()}");
        return serverCpu;
    }
}

/// <summary>Readings from /proc; null where one failed.</summary>
internal static class Proc
{
    /// <summary>utime + stime of a process in clock ticks (fields 14 and 15 of /proc/PID/stat).</summary>
    public static long? CpuTicks(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    /// <summary>VmRSS of a process in KiB.</summary>
    public static long? RssKb(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                {
                    return long.Parse(line.AsSpan(6).Trim().TrimEnd("kB").Trim(), CultureInfo.InvariantCulture);
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            return null;
        }

        return null;
    }

    /// <summary>The machine's busy and total jiffies over all CPUs (first line of /proc/stat; idle and iowait are not busy).</summary>
    public static (long Busy, long Total) MachineJiffies()
    {
        try
        {
            var first = File.ReadLines("/proc/stat").First();
            var values = first.Split(' ', StringSplitOptions.RemoveEmptyEntries).Skip(1).Take(8).Select(v => long.Parse(v, CultureInfo.InvariantCulture)).ToArray();
            var total = values.Sum();
            return (total - values[3] - values[4], total);
        }
        catch (Exception ex) when (ex is IOException or FormatException or IndexOutOfRangeException)
        {
            return (0, 0);
        }
    }

    /// <summary>The 1-, 5- and 15-minute load averages.</summary>
    public static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "?";
        }
    }
}

/// <summary>Reads the server's /metrics (admin token) on a connection of its own, so it never waits behind heartbeats.</summary>
internal sealed class ServerMetrics(Uri server, string adminToken) : IDisposable
{
    private readonly HttpClient _http = new(new SocketsHttpHandler { MaxConnectionsPerServer = 1, UseProxy = false })
    {
        BaseAddress = server,
        Timeout = TimeSpan.FromSeconds(30),
    };

    /// <summary>Every sample without labels, and labelled ones as <c>name{labels}</c>; null when the scrape failed.</summary>
    public async Task<Dictionary<string, double>?> ScrapeAsync(CancellationToken cancellationToken)
    {
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", adminToken);
            using var response = await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return null;
            }

            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            var values = new Dictionary<string, double>(StringComparer.Ordinal);
            foreach (var line in text.Split('\n'))
            {
                if (line.Length == 0 || line[0] == '#')
                {
                    continue;
                }

                var space = line.LastIndexOf(' ');
                if (space > 0 && double.TryParse(line.AsSpan(space + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var v))
                {
                    values[line[..space]] = v;
                }
            }

            return values;
        }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
        {
            return null;
        }
    }

    public void Dispose() => _http.Dispose();
}

/// <summary>Names of the server's samples the benchmark reads.</summary>
internal static class Samples
{
    public const string Placements = "gantry_server_placements_total";
    public const string Heartbeats = "gantry_server_heartbeats_total";
    public const string TelemetryDropped = "gantry_server_telemetry_summaries_dropped_total";
    public const string PassSum = "gantry_server_scheduling_pass_seconds_sum";
    public const string PassCount = "gantry_server_scheduling_pass_seconds_count";

    public static string Nodes(string state) => $"gantry_server_nodes{{state=\"{state}\"}}";

    public static string Jobs(string state) => $"gantry_server_jobs{{state=\"{state}\"}}";

    public static double Get(this Dictionary<string, double>? metrics, string name) =>
        metrics is not null && metrics.TryGetValue(name, out var v) ? v : double.NaN;
}
