using Microsoft.Extensions.Logging;

namespace Gantry.Agent;

internal static partial class AgentLog
{
    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "Agent listening on {Url} (metrics at {Url}/metrics, status at {Url}/status); sampling every {Interval}")]
    public static partial void Listening(ILogger logger, string url, string interval);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "First sample taken: {GpuCount} GPU(s), GPU source {Status}. {Message}")]
    public static partial void FirstSample(ILogger logger, int gpuCount, string status, string message);

    [LoggerMessage(EventId = 102, Level = LogLevel.Error, Message = "A sample failed; the next one runs on schedule")]
    public static partial void SampleFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 103, Level = LogLevel.Warning, Message = "GPUs are SIMULATED (--simulate-gpus {Count}): every GPU series is labelled simulated=\"true\"; no real GPU is measured")]
    public static partial void SimulatingGpus(ILogger logger, int count);

    [LoggerMessage(EventId = 104, Level = LogLevel.Information, Message = "procfs not found at {Path}: using the portable collectors (fewer host metrics)")]
    public static partial void PortableCollectors(ILogger logger, string path);
}
