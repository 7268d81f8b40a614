using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Procfs;

/// <summary>Log messages of the host and power collectors (event ids 1100–1199).</summary>
internal static partial class HostLog
{
    [LoggerMessage(EventId = 1100, Level = LogLevel.Warning,
        Message = "RAPL energy counter {Path} is not readable by this user; CPU and DRAM energy are left out until the agent runs as root or is granted read access")]
    public static partial void RaplPermissionDenied(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Debug, Message = "statvfs failed for mount point {MountPoint}; it is left out of this sample")]
    public static partial void FilesystemStatFailed(ILogger logger, string mountPoint, Exception exception);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Debug, Message = "RAPL zone {Zone} has no readable energy counter; it is left out of this sample")]
    public static partial void RaplZoneUnreadable(ILogger logger, string zone);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Information, Message = "RAPL energy counter of zone {Zone} went backwards without a known range ({Previous} then {Current} µJ); counting resumes from the new value")]
    public static partial void RaplCounterReset(ILogger logger, string zone, ulong previous, ulong current);
}
