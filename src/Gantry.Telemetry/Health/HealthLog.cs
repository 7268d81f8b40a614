using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Health;

/// <summary>Log messages of the kernel-log XID reader (event ids 1300–1399).</summary>
internal static partial class HealthLog
{
    [LoggerMessage(EventId = 1300, Level = LogLevel.Information, Message = "Reading XIDs from the kernel log {Path}")]
    public static partial void Following(ILogger logger, string path);

    [LoggerMessage(EventId = 1301, Level = LogLevel.Warning, Message = "{Reason}")]
    public static partial void PermissionDenied(ILogger logger, string reason);

    [LoggerMessage(EventId = 1302, Level = LogLevel.Warning, Message = "{Reason}")]
    public static partial void Unavailable(ILogger logger, string reason);

    [LoggerMessage(EventId = 1303, Level = LogLevel.Warning,
        Message = "The kernel log {Path} overwrote records before they were read ({Count} times this round); XIDs among them are missed")]
    public static partial void RecordsOverwritten(ILogger logger, string path, int count);

    [LoggerMessage(EventId = 1304, Level = LogLevel.Warning, Message = "Reading the kernel log {Path} failed (errno {Errno}); it is opened again in {RetrySeconds} s")]
    public static partial void ReadFailed(ILogger logger, string path, int errno, double retrySeconds);

    [LoggerMessage(EventId = 1305, Level = LogLevel.Debug, Message = "Kernel log XID {Xid} on {PciBusId}: {Text}")]
    public static partial void Xid(ILogger logger, ulong xid, string? pciBusId, string text);

    [LoggerMessage(EventId = 1306, Level = LogLevel.Error, Message = "Reading the kernel log failed this round; the reader carries on")]
    public static partial void PollFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 1307, Level = LogLevel.Debug, Message = "A kernel log line longer than {Bytes} bytes was skipped")]
    public static partial void LineTooLong(ILogger logger, int bytes);
}
