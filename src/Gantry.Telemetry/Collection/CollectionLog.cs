using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Collection;

internal static partial class CollectionLog
{
    [LoggerMessage(EventId = 1, Level = LogLevel.Warning, Message = "Collector {Collector} failed: {Reason}. The sample goes on without it; logged again only after it recovers and fails anew.")]
    public static partial void CollectorFailed(ILogger logger, Exception? exception, string collector, string reason);

    [LoggerMessage(EventId = 2, Level = LogLevel.Information, Message = "Collector {Collector} recovered.")]
    public static partial void CollectorRecovered(ILogger logger, string collector);
}
