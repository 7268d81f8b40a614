using System.Globalization;

namespace Gantry.Telemetry.Nvml;

/// <summary>Readable names for NVML return codes.</summary>
internal static class NvmlErrors
{
    /// <summary>E.g. <c>NVML_ERROR_DRIVER_NOT_LOADED (9)</c>.</summary>
    public static string Describe(NvmlReturn result)
    {
        var name = result switch
        {
            NvmlReturn.Success => "NVML_SUCCESS",
            NvmlReturn.Uninitialized => "NVML_ERROR_UNINITIALIZED",
            NvmlReturn.InvalidArgument => "NVML_ERROR_INVALID_ARGUMENT",
            NvmlReturn.NotSupported => "NVML_ERROR_NOT_SUPPORTED",
            NvmlReturn.NoPermission => "NVML_ERROR_NO_PERMISSION",
            NvmlReturn.AlreadyInitialized => "NVML_ERROR_ALREADY_INITIALIZED",
            NvmlReturn.NotFound => "NVML_ERROR_NOT_FOUND",
            NvmlReturn.InsufficientSize => "NVML_ERROR_INSUFFICIENT_SIZE",
            NvmlReturn.InsufficientPower => "NVML_ERROR_INSUFFICIENT_POWER",
            NvmlReturn.DriverNotLoaded => "NVML_ERROR_DRIVER_NOT_LOADED (is the NVIDIA kernel module loaded?)",
            NvmlReturn.Timeout => "NVML_ERROR_TIMEOUT",
            NvmlReturn.IrqIssue => "NVML_ERROR_IRQ_ISSUE",
            NvmlReturn.LibraryNotFound => "NVML_ERROR_LIBRARY_NOT_FOUND",
            NvmlReturn.FunctionNotFound => "NVML_ERROR_FUNCTION_NOT_FOUND",
            NvmlReturn.CorruptedInforom => "NVML_ERROR_CORRUPTED_INFOROM",
            NvmlReturn.GpuIsLost => "NVML_ERROR_GPU_IS_LOST",
            NvmlReturn.ResetRequired => "NVML_ERROR_RESET_REQUIRED",
            NvmlReturn.OperatingSystem => "NVML_ERROR_OPERATING_SYSTEM",
            NvmlReturn.LibRmVersionMismatch => "NVML_ERROR_LIB_RM_VERSION_MISMATCH (driver library and kernel module differ; reboot or reload the module)",
            NvmlReturn.InUse => "NVML_ERROR_IN_USE",
            NvmlReturn.Memory => "NVML_ERROR_MEMORY",
            NvmlReturn.NoData => "NVML_ERROR_NO_DATA",
            NvmlReturn.VgpuEccNotSupported => "NVML_ERROR_VGPU_ECC_NOT_SUPPORTED",
            NvmlReturn.InsufficientResources => "NVML_ERROR_INSUFFICIENT_RESOURCES",
            NvmlReturn.FreqNotSupported => "NVML_ERROR_FREQ_NOT_SUPPORTED",
            NvmlReturn.ArgumentVersionMismatch => "NVML_ERROR_ARGUMENT_VERSION_MISMATCH",
            NvmlReturn.Deprecated => "NVML_ERROR_DEPRECATED",
            NvmlReturn.NotReady => "NVML_ERROR_NOT_READY",
            NvmlReturn.GpuNotFound => "NVML_ERROR_GPU_NOT_FOUND",
            NvmlReturn.InvalidState => "NVML_ERROR_INVALID_STATE",
            NvmlReturn.ResetTypeNotSupported => "NVML_ERROR_RESET_TYPE_NOT_SUPPORTED",
            NvmlReturn.Unknown => "NVML_ERROR_UNKNOWN",
            _ => "NVML error",
        };
        return string.Create(CultureInfo.InvariantCulture, $"{name} ({(int)result})");
    }
}
