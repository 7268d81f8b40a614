using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Nvml;

/// <summary>NVML collector log messages (event ids 1000–1099).</summary>
internal static partial class NvmlLog
{
    [LoggerMessage(1000, LogLevel.Warning, "NVML is unavailable; GPU metrics are off until it can be initialised (retried every {RetrySeconds} s): {Reason}")]
    public static partial void Unavailable(ILogger logger, string reason, double retrySeconds);

    [LoggerMessage(1001, LogLevel.Debug, "NVML is still unavailable: {Reason}")]
    public static partial void StillUnavailable(ILogger logger, string reason);

    [LoggerMessage(1002, LogLevel.Information, "NVML initialised from {Library}: driver {DriverVersion}, CUDA {CudaVersion}, NVML {NvmlVersion}")]
    public static partial void Initialised(ILogger logger, string library, string? driverVersion, string? cudaVersion, string? nvmlVersion);

    [LoggerMessage(1003, LogLevel.Information, "NVML XID events are not available: {Reason}")]
    public static partial void EventsUnavailable(ILogger logger, string reason);

    [LoggerMessage(1004, LogLevel.Warning, "Waiting for NVML events failed with {Result}; XID counting pauses briefly")]
    public static partial void EventWaitFailed(ILogger logger, NvmlReturn result);

    [LoggerMessage(1005, LogLevel.Warning, "GPU {Index} ({Uuid}) is lost (fell off the bus); only its identity is reported")]
    public static partial void GpuLost(ILogger logger, int index, string uuid);

    [LoggerMessage(1006, LogLevel.Warning, "GPU {Index} reported XID {Xid}")]
    public static partial void Xid(ILogger logger, int index, ulong xid);

    [LoggerMessage(1007, LogLevel.Debug, "nvmlShutdown returned {Result}")]
    public static partial void ShutdownFailed(ILogger logger, NvmlReturn result);

    [LoggerMessage(1008, LogLevel.Warning, "The NVML event thread did not stop within {Seconds} s; the event set is left allocated")]
    public static partial void EventThreadStuck(ILogger logger, double seconds);

    [LoggerMessage(1009, LogLevel.Warning, "nvmlDeviceGetCount failed with {Result}")]
    public static partial void DeviceCountFailed(ILogger logger, NvmlReturn result);

    [LoggerMessage(1010, LogLevel.Debug, "GPU {Index}: XID events not registered ({Result})")]
    public static partial void EventRegistrationFailed(ILogger logger, int index, NvmlReturn result);

    [LoggerMessage(1011, LogLevel.Error, "The NVML event thread failed; XID errors are no longer counted")]
    public static partial void EventThreadFailed(ILogger logger, Exception exception);

    [LoggerMessage(1012, LogLevel.Warning, "GPU {Index}: an NVML entry point is missing; only its identity is reported")]
    public static partial void MissingEntryPoint(ILogger logger, int index, Exception exception);
}
