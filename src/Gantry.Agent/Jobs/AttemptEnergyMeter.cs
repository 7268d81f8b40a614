using System.Globalization;
using System.Runtime.InteropServices;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Power;

namespace Gantry.Agent.Jobs;

/// <summary>
/// Measures what each running attempt uses. GPUs are never shared, so a GPU's energy counter
/// belongs to the one attempt bound to it: the meter reads each assigned GPU's counter just
/// before the attempt's process starts (<see cref="Begin"/>), at every sample while it runs
/// (<see cref="Sample"/>) and just after it exits (<see cref="End"/>), and adds up the deltas. Where
/// a GPU has no counter (or a reading is missing) the interval's energy is its power integrated
/// (trapezoids between readings) and the figure is marked estimated. CPU package and DRAM energy
/// (RAPL) is shared among the attempts at each sample by their process groups' CPU time, as a share
/// of the node's busy CPU time (so work outside any job is not charged to one), and is an estimate.
/// Thread-safe: one lock; a sample walks <c>/proc</c> once for every attempt together.
/// </summary>
internal sealed partial class AttemptEnergyMeter
{
    private readonly Lock _gate = new();
    private readonly Dictionary<AttemptKey, Metered> _attempts = [];
    private readonly IGpuEnergyReader? _reader;
    private readonly bool _simulated;
    private readonly string _procPath;
    private readonly TimeProvider _time;
    private readonly double _ticksPerSecond;
    private double? _lastBusyCpuSeconds;
    private Dictionary<string, double>? _lastRapl;

    /// <param name="reader">Reads a GPU's counter now; null where there is none (simulated GPUs: the samples alone are used).</param>
    /// <param name="procPath">Where procfs is (the agent's <c>--proc-path</c>).</param>
    /// <param name="time">The clock.</param>
    /// <param name="simulated">True when the GPUs are simulated (<c>--simulate-gpus</c>): every report says so.</param>
    public AttemptEnergyMeter(IGpuEnergyReader? reader, string procPath, TimeProvider time, bool simulated = false)
    {
        ArgumentNullException.ThrowIfNull(procPath);
        ArgumentNullException.ThrowIfNull(time);
        _reader = reader;
        _simulated = simulated;
        _procPath = procPath;
        _time = time;
        _ticksPerSecond = ClockTicksPerSecond();
    }

    /// <summary>
    /// Whether the server reads attempts' energy (its registration or heartbeat said so): ended
    /// events carry the final figures only then.
    /// </summary>
    public bool ServerAccepts { get; set; }

    /// <summary>Starts metering an attempt on <paramref name="gpus"/>: reads their counters now. Call just before its process starts.</summary>
    public void Begin(AttemptKey key, IReadOnlyList<int> gpus)
    {
        ArgumentNullException.ThrowIfNull(gpus);
        var meters = new GpuMeter[gpus.Count];
        var estimated = false;
        DateTimeOffset? first = null;
        for (var i = 0; i < gpus.Count; i++)
        {
            meters[i] = new GpuMeter(gpus[i]);
            if (_reader?.ReadEnergy(gpus[i]) is { } reading)
            {
                // Stamped when the reading is in hand: a read may wait for the sampler's.
                var at = _time.GetUtcNow();
                first ??= at;
                meters[i].Observe(reading.EnergyJoules, reading.PowerWatts, at, ref estimated);
            }
        }

        var metered = new Metered(first ?? _time.GetUtcNow(), meters) { Estimated = estimated };

        lock (_gate)
        {
            _attempts[key] = metered;
        }
    }

    /// <summary>The attempt's process started as <paramref name="pid"/> (the leader of its process group).</summary>
    public void Attach(AttemptKey key, int pid)
    {
        lock (_gate)
        {
            if (_attempts.TryGetValue(key, out var metered))
            {
                metered.Pid = pid;
            }
        }
    }

    /// <summary>Forgets an attempt whose process never started.</summary>
    public void Cancel(AttemptKey key)
    {
        lock (_gate)
        {
            _attempts.Remove(key);
        }
    }

    /// <summary>
    /// The attempt's process exited: reads its GPUs' counters a last time, stops metering it and
    /// returns its final figures (null when it was not metered).
    /// </summary>
    public AttemptEnergyReport? End(AttemptKey key)
    {
        Metered? metered;
        lock (_gate)
        {
            if (!_attempts.Remove(key, out metered))
            {
                return null;
            }
        }

        DateTimeOffset? last = null;
        foreach (var gpu in metered.Gpus)
        {
            if (_reader?.ReadEnergy(gpu.Index) is { } reading)
            {
                last = _time.GetUtcNow();
                gpu.Observe(reading.EnergyJoules, reading.PowerWatts, last.Value, ref metered.Estimated);
            }
        }

        metered.MeasuredAt = last ?? _time.GetUtcNow();
        return metered.Report(key) with { Simulated = _simulated };
    }

    /// <summary>The figures of every attempt metered now, as of the latest sample (heartbeats carry them).</summary>
    public List<AttemptEnergyReport> Current()
    {
        lock (_gate)
        {
            var reports = new List<AttemptEnergyReport>(_attempts.Count);
            foreach (var (key, metered) in _attempts)
            {
                reports.Add(metered.Report(key) with { Simulated = _simulated });
            }

            return reports;
        }
    }

    /// <summary>Takes one sample's readings: each metered GPU's counter and power, and the node's RAPL and CPU times.</summary>
    public void Sample(NodeSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        lock (_gate)
        {
            var busy = BusyCpuSeconds(snapshot.Host.Cpu);
            var rapl = RaplJoules(snapshot.Power);
            if (_attempts.Count > 0)
            {
                SampleGpus(snapshot);
                ShareCpuEnergy(busy, rapl);
            }

            _lastBusyCpuSeconds = busy;
            _lastRapl = rapl;
        }
    }

    private void SampleGpus(NodeSnapshot snapshot)
    {
        var now = snapshot.Timestamp;
        foreach (var metered in _attempts.Values)
        {
            double? total = null;
            foreach (var gpu in metered.Gpus)
            {
                var sample = Find(snapshot.Gpus.Gpus, gpu.Index);
                if (sample is null || sample.Lost)
                {
                    // Nothing read this time: the next reading covers the interval.
                    continue;
                }

                gpu.Observe(sample.EnergyJoules, sample.PowerWatts, now, ref metered.Estimated);
                if (sample.PowerWatts is { } watts)
                {
                    total = (total ?? 0) + watts;
                }
            }

            if (total is { } t && (metered.PeakWatts is not { } peak || t > peak))
            {
                metered.PeakWatts = t;
            }

            metered.MeasuredAt = now;
        }
    }

    /// <summary>
    /// Shares the RAPL energy since the previous sample among the attempts by their CPU time in
    /// the interval, as a share of the node's busy CPU time (or of the attempts' sum, should that be
    /// larger: the two are read a moment apart).
    /// </summary>
    private void ShareCpuEnergy(double? busy, Dictionary<string, double>? rapl)
    {
        var cpu = ReadGroupCpuSeconds();
        double? energy = null;
        if (rapl is not null && _lastRapl is not null)
        {
            foreach (var (zone, joules) in rapl)
            {
                if (_lastRapl.TryGetValue(zone, out var before) && joules >= before)
                {
                    energy = (energy ?? 0) + (joules - before);
                }
            }
        }

        double jobsCpu = 0;
        foreach (var metered in _attempts.Values)
        {
            var now = metered.Pid is { } pid && cpu.TryGetValue(pid, out var seconds) ? seconds : metered.LastCpuSeconds;

            // A process that ended unreaped takes its time with it: CPU time never counts backwards.
            metered.IntervalCpuSeconds = Math.Max(0, now - metered.LastCpuSeconds);
            metered.LastCpuSeconds = Math.Max(now, metered.LastCpuSeconds);
            jobsCpu += metered.IntervalCpuSeconds;
        }

        var nodeCpu = busy is { } b && _lastBusyCpuSeconds is { } lb ? Math.Max(0, b - lb) : 0;
        var denominator = Math.Max(nodeCpu, jobsCpu);
        foreach (var metered in _attempts.Values)
        {
            if (energy is not { } joules)
            {
                continue;
            }

            metered.CpuJoules = (metered.CpuJoules ?? 0) + (denominator > 0 ? joules * metered.IntervalCpuSeconds / denominator : 0);
        }
    }

    /// <summary>CPU seconds (user + system, with reaped children's) per process group leader among the metered attempts.</summary>
    private Dictionary<int, double> ReadGroupCpuSeconds()
    {
        var groups = new Dictionary<int, double>();
        foreach (var metered in _attempts.Values)
        {
            if (metered.Pid is { } pid)
            {
                groups[pid] = 0;
            }
        }

        if (groups.Count == 0 || !Directory.Exists(_procPath))
        {
            return groups;
        }

        var seen = new HashSet<int>();
        foreach (var dir in Directory.EnumerateDirectories(_procPath))
        {
            if (!int.TryParse(Path.GetFileName(dir.AsSpan()), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string text;
            try
            {
                text = File.ReadAllText(Path.Combine(dir, "stat"));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                continue;
            }

            if (ParseCpu(text) is not { } stat)
            {
                continue;
            }

            // The leader's group is the attempt's (setsid); without setsid the leader alone is counted.
            var group = groups.ContainsKey(stat.ProcessGroup) ? stat.ProcessGroup : groups.ContainsKey(pid) ? pid : 0;
            if (group != 0 && seen.Add(pid))
            {
                groups[group] += stat.Ticks / _ticksPerSecond;
            }
        }

        return groups;
    }

    /// <summary>The process group and utime + stime + cutime + cstime (clock ticks) of a <c>stat</c> line.</summary>
    internal static (int ProcessGroup, double Ticks)? ParseCpu(string text)
    {
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        // After ") ": state(3) ppid(4) pgrp(5) … utime(14) stime(15) cutime(16) cstime(17).
        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length <= 14 || !int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var group))
        {
            return null;
        }

        double ticks = 0;
        for (var i = 11; i <= 14; i++)
        {
            if (!long.TryParse(fields[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value))
            {
                return null;
            }

            ticks += Math.Max(0, value);
        }

        return (group, ticks);
    }

    private static double? BusyCpuSeconds(CpuSample? cpu)
    {
        if (cpu is null || cpu.Cores.Count == 0)
        {
            return null;
        }

        double busy = 0;
        foreach (var core in cpu.Cores)
        {
            busy += core.User + core.Nice + core.System + core.Irq + core.SoftIrq + core.Steal;
        }

        return busy;
    }

    /// <summary>Package and DRAM counters by zone (core and uncore are parts of the package, psys the whole platform).</summary>
    private static Dictionary<string, double>? RaplJoules(PowerSnapshot? power)
    {
        if (power is null)
        {
            return null;
        }

        Dictionary<string, double>? zones = null;
        foreach (var domain in power.Rapl)
        {
            if (domain.Domain is "package" or "dram")
            {
                (zones ??= new(StringComparer.Ordinal))[domain.Zone] = domain.EnergyJoules;
            }
        }

        return zones;
    }

    private static GpuSample? Find(IReadOnlyList<GpuSample> gpus, int index)
    {
        foreach (var gpu in gpus)
        {
            if (gpu.Index == index)
            {
                return gpu;
            }
        }

        return null;
    }

    private static double ClockTicksPerSecond()
    {
        if (OperatingSystem.IsLinux())
        {
            const int scClkTck = 2;
            var ticks = SysConf(scClkTck);
            if (ticks > 0)
            {
                return ticks;
            }
        }

        return 100;
    }

    [LibraryImport("libc", EntryPoint = "sysconf")]
    private static partial long SysConf(int name);

    /// <summary>One attempt being metered. Guarded by the meter's lock (its GPUs also by <see cref="Begin"/> and <see cref="End"/>, which own it then).</summary>
    private sealed class Metered(DateTimeOffset since, GpuMeter[] gpus)
    {
        public DateTimeOffset Since { get; } = since;
        public GpuMeter[] Gpus { get; } = gpus;
        public DateTimeOffset MeasuredAt { get; set; } = since;
        public int? Pid { get; set; }
        public double? PeakWatts { get; set; }
        public double? CpuJoules { get; set; }
        public double LastCpuSeconds { get; set; }
        public double IntervalCpuSeconds { get; set; }
        public bool Estimated;

        public AttemptEnergyReport Report(AttemptKey key)
        {
            double gpu = 0;
            foreach (var g in Gpus)
            {
                gpu += g.Joules;
            }

            var seconds = (MeasuredAt - Since).TotalSeconds;
            double? average = Gpus.Length > 0 && seconds > 0 ? gpu / seconds : null;
            // Samples can miss the highest draw that the counters saw: the peak is at least the average.
            var peak = PeakWatts is { } p && average is { } a ? Math.Max(p, a) : PeakWatts;
            return new AttemptEnergyReport
            {
                JobId = key.JobId,
                Attempt = key.Attempt,
                Epoch = key.Epoch,
                Since = Since,
                MeasuredAt = MeasuredAt,
                GpuEnergyJoules = gpu,
                CpuEnergyJoules = CpuJoules,
                AverageGpuPowerWatts = average,
                PeakGpuPowerWatts = peak,
                Estimated = Estimated || CpuJoules is not null,
            };
        }
    }

    /// <summary>One GPU of a metered attempt: its last readings and the energy counted so far.</summary>
    private sealed class GpuMeter(int index)
    {
        private double? _lastCounter;
        private double? _lastPower;
        private DateTimeOffset? _lastTime;

        public int Index { get; } = index;

        public double Joules { get; private set; }

        /// <summary>
        /// Adds the interval since the previous reading: the counter's delta when both ends have one
        /// (exact), else the power integrated over it (estimated). The first reading only sets the start.
        /// </summary>
        public void Observe(double? counter, double? power, DateTimeOffset time, ref bool estimated)
        {
            // A sample collected before the latest direct reading arrives after it: it says nothing new.
            if ((_lastTime is { } previous && time < previous) || (counter is { } now && _lastCounter is { } then && now < then))
            {
                return;
            }

            if (_lastTime is { } last)
            {
                var seconds = Math.Max(0, (time - last).TotalSeconds);
                if (counter is { } c && _lastCounter is { } lc)
                {
                    Joules += c - lc;
                }
                else if (seconds > 0)
                {
                    var before = _lastPower ?? power;
                    var after = power ?? _lastPower;
                    if (before is { } b && after is { } a)
                    {
                        Joules += (b + a) / 2 * seconds;
                    }

                    estimated = true;
                }
            }
            else if (counter is null)
            {
                estimated = true;
            }

            _lastTime = time;
            _lastCounter = counter;
            _lastPower = power ?? _lastPower;
        }
    }
}
