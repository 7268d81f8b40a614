using Gantry.Telemetry.Apps;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Collection;

/// <summary>
/// The collectors one agent runs. Host parts are required (the portable fallback fills them
/// where procfs is missing); the rest are optional. The GPU source is NVML, simulated GPUs, or
/// nothing, never chosen silently: simulation happens only when asked for.
/// </summary>
public sealed record CollectorSet : IDisposable
{
    public required ICollector<CpuSample> Cpu { get; init; }
    public required ICollector<MemorySample> Memory { get; init; }
    public ICollector<IReadOnlyList<DiskSample>>? Disks { get; init; }
    public ICollector<IReadOnlyList<FilesystemSample>>? Filesystems { get; init; }
    public ICollector<IReadOnlyList<NetworkSample>>? Network { get; init; }
    public ICollector<IReadOnlyList<TemperatureSample>>? Temperatures { get; init; }
    public ICollector<PowerSnapshot>? Power { get; init; }
    public ICollector<GpuSnapshot>? Gpus { get; init; }
    public ICollector<IReadOnlyList<AppScrape>>? Apps { get; init; }

    /// <summary>Host identity (hostname, OS, architecture, kernel), read once at start.</summary>
    public required (string Hostname, string OperatingSystem, string Architecture, string KernelVersion) Identity { get; init; }

    /// <summary>Releases collectors that hold native or network resources (NVML, HTTP clients).</summary>
    public void Dispose()
    {
        (Gpus as IDisposable)?.Dispose();
        (Apps as IDisposable)?.Dispose();
        (Power as IDisposable)?.Dispose();
    }
}
