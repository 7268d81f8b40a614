using System.Reflection;
using Gantry.Telemetry.Apps;
using Gantry.Telemetry.Model;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Collection;

/// <summary>
/// Takes one <see cref="NodeSnapshot"/> per call: runs every collector at once, each isolated
/// under <see cref="SamplerSettings.CollectorTimeout"/>, then derives what needs two samples
/// (tokens per second and per joule, node power from RAPL deltas). Not thread-safe: one
/// caller, the sampling loop.
/// </summary>
public sealed class Sampler
{
    private readonly CollectorSet _set;
    private readonly SamplerSettings _settings;
    private readonly TimeProvider _time;
    private readonly CollectorRunner<CpuSample> _cpu;
    private readonly CollectorRunner<MemorySample> _memory;
    private readonly CollectorRunner<IReadOnlyList<DiskSample>>? _disks;
    private readonly CollectorRunner<IReadOnlyList<FilesystemSample>>? _filesystems;
    private readonly CollectorRunner<IReadOnlyList<NetworkSample>>? _network;
    private readonly CollectorRunner<IReadOnlyList<TemperatureSample>>? _temperatures;
    private readonly CollectorRunner<PowerSnapshot>? _power;
    private readonly CollectorRunner<GpuSnapshot>? _gpus;
    private readonly CollectorRunner<IReadOnlyList<AppScrape>>? _apps;
    private readonly DateTimeOffset _startTime;
    private readonly string _version;
    private NodeSnapshot? _previous;
    private IReadOnlyList<AppScrape>? _previousScrapes;
    private long _sequence;

    public Sampler(CollectorSet set, SamplerSettings settings, TimeProvider timeProvider, ILogger<Sampler> logger)
    {
        ArgumentNullException.ThrowIfNull(set);
        ArgumentNullException.ThrowIfNull(settings);
        _set = set;
        _settings = settings;
        _time = timeProvider;
        _cpu = new(set.Cpu, timeProvider, logger);
        _memory = new(set.Memory, timeProvider, logger);
        _disks = Runner(set.Disks, timeProvider, logger);
        _filesystems = Runner(set.Filesystems, timeProvider, logger);
        _network = Runner(set.Network, timeProvider, logger);
        _temperatures = Runner(set.Temperatures, timeProvider, logger);
        _power = Runner(set.Power, timeProvider, logger);
        _gpus = Runner(set.Gpus, timeProvider, logger);
        _apps = Runner(set.Apps, timeProvider, logger);
        _startTime = timeProvider.GetUtcNow();
        _version = typeof(Sampler).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";
    }

    /// <summary>The agent's version as built.</summary>
    public string Version => _version;

    /// <summary>When the sampler was created (the agent's start).</summary>
    public DateTimeOffset StartTime => _startTime;

    private static CollectorRunner<T>? Runner<T>(ICollector<T>? collector, TimeProvider time, ILogger logger) where T : class =>
        collector is null ? null : new CollectorRunner<T>(collector, time, logger);

    /// <summary>Runs every collector once and returns the new snapshot.</summary>
    public async Task<NodeSnapshot> SampleAsync(CancellationToken cancellationToken)
    {
        var timeout = _settings.CollectorTimeout;
        var tasks = new List<Task>(9) { _cpu.RunAsync(timeout, cancellationToken), _memory.RunAsync(timeout, cancellationToken) };
        Add(tasks, _disks, timeout, cancellationToken);
        Add(tasks, _filesystems, timeout, cancellationToken);
        Add(tasks, _network, timeout, cancellationToken);
        Add(tasks, _temperatures, timeout, cancellationToken);
        Add(tasks, _power, timeout, cancellationToken);
        Add(tasks, _gpus, timeout, cancellationToken);
        Add(tasks, _apps, timeout, cancellationToken);
        await Task.WhenAll(tasks).ConfigureAwait(false);

        var now = _time.GetUtcNow();
        var id = _set.Identity;
        var host = new HostSnapshot(
            id.Hostname, id.OperatingSystem, id.Architecture, id.KernelVersion,
            _cpu.Value, _memory.Value, _disks?.Value, _filesystems?.Value, _network?.Value, _temperatures?.Value);

        var gpus = _gpus is null
            ? GpuSnapshot.Unavailable("no GPU source: NVML is disabled (--no-nvml) and --simulate-gpus is not set")
            : _gpus.Value ?? new GpuSnapshot("error", _gpus.Status.LastError, null, null, null, []);

        var statuses = new List<CollectorStatus>(9) { _cpu.Status, _memory.Status };
        AddStatus(statuses, _disks);
        AddStatus(statuses, _filesystems);
        AddStatus(statuses, _network);
        AddStatus(statuses, _temperatures);
        AddStatus(statuses, _power);
        AddStatus(statuses, _gpus);
        AddStatus(statuses, _apps);

        var previous = _previous;
        var elapsed = previous is null ? 0 : (now - previous.Timestamp).TotalSeconds;
        var power = _power?.Value;
        var snapshot = new NodeSnapshot
        {
            Sequence = ++_sequence,
            Timestamp = now,
            Host = host,
            Power = power,
            Gpus = gpus,
            Apps = DeriveApps(_apps?.Value, previous, gpus, elapsed),
            NodePower = NodePowerCalculator.Calculate(previous, power, gpus, elapsed, _settings.NodePowerEnvelopeWatts),
            Collectors = statuses,
            Self = new SelfSample(
                _version,
                _startTime,
                Environment.CpuUsage.TotalTime.TotalSeconds,
                (ulong)Environment.WorkingSet,
                (ulong)GC.GetTotalMemory(false),
                (ulong)_sequence),
        };
        _previous = snapshot;
        return snapshot;
    }

    private AppSample[] DeriveApps(IReadOnlyList<AppScrape>? scrapes, NodeSnapshot? previous, GpuSnapshot gpus, double elapsed)
    {
        if (scrapes is null)
        {
            return [];
        }

        var energyDelta = previous is null ? null : AppRateCalculator.EnergyDeltaJoules(previous.Gpus, gpus);

        var samples = new AppSample[scrapes.Count];
        for (var i = 0; i < scrapes.Count; i++)
        {
            var before = FindScrape(_previousScrapes, scrapes[i].Url);
            samples[i] = AppRateCalculator.Calculate(before, scrapes[i], elapsed, energyDelta);
        }

        _previousScrapes = scrapes;
        return samples;
    }

    private static AppScrape? FindScrape(IReadOnlyList<AppScrape>? scrapes, string url)
    {
        if (scrapes is null)
        {
            return null;
        }

        foreach (var s in scrapes)
        {
            if (s.Url == url)
            {
                return s;
            }
        }

        return null;
    }

    private static void Add<T>(List<Task> tasks, CollectorRunner<T>? runner, TimeSpan timeout, CancellationToken cancellationToken) where T : class
    {
        if (runner is not null)
        {
            tasks.Add(runner.RunAsync(timeout, cancellationToken));
        }
    }

    private static void AddStatus<T>(List<CollectorStatus> statuses, CollectorRunner<T>? runner) where T : class
    {
        if (runner is not null)
        {
            statuses.Add(runner.Status);
        }
    }
}

/// <summary>How the sampler runs.</summary>
/// <param name="CollectorTimeout">How long one collector may take before its reading is dropped from a sample.</param>
/// <param name="NodePowerEnvelopeWatts">The node's power envelope, or null when none is set.</param>
public sealed record SamplerSettings(TimeSpan CollectorTimeout, double? NodePowerEnvelopeWatts);
