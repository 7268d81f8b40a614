using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Procfs;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Power;

/// <summary>
/// Reads CPU and DRAM energy from RAPL (<c>/sys/class/powercap/intel-rapl:N</c> and its
/// subzones <c>intel-rapl:N:M</c>, and <c>amd-rapl:*</c> where a kernel names them so) and
/// power meters from hwmon (<c>power*_input</c> or <c>power*_average</c>, e.g. the ACPI
/// <c>power_meter</c>). RAPL counters are wrap-around corrected per zone and only grow while
/// the agent runs. Since Linux 5.10 <c>energy_uj</c> is readable by root only: the snapshot
/// then carries <see cref="PowerSnapshot.PermissionNote"/> and the warning is logged once.
/// </summary>
public sealed class PowerCollector : ICollector<PowerSnapshot>
{
    /// <summary>The note carried by every snapshot while RAPL counters cannot be read.</summary>
    public const string RaplPermissionNote =
        "RAPL energy counters under /sys/class/powercap are readable by root only; run the agent as root or grant read access to report CPU and DRAM energy.";

    private static readonly string[] RaplPrefixes = ["intel-rapl:", "amd-rapl:"];

    private readonly string _sysRoot;
    private readonly string _powercapDir;
    private readonly Func<string, string?> _reader;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, RaplCounter> _counters = new(StringComparer.Ordinal);
    private readonly Dictionary<string, int> _packageOfZone = new(StringComparer.Ordinal);
    private readonly Func<string, string?> _readerAllowingDenied;
    private bool _permissionLogged;

    public PowerCollector(HostPaths paths, ILogger<PowerCollector> logger)
        : this(paths, logger, KernelFile.TryReadText)
    {
    }

    /// <param name="paths">Where sysfs is.</param>
    /// <param name="logger">Where the one-time permission warning goes.</param>
    /// <param name="reader">
    /// Reads a file, null when it is missing; throws <see cref="UnauthorizedAccessException"/>
    /// when it may not be read (tests inject this: as root, a mode-000 file still reads).
    /// </param>
    internal PowerCollector(HostPaths paths, ILogger logger, Func<string, string?> reader)
    {
        ArgumentNullException.ThrowIfNull(paths);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(reader);
        _sysRoot = paths.Sys;
        _powercapDir = Path.Combine(paths.Sys, "class", "powercap");
        _reader = reader;
        _readerAllowingDenied = ReadAllowingDenied;
        _logger = logger;
    }

    public string Name => "power";

    public ValueTask<PowerSnapshot> CollectAsync(CancellationToken cancellationToken)
    {
        var rapl = new List<RaplDomainSample>();
        string? note = null;

        // The sampler may still be running a timed-out reading when the next one starts:
        // the counters' state is updated by one reading at a time.
        lock (_gate)
        {
            foreach (var zone in FindZones())
            {
                var sample = ReadZone(zone, ref note);
                if (sample is not null)
                {
                    rapl.Add(sample);
                }
            }
        }

        var meters = ReadMeters();
        return ValueTask.FromResult(new PowerSnapshot(rapl, meters, note));
    }

    /// <summary>A RAPL zone directory: <c>intel-rapl:0</c> (top) or <c>intel-rapl:0:1</c> (sub).</summary>
    private readonly record struct Zone(string Id, string Dir, string? ParentId);

    private List<Zone> FindZones()
    {
        var zones = new List<Zone>();
        if (!Directory.Exists(_powercapDir))
        {
            return zones;
        }

        // intel-rapl-mmio:* duplicates the package domain through another interface and
        // would count the package twice, so only the MSR zones are read.
        foreach (var dir in Directory.EnumerateDirectories(_powercapDir))
        {
            var id = Path.GetFileName(dir);
            foreach (var prefix in RaplPrefixes)
            {
                if (!id.StartsWith(prefix, StringComparison.Ordinal))
                {
                    continue;
                }

                var numbers = id.AsSpan(prefix.Length);
                var colon = numbers.IndexOf(':');
                string? parent = colon < 0 ? null : id[..(prefix.Length + colon)];
                zones.Add(new Zone(id, dir, parent));
            }
        }

        // Top zones first so a subzone finds its package; ordinal order keeps output stable.
        zones.Sort(static (a, b) => (a.ParentId is null) != (b.ParentId is null)
            ? (a.ParentId is null ? -1 : 1)
            : string.CompareOrdinal(a.Id, b.Id));
        return zones;
    }

    private RaplDomainSample? ReadZone(Zone zone, ref string? note)
    {
        var name = KernelFile.TryReadLine(_reader, Path.Combine(zone.Dir, "name"));
        if (name is null)
        {
            return null;
        }

        int package;
        string domain;
        if (zone.ParentId is null)
        {
            // "package-1" → socket 1; "psys" (platform) is its own domain, on socket 0
            // unless its name carries a number.
            var dash = name.IndexOf('-', StringComparison.Ordinal);
            domain = dash < 0 ? name : name[..dash];
            package = dash >= 0 && int.TryParse(name.AsSpan(dash + 1), System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var p) ? p : 0;
            _packageOfZone[zone.Id] = package;
        }
        else
        {
            // dram, core, uncore: on the parent zone's socket.
            domain = name;
            if (!_packageOfZone.TryGetValue(zone.ParentId, out package))
            {
                return null;
            }
        }

        var energyPath = Path.Combine(zone.Dir, "energy_uj");
        ulong? raw;
        try
        {
            raw = KernelFile.TryReadUInt64(_reader, energyPath);
        }
        catch (UnauthorizedAccessException ex)
        {
            note = RaplPermissionNote;
            if (!_permissionLogged)
            {
                _permissionLogged = true;
                HostLog.RaplPermissionDenied(_logger, energyPath, ex);
            }

            return null;
        }

        if (raw is null)
        {
            HostLog.RaplZoneUnreadable(_logger, zone.Id);
            return null;
        }

        ulong? range;
        try
        {
            range = KernelFile.TryReadUInt64(_reader, Path.Combine(zone.Dir, "max_energy_range_uj"));
        }
        catch (UnauthorizedAccessException)
        {
            range = null;
        }

        if (!_counters.TryGetValue(zone.Id, out var counter))
        {
            counter = new RaplCounter();
            _counters.Add(zone.Id, counter);
        }

        var previous = counter.LastRaw;
        var joules = counter.Update(raw.Value, range, out var reset);
        if (reset)
        {
            HostLog.RaplCounterReset(_logger, zone.Id, previous ?? 0, raw.Value);
        }

        return new RaplDomainSample(package, domain, zone.Id, joules);
    }

    private List<PowerMeterSample> ReadMeters()
    {
        var meters = new List<PowerMeterSample>();
        foreach (var device in Hwmon.Devices(_sysRoot, _readerAllowingDenied))
        {
            var inputs = Hwmon.Channels(device.Directory, "power", "input");
            var averages = Hwmon.Channels(device.Directory, "power", "average");
            foreach (var channel in averages)
            {
                if (!inputs.Contains(channel))
                {
                    inputs.Add(channel);
                }
            }

            inputs.Sort();
            foreach (var channel in inputs)
            {
                // power*_input is the instantaneous reading; meters that only average
                // (ACPI power_meter) expose power*_average instead. Both are in µW.
                var microwatts = KernelFile.TryReadUInt64(_readerAllowingDenied, Path.Combine(device.Directory, $"power{channel}_input"))
                    ?? KernelFile.TryReadUInt64(_readerAllowingDenied, Path.Combine(device.Directory, $"power{channel}_average"));
                if (microwatts is null)
                {
                    continue;
                }

                var label = KernelFile.TryReadLine(_readerAllowingDenied, Path.Combine(device.Directory, $"power{channel}_label"));
                meters.Add(new PowerMeterSample(device.Chip, label is { Length: > 0 } ? label : $"power{channel}", microwatts.Value / 1e6));
            }
        }

        return meters;
    }

    private string? ReadAllowingDenied(string path)
    {
        try
        {
            return _reader(path);
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
