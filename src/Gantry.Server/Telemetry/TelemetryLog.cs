using Microsoft.Extensions.Logging;

namespace Gantry.Server.Telemetry;

/// <summary>Log messages of telemetry history (event ids 2300+).</summary>
internal static partial class TelemetryLog
{
    [LoggerMessage(EventId = 2300, Level = LogLevel.Warning, Message = "Writing {Summaries} telemetry summaries failed; they are dropped")]
    public static partial void WriteFailed(ILogger logger, int summaries, Exception exception);

    [LoggerMessage(EventId = 2301, Level = LogLevel.Warning, Message = "Telemetry retention failed; it is tried again at the next tick")]
    public static partial void RetentionFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2302, Level = LogLevel.Debug, Message = "Telemetry retention deleted {Raw} raw samples and {Rollup} minute rollups")]
    public static partial void RetentionDeleted(ILogger logger, long raw, long rollup);
}
