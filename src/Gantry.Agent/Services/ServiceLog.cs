using Gantry.Core.Protocol;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Services;

/// <summary>The service monitor's log messages (event ids 3400–3409).</summary>
internal static partial class ServiceLog
{
    [LoggerMessage(EventId = 3400, Level = LogLevel.Information, Message = "Service job {JobId} attempt {Attempt}: watching {Check} (grace {GraceSeconds:0.#}s, every {IntervalSeconds:0.#}s){Metrics}")]
    public static partial void Watching(ILogger logger, long jobId, int attempt, string check, double graceSeconds, double intervalSeconds, string metrics);

    [LoggerMessage(EventId = 3401, Level = LogLevel.Information, Message = "Service job {JobId} attempt {Attempt} is {Health}{Detail}")]
    public static partial void HealthChanged(ILogger logger, long jobId, int attempt, ServiceHealth health, string detail);

    [LoggerMessage(EventId = 3402, Level = LogLevel.Warning, Message = "Service job {JobId} attempt {Attempt} is unhealthy ({Message}); stopping it so that its restart policy starts it again")]
    public static partial void StoppingUnhealthy(ILogger logger, long jobId, int attempt, string message);

    [LoggerMessage(EventId = 3403, Level = LogLevel.Warning, Message = "Service job {JobId} attempt {Attempt}: its metrics endpoint {Url} failed: {Error}")]
    public static partial void MetricsFailed(ILogger logger, long jobId, int attempt, string url, string error);

    [LoggerMessage(EventId = 3404, Level = LogLevel.Error, Message = "Service job {JobId} attempt {Attempt}: its monitor failed; it is no longer checked")]
    public static partial void MonitorFailed(ILogger logger, long jobId, int attempt, Exception exception);
}
