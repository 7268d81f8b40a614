using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Procfs;

/// <summary>
/// Reads temperatures from hwmon (<c>/sys/class/hwmon/hwmon*/temp*_input</c>, with
/// <c>temp*_label</c> as the sensor name) and from thermal zones
/// (<c>/sys/class/thermal/thermal_zone*/temp</c>, with the zone's <c>type</c> as the
/// sensor name). The kernel reports millidegrees Celsius. A sensor that cannot be read right
/// now (many answer <c>EIO</c> while their device sleeps) is left out of that sample.
/// </summary>
public sealed class TemperatureCollector : ICollector<IReadOnlyList<TemperatureSample>>
{
    private readonly string _sysRoot;

    public TemperatureCollector(HostPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        _sysRoot = paths.Sys;
    }

    public string Name => "temperature";

    public ValueTask<IReadOnlyList<TemperatureSample>> CollectAsync(CancellationToken cancellationToken)
    {
        var samples = new List<TemperatureSample>();
        Func<string, string?> reader = ReadAllowingDenied;
        foreach (var device in Hwmon.Devices(_sysRoot, reader))
        {
            foreach (var channel in Hwmon.Channels(device.Directory, "temp", "input"))
            {
                var milli = KernelFile.TryReadInt64(reader, Path.Combine(device.Directory, $"temp{channel}_input"));
                if (milli is null)
                {
                    continue;
                }

                var label = KernelFile.TryReadLine(reader, Path.Combine(device.Directory, $"temp{channel}_label"));
                samples.Add(new TemperatureSample("hwmon", device.Chip, label is { Length: > 0 } ? label : $"temp{channel}", milli.Value / 1000.0));
            }
        }

        AddThermalZones(samples, reader);
        return ValueTask.FromResult<IReadOnlyList<TemperatureSample>>(samples);
    }

    private void AddThermalZones(List<TemperatureSample> samples, Func<string, string?> reader)
    {
        var classDir = Path.Combine(_sysRoot, "class", "thermal");
        if (!Directory.Exists(classDir))
        {
            return;
        }

        var zones = new List<(int Index, string Dir)>();
        foreach (var dir in Directory.EnumerateDirectories(classDir, "thermal_zone*"))
        {
            if (SpanParse.TryInt32(Path.GetFileName(dir.AsSpan())["thermal_zone".Length..], out var index))
            {
                zones.Add((index, dir));
            }
        }

        zones.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        foreach (var (_, dir) in zones)
        {
            var milli = KernelFile.TryReadInt64(reader, Path.Combine(dir, "temp"));
            if (milli is null)
            {
                continue;
            }

            var zone = Path.GetFileName(dir);
            var type = KernelFile.TryReadLine(reader, Path.Combine(dir, "type"));
            samples.Add(new TemperatureSample("thermal_zone", zone, type is { Length: > 0 } ? type : zone, milli.Value / 1000.0));
        }
    }

    // A sensor this user may not read is one sensor fewer, not a failed collector.
    private static string? ReadAllowingDenied(string path)
    {
        try
        {
            return KernelFile.TryReadText(path);
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
