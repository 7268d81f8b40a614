using System.Reflection;
using System.Runtime.InteropServices;

namespace Gantry.Telemetry.Nvml;

/// <summary>NVML entry points whose presence is probed once the library is loaded.</summary>
internal enum NvmlFunction
{
    Init,
    Shutdown,
    SystemGetDriverVersion,
    SystemGetNvmlVersion,
    SystemGetCudaDriverVersion,
    DeviceGetCount,
    DeviceGetHandleByIndex,
    DeviceGetName,
    DeviceGetUuid,
    DeviceGetPciInfo,
    DeviceGetMemoryInfo,
    DeviceGetUtilizationRates,
    DeviceGetTemperature,
    DeviceGetPowerUsage,
    DeviceGetTotalEnergyConsumption,
    DeviceGetPowerManagementLimit,
    DeviceGetEnforcedPowerLimit,
    DeviceGetPowerManagementDefaultLimit,
    DeviceGetPowerManagementLimitConstraints,
    DeviceGetClockInfo,
    DeviceGetMaxClockInfo,
    DeviceGetCurrentClocksEventReasons,
    DeviceGetCurrentClocksThrottleReasons,
    DeviceGetPerformanceState,
    DeviceGetFanSpeed,
    DeviceGetTotalEccErrors,
    DeviceGetRetiredPages,
    DeviceGetRemappedRows,
    DeviceGetPcieReplayCounter,
    DeviceGetCurrPcieLinkGeneration,
    DeviceGetCurrPcieLinkWidth,
    DeviceGetNvLinkState,
    DeviceGetFieldValues,
    DeviceGetComputeRunningProcesses,
    EventSetCreate,
    DeviceRegisterEvents,
    DeviceGetSupportedEventTypes,
    EventSetWaitV2,
    EventSetWaitV1,
    EventSetFree,
    DeviceGetMigMode,
    DeviceGetMaxMigDeviceCount,
    DeviceGetMigDeviceHandleByIndex,
    DeviceGetGpuInstanceId,
    DeviceGetComputeInstanceId,
    DeviceGetNvLinkRemotePciInfo,
    DeviceGetMemoryInfoV2,
    DeviceGetTemperatureV,
    DeviceGetRetiredPagesPendingStatus,
    DeviceSetPowerManagementLimit,
}

/// <summary>
/// Maps the <c>nvidia-ml</c> library name of <see cref="NvmlNative"/> to a file, once per
/// process: the path given with <c>--nvml-library</c>, or the platform's driver library.
/// A P/Invoke stub binds once per process, so a second, different path cannot take effect
/// and is refused with a clear error instead of being silently ignored.
/// </summary>
internal static class NvmlLibrary
{
    /// <summary>Export names, indexed by <see cref="NvmlFunction"/>.</summary>
    private static readonly string[] Symbols =
    [
        "nvmlInit_v2",
        "nvmlShutdown",
        "nvmlSystemGetDriverVersion",
        "nvmlSystemGetNVMLVersion",
        "nvmlSystemGetCudaDriverVersion_v2",
        "nvmlDeviceGetCount_v2",
        "nvmlDeviceGetHandleByIndex_v2",
        "nvmlDeviceGetName",
        "nvmlDeviceGetUUID",
        "nvmlDeviceGetPciInfo_v3",
        "nvmlDeviceGetMemoryInfo",
        "nvmlDeviceGetUtilizationRates",
        "nvmlDeviceGetTemperature",
        "nvmlDeviceGetPowerUsage",
        "nvmlDeviceGetTotalEnergyConsumption",
        "nvmlDeviceGetPowerManagementLimit",
        "nvmlDeviceGetEnforcedPowerLimit",
        "nvmlDeviceGetPowerManagementDefaultLimit",
        "nvmlDeviceGetPowerManagementLimitConstraints",
        "nvmlDeviceGetClockInfo",
        "nvmlDeviceGetMaxClockInfo",
        "nvmlDeviceGetCurrentClocksEventReasons",
        "nvmlDeviceGetCurrentClocksThrottleReasons",
        "nvmlDeviceGetPerformanceState",
        "nvmlDeviceGetFanSpeed",
        "nvmlDeviceGetTotalEccErrors",
        "nvmlDeviceGetRetiredPages",
        "nvmlDeviceGetRemappedRows",
        "nvmlDeviceGetPcieReplayCounter",
        "nvmlDeviceGetCurrPcieLinkGeneration",
        "nvmlDeviceGetCurrPcieLinkWidth",
        "nvmlDeviceGetNvLinkState",
        "nvmlDeviceGetFieldValues",
        "nvmlDeviceGetComputeRunningProcesses_v3",
        "nvmlEventSetCreate",
        "nvmlDeviceRegisterEvents",
        "nvmlDeviceGetSupportedEventTypes",
        "nvmlEventSetWait_v2",
        "nvmlEventSetWait",
        "nvmlEventSetFree",
        "nvmlDeviceGetMigMode",
        "nvmlDeviceGetMaxMigDeviceCount",
        "nvmlDeviceGetMigDeviceHandleByIndex",
        "nvmlDeviceGetGpuInstanceId",
        "nvmlDeviceGetComputeInstanceId",
        "nvmlDeviceGetNvLinkRemotePciInfo_v2",
        "nvmlDeviceGetMemoryInfo_v2",
        "nvmlDeviceGetTemperatureV",
        "nvmlDeviceGetRetiredPagesPendingStatus",
        "nvmlDeviceSetPowerManagementLimit",
    ];

    private static readonly Lock Gate = new();
    private static bool s_configured;
    private static string? s_path;
    private static nint s_handle;
    private static bool[] s_present = [];

    /// <summary>The driver's library name on this platform.</summary>
    public static string DefaultName => OperatingSystem.IsWindows() ? "nvml.dll" : "libnvidia-ml.so.1";

    /// <summary>The file that will be (or was) loaded: the configured path or <see cref="DefaultName"/>.</summary>
    public static string EffectiveName
    {
        get
        {
            lock (Gate)
            {
                return s_path ?? DefaultName;
            }
        }
    }

    /// <summary>
    /// Sets the library path for this process (null: the platform default) and registers the
    /// resolver. Calling again with the same path is a no-op.
    /// </summary>
    /// <exception cref="InvalidOperationException">A different path was configured before.</exception>
    public static void Configure(string? path)
    {
        if (path is { Length: 0 })
        {
            path = null;
        }

        lock (Gate)
        {
            if (s_configured)
            {
                if (!string.Equals(s_path, path, StringComparison.Ordinal))
                {
                    throw new InvalidOperationException(
                        $"The NVML library is already set to '{s_path ?? DefaultName}' in this process; it cannot be switched to " +
                        $"'{path ?? DefaultName}'. Give --nvml-library at most once.");
                }

                return;
            }

            NativeLibrary.SetDllImportResolver(typeof(NvmlLibrary).Assembly, Resolve);
            s_path = path;
            s_configured = true;
        }
    }

    /// <summary>
    /// Loads the configured library if it is not loaded yet and probes which entry points it
    /// exports. Returns false, with the system loader's reason (<see cref="LoaderReason"/>), when
    /// the file cannot be loaded.
    /// </summary>
    public static bool TryLoad(out string? error)
    {
        lock (Gate)
        {
            error = null;
            if (s_handle != 0)
            {
                return true;
            }

            try
            {
                var handle = NativeLibrary.Load(s_path ?? DefaultName);
                var present = new bool[Symbols.Length];
                for (var i = 0; i < Symbols.Length; i++)
                {
                    present[i] = NativeLibrary.TryGetExport(handle, Symbols[i], out _);
                }

                s_present = present;
                s_handle = handle;
                return true;
            }
            catch (Exception ex) when (ex is DllNotFoundException or BadImageFormatException)
            {
                error = LoaderReason(ex.Message);
                return false;
            }
        }
    }

    /// <summary>
    /// The system loader's own words from a failed load's message (<c>libnvidia-ml.so.1: cannot
    /// open shared object file: No such file or directory</c>), without the runtime's advice about
    /// strace and LD_DEBUG that precedes them, on one line. A message without that advice is kept
    /// whole.
    /// </summary>
    public static string LoaderReason(string message)
    {
        ArgumentNullException.ThrowIfNull(message);
        const string Advice = "environment variable:";
        var at = message.LastIndexOf(Advice, StringComparison.Ordinal);
        var reason = at < 0 ? message : message[(at + Advice.Length)..];
        reason = string.Join(' ', reason.Split((char[])['\n', '\r', ' ', '\t'], StringSplitOptions.RemoveEmptyEntries));
        return reason.Length == 0 ? message.Trim() : reason;
    }

    /// <summary>Whether the loaded library exports <paramref name="function"/> (false before a load).</summary>
    public static bool Has(NvmlFunction function)
    {
        var present = Volatile.Read(ref s_present);
        return (int)function < present.Length && present[(int)function];
    }

    private static nint Resolve(string libraryName, Assembly assembly, DllImportSearchPath? searchPath)
    {
        if (!string.Equals(libraryName, NvmlNative.LibraryName, StringComparison.Ordinal))
        {
            return 0;
        }

        lock (Gate)
        {
            return s_handle;
        }
    }
}
