using System.Runtime.InteropServices;

namespace Gantry.Telemetry.Nvml;

/// <summary>NVML's <c>nvmlReturn_t</c>.</summary>
internal enum NvmlReturn
{
    Success = 0,
    Uninitialized = 1,
    InvalidArgument = 2,
    NotSupported = 3,
    NoPermission = 4,
    AlreadyInitialized = 5,
    NotFound = 6,
    InsufficientSize = 7,
    InsufficientPower = 8,
    DriverNotLoaded = 9,
    Timeout = 10,
    IrqIssue = 11,
    LibraryNotFound = 12,
    FunctionNotFound = 13,
    CorruptedInforom = 14,
    GpuIsLost = 15,
    ResetRequired = 16,
    OperatingSystem = 17,
    LibRmVersionMismatch = 18,
    InUse = 19,
    Memory = 20,
    NoData = 21,
    VgpuEccNotSupported = 22,
    InsufficientResources = 23,
    FreqNotSupported = 24,
    ArgumentVersionMismatch = 25,
    Deprecated = 26,
    NotReady = 27,
    GpuNotFound = 28,
    InvalidState = 29,
    ResetTypeNotSupported = 30,
    Unknown = 999,
}

/// <summary><c>nvmlMemory_t</c> (v1): 24 bytes. Its <c>used</c> counts memory reserved by the driver and firmware.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemory
{
    public ulong Total;
    public ulong Free;
    public ulong Used;
}

/// <summary>
/// <c>nvmlMemory_v2_t</c>: 40 bytes (4 bytes of padding after <see cref="Version"/>), which
/// must be set to <see cref="NvmlConst.MemoryV2Version"/>. Reports reserved memory apart.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlMemoryV2
{
    public uint Version;
    public ulong Total;
    public ulong Reserved;
    public ulong Free;
    public ulong Used;
}

/// <summary>
/// <c>nvmlTemperature_t</c> (v1), for <c>nvmlDeviceGetTemperatureV</c>: 12 bytes; the caller
/// sets <see cref="Version"/> (<see cref="NvmlConst.TemperatureV1Version"/>) and <see cref="SensorType"/>.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlTemperature
{
    public uint Version;
    public int SensorType;
    public int Temperature;
}

/// <summary><c>nvmlUtilization_t</c>, percent.</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlUtilization
{
    public uint Gpu;
    public uint Memory;
}

/// <summary><c>nvmlPciInfo_t</c> as filled by <c>nvmlDeviceGetPciInfo_v3</c>: 68 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
internal unsafe struct NvmlPciInfo
{
    public fixed byte BusIdLegacy[16];
    public uint Domain;
    public uint Bus;
    public uint Device;
    public uint PciDeviceId;
    public uint PciSubSystemId;
    public fixed byte BusId[32];
}

/// <summary><c>nvmlEventData_t</c>: 32 bytes (the v1 wait fills only the first 24).</summary>
[StructLayout(LayoutKind.Sequential)]
internal struct NvmlEventData
{
    public nint Device;
    public ulong EventType;
    public ulong EventData;
    public uint GpuInstanceId;
    public uint ComputeInstanceId;
}

/// <summary><c>nvmlFieldValue_t</c>: 40 bytes, the value an 8-byte union read by <see cref="ValueType"/>.</summary>
[StructLayout(LayoutKind.Explicit, Size = 40)]
internal struct NvmlFieldValue
{
    [FieldOffset(0)] public uint FieldId;
    [FieldOffset(4)] public uint ScopeId;
    [FieldOffset(8)] public long Timestamp;
    [FieldOffset(16)] public long LatencyUsec;
    [FieldOffset(24)] public int ValueType;
    [FieldOffset(28)] public NvmlReturn Return;
    [FieldOffset(32)] public double DoubleValue;
    [FieldOffset(32)] public uint UIntValue;
    [FieldOffset(32)] public ulong ULongLongValue;
    [FieldOffset(32)] public long SLongLongValue;
    [FieldOffset(32)] public int SIntValue;
    [FieldOffset(32)] public ushort UShortValue;
}

/// <summary>NVML constants Gantry uses (names follow <c>nvml.h</c>).</summary>
internal static class NvmlConst
{
    public const int StringBufferSize = 96;
    public const int VersionBufferSize = 80;

    public const int ClockGraphics = 0;
    public const int ClockSm = 1;
    public const int ClockMem = 2;
    public const int TemperatureGpu = 0;

    public const int EccCorrected = 0;
    public const int EccUncorrected = 1;
    public const int EccVolatile = 0;
    public const int EccAggregate = 1;

    public const int RetiredMultipleSingleBit = 0;
    public const int RetiredDoubleBit = 1;

    public const ulong EventXidCritical = 0x8;

    /// <summary><c>NVML_FI_DEV_NVLINK_CRC_FLIT_ERROR_COUNT_TOTAL</c>: CRC errors in flow-control units (flits).</summary>
    public const uint FieldNvLinkCrcFlitTotal = 38;

    /// <summary><c>NVML_FI_DEV_NVLINK_CRC_DATA_ERROR_COUNT_TOTAL</c>: CRC errors in data packets.</summary>
    public const uint FieldNvLinkCrcDataTotal = 45;

    public const uint FieldNvLinkReplayTotal = 52;
    public const uint FieldNvLinkRecoveryTotal = 59;
    public const uint FieldMemoryTemperature = 82;
    public const uint FieldNvLinkThroughputDataTx = 138;
    public const uint FieldNvLinkThroughputDataRx = 139;

    /// <summary><c>NVML_FI_DEV_GET_GPU_RECOVERY_ACTION</c>: an <c>nvmlDeviceGpuRecoveryAction_t</c>.</summary>
    public const uint FieldGpuRecoveryAction = 230;

    /// <summary><c>NVML_NVLINK_MAX_LINKS</c> of the 13.x header.</summary>
    public const int MaxNvLinks = 36;

    /// <summary><c>nvmlMemory_v2</c>: <c>sizeof(nvmlMemory_v2_t) | 2 &lt;&lt; 24</c>.</summary>
    public const uint MemoryV2Version = 40 | (2u << 24);

    /// <summary><c>nvmlTemperature_v1</c>: <c>sizeof(nvmlTemperature_v1_t) | 1 &lt;&lt; 24</c>.</summary>
    public const uint TemperatureV1Version = 12 | (1u << 24);

    /// <summary>
    /// The process-list entry sizes drivers have been seen to write: <c>nvmlProcessInfo_v1_t</c>
    /// (16), <c>nvmlProcessInfo_v2_t</c> (24, what the header declares for the <c>_v3</c> calls)
    /// and a 32-byte layout (the v2 fields plus a trailing 8-byte counter, as
    /// <c>nvmlProcessDetail_v1_t</c>). All keep the pid at offset 0 and the used memory at 8.
    /// </summary>
    public const int ProcessInfoStrideV1 = 16;

    /// <inheritdoc cref="ProcessInfoStrideV1"/>
    public const int ProcessInfoStrideV2 = 24;

    /// <inheritdoc cref="ProcessInfoStrideV1"/>
    public const int ProcessInfoStrideMax = 32;

    public const int ProcessInfoPidOffset = 0;
    public const int ProcessInfoUsedMemoryOffset = 8;

    public const ulong ValueNotAvailable = ulong.MaxValue;
    public const int PStateUnknown = 32;
}

/// <summary>
/// The NVML entry points Gantry binds, by their explicit versioned names (the header's
/// unversioned names are macros; the library still exports the old ABIs under them).
/// "nvidia-ml" is mapped to the real file by <see cref="NvmlLibrary"/>. Call only what
/// <see cref="NvmlLibrary.Has"/> reports present: an old driver lacks newer functions.
/// </summary>
internal static unsafe partial class NvmlNative
{
    internal const string LibraryName = "nvidia-ml";

    [LibraryImport(LibraryName, EntryPoint = "nvmlInit_v2", SetLastError = false)]
    internal static partial NvmlReturn Init();

    [LibraryImport(LibraryName, EntryPoint = "nvmlShutdown", SetLastError = false)]
    internal static partial NvmlReturn Shutdown();

    [LibraryImport(LibraryName, EntryPoint = "nvmlSystemGetDriverVersion", SetLastError = false)]
    internal static partial NvmlReturn SystemGetDriverVersion(byte* version, uint length);

    [LibraryImport(LibraryName, EntryPoint = "nvmlSystemGetNVMLVersion", SetLastError = false)]
    internal static partial NvmlReturn SystemGetNvmlVersion(byte* version, uint length);

    [LibraryImport(LibraryName, EntryPoint = "nvmlSystemGetCudaDriverVersion_v2", SetLastError = false)]
    internal static partial NvmlReturn SystemGetCudaDriverVersion(int* version);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetCount_v2", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetCount(uint* count);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetHandleByIndex_v2", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetHandleByIndex(uint index, nint* device);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetName", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetName(nint device, byte* name, uint length);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetUUID", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetUuid(nint device, byte* uuid, uint length);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPciInfo_v3", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetPciInfo(nint device, NvmlPciInfo* pci);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMemoryInfo", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetMemoryInfo(nint device, NvmlMemory* memory);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMemoryInfo_v2", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetMemoryInfoV2(nint device, NvmlMemoryV2* memory);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetUtilizationRates", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetUtilizationRates(nint device, NvmlUtilization* utilization);

    /// <summary>Deprecated in NVML 13.0 in favour of <see cref="DeviceGetTemperatureV"/>; drivers before it have only this.</summary>
    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetTemperature", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetTemperature(nint device, int sensor, uint* temperature);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetTemperatureV", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetTemperatureV(nint device, NvmlTemperature* temperature);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPowerUsage", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetPowerUsage(nint device, uint* milliwatts);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetTotalEnergyConsumption", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetTotalEnergyConsumption(nint device, ulong* millijoules);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPowerManagementLimit", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetPowerManagementLimit(nint device, uint* milliwatts);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetEnforcedPowerLimit", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetEnforcedPowerLimit(nint device, uint* milliwatts);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPowerManagementDefaultLimit", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetPowerManagementDefaultLimit(nint device, uint* milliwatts);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPowerManagementLimitConstraints", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetPowerManagementLimitConstraints(nint device, uint* minMilliwatts, uint* maxMilliwatts);

    /// <summary>Sets the GPU's power management limit (root only; within the limit constraints). Gantry's power caps.</summary>
    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceSetPowerManagementLimit", SetLastError = false)]
    internal static partial NvmlReturn DeviceSetPowerManagementLimit(nint device, uint milliwatts);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetClockInfo", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetClockInfo(nint device, int type, uint* megahertz);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMaxClockInfo", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetMaxClockInfo(nint device, int type, uint* megahertz);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetCurrentClocksEventReasons", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetCurrentClocksEventReasons(nint device, ulong* reasons);

    /// <summary>Deprecated in NVML 13.0 in favour of <see cref="DeviceGetCurrentClocksEventReasons"/>; drivers before 535 have only this.</summary>
    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetCurrentClocksThrottleReasons", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetCurrentClocksThrottleReasons(nint device, ulong* reasons);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPerformanceState", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetPerformanceState(nint device, int* pstate);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetFanSpeed", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetFanSpeed(nint device, uint* percent);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetTotalEccErrors", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetTotalEccErrors(nint device, int errorType, int counterType, ulong* count);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetRetiredPages", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetRetiredPages(nint device, int cause, uint* pageCount, ulong* addresses);

    /// <summary><c>isPending</c> is an <c>nvmlEnableState_t</c>: 1 when a retirement waits for the next driver reload.</summary>
    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetRetiredPagesPendingStatus", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetRetiredPagesPendingStatus(nint device, int* isPending);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetRemappedRows", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetRemappedRows(nint device, uint* correctable, uint* uncorrectable, uint* pending, uint* failure);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetPcieReplayCounter", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetPcieReplayCounter(nint device, uint* value);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetCurrPcieLinkGeneration", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetCurrPcieLinkGeneration(nint device, uint* generation);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetCurrPcieLinkWidth", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetCurrPcieLinkWidth(nint device, uint* width);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetNvLinkState", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetNvLinkState(nint device, uint link, int* isActive);

    /// <summary>The PCI identity of what the link connects to: another GPU, or an NVSwitch.</summary>
    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetNvLinkRemotePciInfo_v2", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetNvLinkRemotePciInfo(nint device, uint link, NvmlPciInfo* pci);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetFieldValues", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetFieldValues(nint device, int count, NvmlFieldValue* values);

    /// <summary>
    /// Fills <paramref name="infos"/> with up to <c>*count</c> entries. The header declares
    /// 24-byte <c>nvmlProcessInfo_t</c> entries, but drivers have written 16 or 32 bytes per
    /// entry, so the buffer is raw bytes sized for the largest stride (see <c>NvmlCollector</c>).
    /// </summary>
    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetComputeRunningProcesses_v3", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetComputeRunningProcesses(nint device, uint* count, byte* infos);

    [LibraryImport(LibraryName, EntryPoint = "nvmlEventSetCreate", SetLastError = false)]
    internal static partial NvmlReturn EventSetCreate(nint* set);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceRegisterEvents", SetLastError = false)]
    internal static partial NvmlReturn DeviceRegisterEvents(nint device, ulong eventTypes, nint set);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetSupportedEventTypes", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetSupportedEventTypes(nint device, ulong* eventTypes);

    [LibraryImport(LibraryName, EntryPoint = "nvmlEventSetWait_v2", SetLastError = false)]
    internal static partial NvmlReturn EventSetWaitV2(nint set, NvmlEventData* data, uint timeoutMilliseconds);

    /// <summary>The v1 wait: fills only the first 24 bytes of <see cref="NvmlEventData"/>.</summary>
    [LibraryImport(LibraryName, EntryPoint = "nvmlEventSetWait", SetLastError = false)]
    internal static partial NvmlReturn EventSetWaitV1(nint set, NvmlEventData* data, uint timeoutMilliseconds);

    [LibraryImport(LibraryName, EntryPoint = "nvmlEventSetFree", SetLastError = false)]
    internal static partial NvmlReturn EventSetFree(nint set);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMigMode", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetMigMode(nint device, uint* currentMode, uint* pendingMode);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMaxMigDeviceCount", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetMaxMigDeviceCount(nint device, uint* count);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetMigDeviceHandleByIndex", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetMigDeviceHandleByIndex(nint device, uint index, nint* migDevice);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetGpuInstanceId", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetGpuInstanceId(nint device, uint* id);

    [LibraryImport(LibraryName, EntryPoint = "nvmlDeviceGetComputeInstanceId", SetLastError = false)]
    internal static partial NvmlReturn DeviceGetComputeInstanceId(nint device, uint* id);
}
