using System.Text.Json.Serialization;

namespace Gantry.Telemetry.Model;

/// <summary>
/// One NVLink link of a GPU. Counters are null where the GPU does not report them.
/// <paramref name="CrcFlitErrors"/> counts CRC errors in flow-control units (flits, NVML field 38);
/// <see cref="CrcDataErrors"/> those in data packets (field 45).
/// </summary>
public sealed record NvLinkSample(
    int Link,
    bool Active,
    ulong? TransmitBytes,
    ulong? ReceiveBytes,
    ulong? CrcFlitErrors,
    ulong? ReplayErrors,
    ulong? RecoveryErrors)
{
    /// <summary>CRC errors in data packets (NVML's data CRC total); null where the GPU does not report it.</summary>
    public ulong? CrcDataErrors { get; init; }

    /// <summary>
    /// PCI bus id of the device at the other end of the link (another GPU, or an NVSwitch), when
    /// known; the agent maps it to the peer GPU's index for NVLink-aware placement.
    /// </summary>
    public string? RemotePciBusId { get; init; }
}

/// <summary>A compute process using a GPU and the GPU memory it holds.</summary>
public sealed record GpuProcessSample(uint Pid, string? Name, ulong? UsedMemoryBytes);

/// <summary>A MIG instance carved out of a GPU.</summary>
public sealed record MigInstanceSample(int Index, string? Uuid, uint? GpuInstanceId, uint? ComputeInstanceId, ulong? MemoryTotalBytes, ulong? MemoryUsedBytes);

/// <summary>
/// One GPU's identity and readings. Every reading is nullable: null means the GPU or driver
/// does not support it (or the call failed this round), and the series is left out, never
/// reported as 0. <see cref="Lost"/> marks a GPU that fell off the bus: only its
/// identity is reported.
/// </summary>
public sealed record GpuSample
{
    public required int Index { get; init; }
    public required string Uuid { get; init; }
    public required string Name { get; init; }
    public string? PciBusId { get; init; }
    public bool Simulated { get; init; }
    public bool Lost { get; init; }

    public ulong? MemoryTotalBytes { get; init; }
    /// <summary>
    /// Memory allocated on the GPU. From NVML's v2 memory info where the driver has it, which
    /// leaves out <see cref="MemoryReservedBytes"/>; from v1 otherwise, which counts it.
    /// </summary>
    public ulong? MemoryUsedBytes { get; init; }
    public ulong? MemoryFreeBytes { get; init; }
    /// <summary>Memory the driver and firmware reserve for themselves (NVML v2 memory info only).</summary>
    public ulong? MemoryReservedBytes { get; init; }
    public double? UtilizationGpuPercent { get; init; }
    public double? UtilizationMemoryPercent { get; init; }
    public double? TemperatureCelsius { get; init; }
    public double? MemoryTemperatureCelsius { get; init; }
    public double? PowerWatts { get; init; }
    /// <summary>Energy since the driver loaded (NVML's millijoule counter, in joules).</summary>
    public double? EnergyJoules { get; init; }
    public double? PowerLimitWatts { get; init; }
    public double? EnforcedPowerLimitWatts { get; init; }
    public double? DefaultPowerLimitWatts { get; init; }
    public double? MinPowerLimitWatts { get; init; }
    public double? MaxPowerLimitWatts { get; init; }
    public double? SmClockHz { get; init; }
    public double? MemoryClockHz { get; init; }
    public double? GraphicsClockHz { get; init; }
    public double? MaxSmClockHz { get; init; }
    /// <summary>NVML clock-event (throttle) reason bit mask; see <see cref="ClockEventReasons"/>.</summary>
    public ulong? ClockEventReasons { get; init; }
    /// <summary>Performance state, 0 (P0, fastest) to 15.</summary>
    public int? PerformanceState { get; init; }
    public double? FanSpeedPercent { get; init; }
    public ulong? EccCorrectedVolatile { get; init; }
    public ulong? EccUncorrectedVolatile { get; init; }
    public ulong? EccCorrectedAggregate { get; init; }
    public ulong? EccUncorrectedAggregate { get; init; }
    public uint? RetiredPagesSingleBit { get; init; }
    public uint? RetiredPagesDoubleBit { get; init; }
    /// <summary>A page retirement waits for the next driver reload (GPUs before Ampere); null where the driver does not say.</summary>
    public bool? RetiredPagesPending { get; init; }
    public uint? RemappedRowsCorrectable { get; init; }
    public uint? RemappedRowsUncorrectable { get; init; }
    public bool? RemappedRowsPending { get; init; }
    public bool? RemappedRowsFailure { get; init; }
    public ulong? PcieReplays { get; init; }
    public int? PcieLinkGeneration { get; init; }
    public int? PcieLinkWidth { get; init; }
    public IReadOnlyList<NvLinkSample> NvLinks { get; init; } = [];
    public IReadOnlyList<GpuProcessSample>? Processes { get; init; }
    /// <summary>XID errors seen since the agent started, by XID code.</summary>
    public IReadOnlyDictionary<ulong, ulong> XidErrors { get; init; } = EmptyXids;
    /// <summary>The most recent XID code seen (dcgm-exporter's XID_ERRORS gauge), null before the first.</summary>
    public ulong? LastXid { get; init; }
    public bool? MigEnabled { get; init; }
    public IReadOnlyList<MigInstanceSample> MigInstances { get; init; } = [];
    /// <summary>
    /// What the driver says the GPU needs to recover from its faults (NVML's
    /// <c>NVML_FI_DEV_GET_GPU_RECOVERY_ACTION</c>); null where the driver does not report it.
    /// </summary>
    public GpuRecoveryAction? RecoveryAction { get; init; }

    private static readonly IReadOnlyDictionary<ulong, ulong> EmptyXids = new Dictionary<ulong, ulong>();
}

/// <summary>
/// All GPUs in one sample, with the driver's identity. <paramref name="Status"/> says whether
/// NVML was found (<c>ok</c>, <c>unavailable</c>, <c>error</c>, <c>simulated</c>) and
/// <paramref name="Message"/> why not.
/// </summary>
public sealed record GpuSnapshot(
    string Status,
    string? Message,
    string? DriverVersion,
    string? CudaVersion,
    string? NvmlVersion,
    IReadOnlyList<GpuSample> Gpus)
{
    /// <summary>No GPU source at all: no series, one clear line in /status.</summary>
    public static GpuSnapshot Unavailable(string message) => new("unavailable", message, null, null, null, []);
}

/// <summary>
/// NVML's <c>nvmlDeviceGpuRecoveryAction_t</c>: what a GPU needs before it can be trusted again.
/// A value a newer driver adds is kept as its number.
/// </summary>
[JsonConverter(typeof(JsonStringEnumConverter<GpuRecoveryAction>))]
public enum GpuRecoveryAction
{
    /// <summary>Nothing: the GPU is healthy or recovered on its own.</summary>
    None = 0,

    /// <summary>Reset the GPU (nvidia-smi -r) once no process uses it.</summary>
    GpuReset = 1,

    /// <summary>Reboot the node: a GPU reset cannot recover it.</summary>
    NodeReboot = 2,

    /// <summary>Stop peer-to-peer traffic to and from the GPU (drain P2P), then it recovers.</summary>
    DrainP2P = 3,

    /// <summary>Let the running work finish (drain), then reset the GPU.</summary>
    DrainAndReset = 4,

    /// <summary>Reset the GPU through its bus (a secondary bus reset); newer drivers only.</summary>
    GpuResetBus = 5,
}

/// <summary>The NVML clock-event (throttle) reason bits and the label value each is exported as.</summary>
public static class ClockEventReasons
{
    /// <summary>Bit and exported reason name, in the order NVML's header lists them.</summary>
    public static readonly (ulong Bit, string Name)[] All =
    [
        (0x1, "gpu_idle"),
        (0x2, "applications_clocks_setting"),
        (0x4, "sw_power_cap"),
        (0x8, "hw_slowdown"),
        (0x10, "sync_boost"),
        (0x20, "sw_thermal_slowdown"),
        (0x40, "hw_thermal_slowdown"),
        (0x80, "hw_power_brake_slowdown"),
        (0x100, "display_clock_setting"),
    ];
}
