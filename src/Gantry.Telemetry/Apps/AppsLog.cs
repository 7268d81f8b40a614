using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Apps;

/// <summary>Log messages of the inference-server scraper (event ids 1200–1299).</summary>
internal static partial class AppsLog
{
    [LoggerMessage(EventId = 1200, Level = LogLevel.Warning, Message = "App metrics endpoint {Url} is down: {Error}")]
    public static partial void EndpointDown(ILogger logger, string url, string error, Exception? exception);

    [LoggerMessage(EventId = 1201, Level = LogLevel.Information, Message = "App metrics endpoint {Url} is up ({Kind})")]
    public static partial void EndpointUp(ILogger logger, string url, string kind);
}
