namespace Gantry.Telemetry.Procfs;

/// <summary>One hwmon device and the chip label it is reported under.</summary>
/// <param name="Index">N of <c>hwmonN</c>.</param>
/// <param name="Directory">The device's directory.</param>
/// <param name="Chip">
/// Its <c>name</c> file; when two devices share a name (two sockets' <c>coretemp</c>, several
/// <c>nvme</c> drives) each becomes <c>name-hwmonN</c> so their series never collide.
/// </param>
internal readonly record struct HwmonDevice(int Index, string Directory, string Chip);

/// <summary>Enumerates <c>/sys/class/hwmon/hwmon*</c> and the numbered sensor files inside.</summary>
internal static class Hwmon
{
    /// <summary>The hwmon devices under <paramref name="sysRoot"/>, in index order.</summary>
    public static List<HwmonDevice> Devices(string sysRoot, Func<string, string?> reader)
    {
        var devices = new List<HwmonDevice>();
        var classDir = Path.Combine(sysRoot, "class", "hwmon");
        if (!Directory.Exists(classDir))
        {
            return devices;
        }

        var names = new List<(int Index, string Dir, string? Name)>();
        var nameCounts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var dir in Directory.EnumerateDirectories(classDir, "hwmon*"))
        {
            if (!SpanParse.TryInt32(Path.GetFileName(dir.AsSpan())["hwmon".Length..], out var index))
            {
                continue;
            }

            var name = KernelFile.TryReadLine(reader, Path.Combine(dir, "name"));
            if (name is { Length: > 0 })
            {
                nameCounts[name] = nameCounts.GetValueOrDefault(name) + 1;
            }

            names.Add((index, dir, name));
        }

        names.Sort(static (a, b) => a.Index.CompareTo(b.Index));
        foreach (var (index, dir, name) in names)
        {
            var chip = name is not { Length: > 0 } ? $"hwmon{index}"
                : nameCounts[name] > 1 ? $"{name}-hwmon{index}"
                : name;
            devices.Add(new HwmonDevice(index, dir, chip));
        }

        return devices;
    }

    /// <summary>
    /// The channel numbers N for which <c>{prefix}N_{suffix}</c> exists in the device's
    /// directory (<c>temp3_input</c> → 3), in ascending order.
    /// </summary>
    public static List<int> Channels(string deviceDir, string prefix, string suffix)
    {
        var channels = new List<int>();
        foreach (var file in Directory.EnumerateFiles(deviceDir, prefix + "*_" + suffix))
        {
            var name = Path.GetFileName(file.AsSpan());
            var number = name[prefix.Length..^(suffix.Length + 1)];
            if (SpanParse.TryInt32(number, out var channel) && !channels.Contains(channel))
            {
                channels.Add(channel);
            }
        }

        channels.Sort();
        return channels;
    }
}
