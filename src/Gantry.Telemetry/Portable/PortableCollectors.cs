using System.Net.NetworkInformation;
using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Portable;

/// <summary>
/// Collectors for hosts without procfs (Windows, macOS), through the BCL only. What each OS
/// reports:
/// <list type="bullet">
/// <item><description>
/// Linux (the <c>Procfs</c> and <c>Power</c> collectors, not these): per-core CPU times, load
/// averages, context switches, interrupts, forks, running and blocked processes, boot time;
/// memory total, available, free, cached, buffers, swap; per-disk I/O; filesystem size, free,
/// available, inodes and read-only; network bytes, packets, errors, drops and up;
/// hwmon and thermal-zone temperatures; RAPL energy and hwmon power meters.
/// </description></item>
/// <item><description>
/// Windows: logical core count; memory total (no available); ready drives' size, free,
/// available (no inodes); per-interface bytes, packets, errors, drops and up.
/// No per-core times, load, disk I/O, temperatures or power.
/// </description></item>
/// <item><description>
/// macOS: as Windows, except that transmit drops are not reported (the runtime has no
/// source for them there; the series is left out, never 0).
/// </description></item>
/// </list>
/// </summary>
public static class HostCollectorSupport
{
    /// <summary>
    /// True when the Linux collectors can run: the OS is Linux and <c>&lt;proc&gt;/stat</c>
    /// exists. Otherwise the agent wires the portable collectors (and no disk, temperature
    /// or power collectors).
    /// </summary>
    public static bool HasProcfs(HostPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        return OperatingSystem.IsLinux() && File.Exists(Path.Combine(paths.Proc, "stat"));
    }
}

/// <summary>The logical core count only (<see cref="Environment.ProcessorCount"/>); no per-core times or load.</summary>
public sealed class PortableCpuCollector : ICollector<CpuSample>
{
    public string Name => "cpu";

    public ValueTask<CpuSample> CollectAsync(CancellationToken cancellationToken) =>
        ValueTask.FromResult(new CpuSample([], null, null, null, null, null, null, null, null, null, Environment.ProcessorCount));
}

/// <summary>
/// Total memory from <see cref="GC.GetGCMemoryInfo()"/> (the machine's physical memory, or the
/// container's limit where there is one). Available memory has no portable source and is null.
/// </summary>
public sealed class PortableMemoryCollector : ICollector<MemorySample>
{
    public string Name => "memory";

    public ValueTask<MemorySample> CollectAsync(CancellationToken cancellationToken)
    {
        var total = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        return ValueTask.FromResult(new MemorySample((ulong)Math.Max(total, 0), null, null, null, null, null, null));
    }
}

/// <summary>
/// Ready drives from <see cref="DriveInfo.GetDrives"/>: size, free and available space. Inode
/// counts are null; only CD-ROM drives count as read-only. A drive that fails to answer is
/// left out.
/// </summary>
public sealed class PortableFilesystemCollector : ICollector<IReadOnlyList<FilesystemSample>>
{
    public string Name => "filesystem";

    public ValueTask<IReadOnlyList<FilesystemSample>> CollectAsync(CancellationToken cancellationToken)
    {
        var samples = new List<FilesystemSample>();
        foreach (var drive in DriveInfo.GetDrives())
        {
            try
            {
                if (!drive.IsReady)
                {
                    continue;
                }

                samples.Add(new FilesystemSample(
                    drive.Name,
                    drive.RootDirectory.FullName,
                    drive.DriveFormat,
                    (ulong)drive.TotalSize,
                    (ulong)drive.TotalFreeSpace,
                    (ulong)drive.AvailableFreeSpace,
                    null,
                    null,
                    drive.DriveType == DriveType.CDRom));
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // A drive that went away or that this user may not query: one drive fewer.
            }
        }

        return ValueTask.FromResult<IReadOnlyList<FilesystemSample>>(samples);
    }
}

/// <summary>
/// Interfaces from <see cref="NetworkInterface.GetAllNetworkInterfaces"/> with
/// <see cref="NetworkInterface.GetIPStatistics"/>; Up is <see cref="OperationalStatus.Up"/>.
/// A counter the platform does not support is null.
/// </summary>
public sealed class PortableNetworkCollector : ICollector<IReadOnlyList<NetworkSample>>
{
    public string Name => "network";

    public ValueTask<IReadOnlyList<NetworkSample>> CollectAsync(CancellationToken cancellationToken)
    {
        var samples = new List<NetworkSample>();
        foreach (var nic in NetworkInterface.GetAllNetworkInterfaces())
        {
            IPInterfaceStatistics stats;
            try
            {
                stats = nic.GetIPStatistics();
            }
            catch (Exception ex) when (ex is NetworkInformationException or PlatformNotSupportedException)
            {
                continue;
            }

            NetworkSample sample;
            try
            {
                sample = Read(nic.Name, stats, nic.OperationalStatus == OperationalStatus.Up);
            }
            catch (PlatformNotSupportedException)
            {
                // A runtime that lacks even the byte counters for this interface.
                continue;
            }

            samples.Add(sample);
        }

        return ValueTask.FromResult<IReadOnlyList<NetworkSample>>(samples);
    }

    // Each platform supports a different subset of the counters (the runtime marks the rest
    // [UnsupportedOSPlatform] and throws for them); those are left out.
    private static NetworkSample Read(string name, IPInterfaceStatistics stats, bool up)
    {
        // On Linux the runtime counts every sent packet as unicast (it reads /proc/net/dev),
        // so the unicast count is the total there.
        var sentPackets = OperatingSystem.IsLinux()
            ? Count(stats.UnicastPacketsSent)
            : Count(stats.UnicastPacketsSent + stats.NonUnicastPacketsSent);
        return new NetworkSample(
            name,
            (ulong)Math.Max(stats.BytesReceived, 0),
            (ulong)Math.Max(stats.BytesSent, 0),
            Count(stats.UnicastPacketsReceived + stats.NonUnicastPacketsReceived),
            sentPackets,
            Count(stats.IncomingPacketsWithErrors),
            Count(stats.OutgoingPacketsWithErrors),
            Count(stats.IncomingPacketsDiscarded),
            OperatingSystem.IsMacOS() ? null : Count(stats.OutgoingPacketsDiscarded),
            up);
    }

    private static ulong? Count(long value) => value >= 0 ? (ulong)value : null;
}
