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

    [LoggerMessage(EventId = 2303, Level = LogLevel.Debug, Message = "Energy today from history: {KilowattHours:0.###} kWh over {Nodes} nodes")]
    public static partial void EnergySeeded(ILogger logger, double kilowattHours, int nodes);

    [LoggerMessage(EventId = 2304, Level = LogLevel.Warning, Message = "Reading today's energy from the telemetry history failed; energy today counts from now")]
    public static partial void EnergySeedFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 2305, Level = LogLevel.Error, Message = "Scoring {Summaries} telemetry summaries for anomalies failed; the next batch is scored")]
    public static partial void AnomaliesFailed(ILogger logger, int summaries, Exception exception);
}
