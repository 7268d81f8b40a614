namespace Gantry.Telemetry.Model;

/// <summary>CPU time one logical CPU spent in each mode since boot, in seconds.</summary>
public sealed record CpuCoreTimes(
    int Cpu,
    double User,
    double Nice,
    double System,
    double Idle,
    double IoWait,
    double Irq,
    double SoftIrq,
    double Steal);

/// <summary>The machine's CPUs: per-core times, load and scheduler counters.</summary>
public sealed record CpuSample(
    IReadOnlyList<CpuCoreTimes> Cores,
    double? Load1,
    double? Load5,
    double? Load15,
    ulong? ContextSwitches,
    ulong? Interrupts,
    ulong? ProcessesForked,
    int? ProcessesRunning,
    int? ProcessesBlocked,
    double? BootTimeSeconds,
    int LogicalCores);

/// <summary>The machine's memory (from <c>/proc/meminfo</c> on Linux), in bytes.</summary>
public sealed record MemorySample(
    ulong TotalBytes,
    ulong? AvailableBytes,
    ulong? FreeBytes,
    ulong? CachedBytes,
    ulong? BuffersBytes,
    ulong? SwapTotalBytes,
    ulong? SwapFreeBytes);

/// <summary>One block device's I/O counters since boot.</summary>
public sealed record DiskSample(
    string Device,
    ulong ReadsCompleted,
    ulong WritesCompleted,
    ulong ReadBytes,
    ulong WrittenBytes,
    double ReadTimeSeconds,
    double WriteTimeSeconds,
    double IoTimeSeconds,
    ulong? IoInProgress);

/// <summary>One mounted filesystem's size and free space.</summary>
public sealed record FilesystemSample(
    string Device,
    string MountPoint,
    string FsType,
    ulong SizeBytes,
    ulong FreeBytes,
    ulong AvailableBytes,
    ulong? Files,
    ulong? FilesFree,
    bool ReadOnly);

/// <summary>One network interface's counters since it came up.</summary>
public sealed record NetworkSample(
    string Interface,
    ulong ReceiveBytes,
    ulong TransmitBytes,
    ulong? ReceivePackets,
    ulong? TransmitPackets,
    ulong? ReceiveErrors,
    ulong? TransmitErrors,
    ulong? ReceiveDrops,
    ulong? TransmitDrops,
    bool? Up);

/// <summary>One temperature sensor. <paramref name="Source"/> is <c>hwmon</c> or <c>thermal_zone</c>.</summary>
public sealed record TemperatureSample(string Source, string Chip, string Sensor, double Celsius);

/// <summary>
/// Everything the host collectors saw in one sample. Each part is null when its collector
/// failed or timed out this round; the part is then left out of every output.
/// </summary>
public sealed record HostSnapshot(
    string Hostname,
    string OperatingSystem,
    string Architecture,
    string KernelVersion,
    CpuSample? Cpu,
    MemorySample? Memory,
    IReadOnlyList<DiskSample>? Disks,
    IReadOnlyList<FilesystemSample>? Filesystems,
    IReadOnlyList<NetworkSample>? Network,
    IReadOnlyList<TemperatureSample>? Temperatures);
