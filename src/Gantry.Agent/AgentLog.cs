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

    [LoggerMessage(EventId = 105, Level = LogLevel.Information, Message = "GC generation-0 budget {Size}, regions to match (--gc-gen0-size)")]
    public static partial void Gen0Size(ILogger logger, string size);

    [LoggerMessage(EventId = 106, Level = LogLevel.Warning, Message = "--gc-gen0-size not applied: {Problem}")]
    public static partial void Gen0SizeNotApplied(ILogger logger, string problem);

    [LoggerMessage(EventId = 110, Level = LogLevel.Debug, Message = "Job {JobId} attempt {Attempt} started as pid {Pid}")]
    public static partial void AttemptStarted(ILogger logger, long jobId, int attempt, int pid);

    [LoggerMessage(EventId = 111, Level = LogLevel.Debug, Message = "Job {JobId} attempt {Attempt} ended ({Cause}, exit status {ExitStatus})")]
    public static partial void AttemptEnded(ILogger logger, long jobId, int attempt, Gantry.Core.Protocol.AttemptEndCause cause, int exitStatus);

    [LoggerMessage(EventId = 112, Level = LogLevel.Information, Message = "Job {JobId} attempt {Attempt} could not start: {Reason}")]
    public static partial void AttemptStartFailed(ILogger logger, long jobId, int attempt, string reason);

    [LoggerMessage(EventId = 113, Level = LogLevel.Information, Message = "Stopping job {JobId} attempt {Attempt} ({Cause}): SIGTERM to its process group, SIGKILL after {GraceSeconds}s")]
    public static partial void AttemptStopping(ILogger logger, long jobId, int attempt, Gantry.Core.Protocol.AttemptEndCause cause, double graceSeconds);

    [LoggerMessage(EventId = 114, Level = LogLevel.Warning, Message = "Job {JobId} attempt {Attempt} (pid {Pid}) was left by an earlier agent run; killed: {Killed}")]
    public static partial void OrphanFound(ILogger logger, long jobId, int attempt, int pid, bool killed);

    [LoggerMessage(EventId = 115, Level = LogLevel.Warning, Message = "Cannot keep the attempt record in {Directory}: an agent restart will not find this attempt")]
    public static partial void AttemptRecordFailed(ILogger logger, string directory, Exception exception);

    [LoggerMessage(EventId = 116, Level = LogLevel.Warning, Message = "setsid (util-linux) not found: jobs run without their own process group, so a stop reaches only the job's main process")]
    public static partial void NoSetsid(ILogger logger);

    [LoggerMessage(EventId = 121, Level = LogLevel.Information, Message = "Jobs' CPU and memory reservations are enforced with cgroup v{Version} in {Where}")]
    public static partial void JobLimitsEnforced(ILogger logger, int version, string where);

    [LoggerMessage(EventId = 122, Level = LogLevel.Warning, Message = "Jobs' CPU and memory reservations are NOT enforced (bookkeeping only): {Reason}. Run the agent as root or in a delegated cgroup, or give --job-limits off to silence this")]
    public static partial void JobLimitsNotEnforced(ILogger logger, string reason);

    [LoggerMessage(EventId = 117, Level = LogLevel.Warning, Message = "Jobs run as the agent's user {User} (uid {Uid}); run the agent as root to run them as their owners")]
    public static partial void JobsRunAsAgent(ILogger logger, string user, uint uid);

    [LoggerMessage(EventId = 118, Level = LogLevel.Information, Message = "Jobs run as their owners' Unix users ({Nobody} for a token that names none and may not run as root)")]
    public static partial void JobsRunAsOwners(ILogger logger, string nobody);

    [LoggerMessage(EventId = 119, Level = LogLevel.Error, Message = "The agent runs as root but setpriv (util-linux) is not installed: jobs that must run as another user fail to start")]
    public static partial void NoSetpriv(ILogger logger);

    [LoggerMessage(EventId = 120, Level = LogLevel.Warning, Message = "The join token file {Path} is readable by other users (and so by jobs): chmod 600 it")]
    public static partial void JoinTokenFileShared(ILogger logger, string path);

    [LoggerMessage(EventId = 130, Level = LogLevel.Information, Message = "Registered with {Server} as node {NodeId} ({Name}); heartbeat every {IntervalSeconds}s")]
    public static partial void Registered(ILogger logger, Uri server, string nodeId, string name, double intervalSeconds);

    [LoggerMessage(EventId = 131, Level = LogLevel.Warning, Message = "Control plane {Server} unreachable; retrying with backoff while sampling and serving go on")]
    public static partial void ServerUnreachable(ILogger logger, string server, Exception exception);

    [LoggerMessage(EventId = 145, Level = LogLevel.Error, Message = "Refusing to connect to {Server}: {Problem}")]
    public static partial void ServerNotTrusted(ILogger logger, Uri server, string problem);

    [LoggerMessage(EventId = 132, Level = LogLevel.Information, Message = "Control plane {Server} reachable again after {Seconds:0.#}s")]
    public static partial void ServerReachable(ILogger logger, Uri server, double seconds);

    [LoggerMessage(EventId = 133, Level = LogLevel.Information, Message = "The server no longer knows this node or its credential ({Status}); registering again")]
    public static partial void Reregistering(ILogger logger, int status);

    [LoggerMessage(EventId = 146, Level = LogLevel.Information, Message = "{Gpus} GPU(s) found after registering with none (the GPU source failed at first); registering again")]
    public static partial void GpusFoundLate(ILogger logger, int gpus);

    [LoggerMessage(EventId = 134, Level = LogLevel.Error, Message = "The server refused registration with {Status}: {Detail}")]
    public static partial void RegistrationRefused(ILogger logger, int status, string detail);

    [LoggerMessage(EventId = 135, Level = LogLevel.Information, Message = "The server fenced job {JobId} attempt {Attempt} (epoch {Epoch}); stopping it and dropping what was queued for it")]
    public static partial void AttemptFenced(ILogger logger, long jobId, int attempt, long epoch);

    [LoggerMessage(EventId = 136, Level = LogLevel.Warning, Message = "The server refused an upload for job {JobId} attempt {Attempt} with {Status}: {Detail}; it is dropped")]
    public static partial void UploadRefused(ILogger logger, long jobId, int attempt, int status, string detail);

    [LoggerMessage(EventId = 137, Level = LogLevel.Warning, Message = "Output of job {JobId} attempt {Attempt} exceeds {Limit} buffered characters while the server is unreachable; dropping output")]
    public static partial void OutputDropped(ILogger logger, long jobId, int attempt, int limit);

    [LoggerMessage(EventId = 138, Level = LogLevel.Warning, Message = "Cannot write the node id to {Path}: the next start registers as a new node")]
    public static partial void NodeIdNotSaved(ILogger logger, string path, Exception exception);

    [LoggerMessage(EventId = 139, Level = LogLevel.Error, Message = "A control-plane loop failed; it starts again")]
    public static partial void LoopFailed(ILogger logger, Exception exception);

    [LoggerMessage(EventId = 140, Level = LogLevel.Information, Message = "Following the control-plane leader at {Leader} (named by {Server})")]
    public static partial void FollowingLeader(ILogger logger, Uri leader, Uri server);

    [LoggerMessage(EventId = 141, Message = "Control plane {Server}: {Reason}; trying {Next}")]
    public static partial void SwitchingServer(ILogger logger, LogLevel level, Uri server, string reason, Uri next);

    [LoggerMessage(EventId = 142, Level = LogLevel.Warning, Message = "Ignoring answers from {Server}: they come from leader epoch {Epoch}, older than epoch {Highest} already seen (a replica that lost leadership); running jobs are left as they are")]
    public static partial void StaleLeaderIgnored(ILogger logger, Uri server, long epoch, long highest);

    [LoggerMessage(EventId = 143, Level = LogLevel.Information, Message = "Control-plane leader epoch {Epoch} at {Server}")]
    public static partial void LeaderEpoch(ILogger logger, long epoch, Uri server);

    [LoggerMessage(EventId = 144, Level = LogLevel.Warning, Message = "The server refused the heartbeat's GPU health ({Detail}); heartbeats go without it until a server asks for it again")]
    public static partial void HealthRefused(ILogger logger, string detail);
}
