using System.Globalization;
using System.Runtime.InteropServices;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Model;

namespace Gantry.Agent.ControlPlane;

/// <summary>Maps the agent's samples to what registration and heartbeats carry.</summary>
internal static class NodeReport
{
    /// <summary>"linux", "windows" or "macos".</summary>
    public static string OperatingSystemName =>
        OperatingSystem.IsWindows() ? "windows" : OperatingSystem.IsMacOS() ? "macos" : "linux";

    /// <summary>The CPU architecture, lowercase ("x64", "arm64").</summary>
    public static string ArchitectureName => RuntimeInformation.OSArchitecture.ToString().ToLowerInvariant();

    /// <summary>Every GPU of the sample as registration reports it.</summary>
    public static List<GpuInventory> Inventory(GpuSnapshot gpus)
    {
        ArgumentNullException.ThrowIfNull(gpus);
        var peers = NvLinkPeers(gpus.Gpus);
        var inventory = new List<GpuInventory>(gpus.Gpus.Count);
        for (var i = 0; i < gpus.Gpus.Count; i++)
        {
            var gpu = gpus.Gpus[i];
            inventory.Add(new GpuInventory
            {
                Index = gpu.Index,
                Uuid = gpu.Uuid,
                Model = gpu.Name,
                MemoryBytes = gpu.MemoryTotalBytes is { } total ? (long)total : 0,
                Simulated = gpu.Simulated,
                NvLinkPeers = peers[i],
            });
        }

        return inventory;
    }

    /// <summary>
    /// For each GPU (in list order), the indexes of the GPUs it shares an active NVLink with. A link
    /// whose far end is another GPU's PCI bus id joins the two; a far end that is no local GPU is an
    /// NVSwitch, and GPUs on the same switch are peers too (an HGX board's GPUs reach each other
    /// only through its switches). The relation is symmetric; a GPU is never its own peer.
    /// </summary>
    public static List<IReadOnlyList<int>> NvLinkPeers(IReadOnlyList<GpuSample> gpus)
    {
        ArgumentNullException.ThrowIfNull(gpus);
        var byBusId = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var gpu in gpus)
        {
            if (NormalizeBusId(gpu.PciBusId) is { } bus)
            {
                byBusId[bus] = gpu.Index;
            }
        }

        var peers = new SortedSet<int>[gpus.Count];
        var position = new Dictionary<int, int>();
        for (var i = 0; i < gpus.Count; i++)
        {
            peers[i] = [];
            position[gpus[i].Index] = i;
        }

        var onSwitch = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        for (var i = 0; i < gpus.Count; i++)
        {
            foreach (var link in gpus[i].NvLinks)
            {
                if (!link.Active || NormalizeBusId(link.RemotePciBusId) is not { } remote)
                {
                    continue;
                }

                if (byBusId.TryGetValue(remote, out var peer))
                {
                    if (peer != gpus[i].Index && position.TryGetValue(peer, out var p))
                    {
                        peers[i].Add(peer);
                        peers[p].Add(gpus[i].Index);
                    }
                }
                else
                {
                    if (!onSwitch.TryGetValue(remote, out var members))
                    {
                        onSwitch[remote] = members = [];
                    }

                    members.Add(i);
                }
            }
        }

        foreach (var members in onSwitch.Values)
        {
            foreach (var a in members)
            {
                foreach (var b in members)
                {
                    if (a != b)
                    {
                        peers[a].Add(gpus[b].Index);
                    }
                }
            }
        }

        var result = new List<IReadOnlyList<int>>(gpus.Count);
        foreach (var set in peers)
        {
            result.Add([.. set]);
        }

        return result;
    }

    /// <summary>
    /// NVML writes bus ids as <c>00000000:18:00.0</c> (and the legacy <c>0000:18:00.0</c>), in either
    /// case: compare them by value as <c>domain:bus:device.function</c>.
    /// </summary>
    internal static string? NormalizeBusId(string? busId)
    {
        if (string.IsNullOrWhiteSpace(busId))
        {
            return null;
        }

        var parts = busId.Trim().Split(':');
        if (parts.Length != 3
            || !uint.TryParse(parts[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var domain)
            || !uint.TryParse(parts[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture, out var bus))
        {
            return busId.Trim().ToUpperInvariant();
        }

        return string.Create(CultureInfo.InvariantCulture, $"{domain:X8}:{bus:X2}:{parts[2].ToUpperInvariant()}");
    }

    /// <summary>
    /// The heartbeat's summary of <paramref name="current"/>. CPU utilization needs the CPU times of
    /// an earlier sample (<paramref name="previous"/>); without one it is null.
    /// </summary>
    public static NodeSummary Summary(NodeSnapshot current, NodeSnapshot? previous)
    {
        ArgumentNullException.ThrowIfNull(current);
        var memory = current.Host.Memory;
        var gpus = new List<GpuSummary>(current.Gpus.Gpus.Count);
        var simulated = current.Gpus.Status == "simulated";
        foreach (var gpu in current.Gpus.Gpus)
        {
            simulated |= gpu.Simulated;
            gpus.Add(Summary(gpu));
        }

        return new NodeSummary
        {
            SampledAt = current.Timestamp,
            CpuUtilization = CpuUtilization(previous?.Host.Cpu, current.Host.Cpu),
            MemoryUsedBytes = memory is { AvailableBytes: { } available } && available <= memory.TotalBytes ? (long)(memory.TotalBytes - available) : null,
            MemoryTotalBytes = memory is null ? null : (long)memory.TotalBytes,
            PowerWatts = current.NodePower?.Watts,
            CpuPowerWatts = current.NodePower?.CpuWatts,
            PowerEnvelopeWatts = current.NodePower?.EnvelopeWatts,
            Simulated = simulated,
            GeneratedTokensPerSecond = SumOf(current.Apps, static app => app.GeneratedTokensPerSecond),
            PromptTokensPerSecond = SumOf(current.Apps, static app => app.PromptTokensPerSecond),
            Gpus = gpus,
        };
    }

    /// <summary>The sum of the rates the apps reported; null when none reported one.</summary>
    private static double? SumOf(IReadOnlyList<AppSample> apps, Func<AppSample, double?> rate)
    {
        double? sum = null;
        foreach (var app in apps)
        {
            if (rate(app) is { } value)
            {
                sum = (sum ?? 0) + value;
            }
        }

        return sum;
    }

    private static GpuSummary Summary(GpuSample gpu)
    {
        var reasons = new List<string>();
        if (gpu.ClockEventReasons is { } mask)
        {
            foreach (var (bit, name) in ClockEventReasons.All)
            {
                if ((mask & bit) != 0)
                {
                    reasons.Add(name);
                }
            }
        }

        return new GpuSummary
        {
            Index = gpu.Index,
            Lost = gpu.Lost,
            Utilization = gpu.UtilizationGpuPercent / 100,
            MemoryUsedBytes = gpu.MemoryUsedBytes is { } used ? (long)used : null,
            MemoryTotalBytes = gpu.MemoryTotalBytes is { } total ? (long)total : null,
            TemperatureCelsius = gpu.TemperatureCelsius,
            PowerWatts = gpu.PowerWatts,
            EnergyJoules = gpu.EnergyJoules,
            SmClockHertz = gpu.SmClockHz,
            MemoryClockHertz = gpu.MemoryClockHz,
            ThrottleReasons = reasons,
        };
    }

    /// <summary>Busy share of all CPU time between two samples, 0 to 1; null without two samples or progress.</summary>
    internal static double? CpuUtilization(CpuSample? previous, CpuSample? current)
    {
        if (previous is null || current is null)
        {
            return null;
        }

        var (busyBefore, totalBefore) = Totals(previous);
        var (busyNow, totalNow) = Totals(current);
        var total = totalNow - totalBefore;
        if (total <= 0)
        {
            return null;
        }

        return Math.Clamp((busyNow - busyBefore) / total, 0, 1);
    }

    private static (double Busy, double Total) Totals(CpuSample cpu)
    {
        double busy = 0, total = 0;
        foreach (var core in cpu.Cores)
        {
            var idle = core.Idle + core.IoWait;
            var all = core.User + core.Nice + core.System + core.Idle + core.IoWait + core.Irq + core.SoftIrq + core.Steal;
            busy += all - idle;
            total += all;
        }

        return (busy, total);
    }
}
