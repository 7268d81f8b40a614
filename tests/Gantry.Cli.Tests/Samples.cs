using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Tests;

/// <summary>API records as a server would send them, around <see cref="CliHarness.Now"/>.</summary>
internal static class Samples
{
    private static readonly DateTimeOffset Now = CliHarness.Now;

    public static NodeInfo Node(string id = "gpu-01", NodeState state = NodeState.Ready, int gpus = 8, int busy = 3, string? labels = "zone=a,rack=3") => new()
    {
        Id = id,
        Name = id + ".cluster.example",
        State = state,
        Drain = state is NodeState.Draining or NodeState.Drained,
        Os = "linux",
        Architecture = "x64",
        CpuCores = 128,
        MemoryBytes = 2L * 1024 * 1024 * 1024 * 1024,
        UsedCpus = 24,
        UsedMemoryBytes = 96L * 1024 * 1024 * 1024,
        Labels = labels is null ? new Dictionary<string, string>() : labels.Split(',').Select(p => p.Split('=')).ToDictionary(p => p[0], p => p[1]),
        Gpus = Enumerable.Range(0, gpus).Select(i => new NodeGpuInfo
        {
            Index = i,
            Uuid = $"GPU-{i:D8}-aaaa-bbbb-cccc-dddddddddddd",
            Model = "NVIDIA H100 80GB HBM3",
            MemoryBytes = 80L * 1024 * 1024 * 1024,
            JobId = i < busy ? 40 + i : null,
        }).ToArray(),
        Jobs = Enumerable.Range(0, busy).Select(i => 40L + i).ToArray(),
        RegisteredAt = Now.AddDays(-3),
        LastHeartbeatAt = Now.AddSeconds(-3),
        AgentVersion = "0.1.0",
        AgentUrl = "http://10.0.0.5:9450",
        Summary = new NodeSummary
        {
            SampledAt = Now.AddSeconds(-4),
            CpuUtilization = 0.25,
            MemoryUsedBytes = 100L * 1024 * 1024 * 1024,
            MemoryTotalBytes = 2L * 1024 * 1024 * 1024 * 1024,
            PowerWatts = 3150,
            Gpus = [new GpuSummary { Index = 0, Utilization = 0.97, TemperatureCelsius = 61, PowerWatts = 640 }],
        },
    };

    public static JobInfo Job(long id, JobState state, string? name = "train", string? reason = null, string? node = "gpu-01") => new()
    {
        Id = id,
        Name = name,
        State = state,
        Reason = reason,
        Command = ["python", "train.py", "--lr", "3e-4"],
        Env = new Dictionary<string, string> { ["WANDB_MODE"] = "offline" },
        WorkingDirectory = "/data/runs",
        Resources = new ResourceRequest { Gpus = 2, GpuModel = "H100", Cpus = 8, MemoryBytes = 64L * 1024 * 1024 * 1024 },
        Priority = 50,
        Selector = new Dictionary<string, string>(),
        MaxRuntimeSeconds = 7200,
        Retries = 1,
        SubmittedAt = Now.AddMinutes(-30),
        StartedAt = state is JobState.Pending ? null : Now.AddMinutes(-20),
        EndedAt = state.IsTerminal() ? Now.AddMinutes(-5) : null,
        ExitCode = state is JobState.Failed ? 3 : state is JobState.Succeeded ? 0 : null,
        NodeId = state is JobState.Pending ? null : node,
        Gpus = state is JobState.Pending ? [] : [0, 1],
        Attempts = state is JobState.Pending ? [] :
        [
            new AttemptInfo
            {
                Attempt = 1,
                Epoch = 17,
                NodeId = node ?? "gpu-01",
                Gpus = [0, 1],
                State = state is JobState.Failed ? AttemptState.Failed : AttemptState.Running,
                AssignedAt = Now.AddMinutes(-21),
                StartedAt = Now.AddMinutes(-20),
                EndedAt = state.IsTerminal() ? Now.AddMinutes(-5) : null,
                ExitCode = state is JobState.Failed ? 3 : null,
                Reason = state is JobState.Failed ? "exit code 3" : null,
            },
        ],
        Transitions =
        [
            new JobTransition { Time = Now.AddMinutes(-30), To = JobState.Pending, Reason = "submitted" },
            new JobTransition { Time = Now.AddMinutes(-21), From = JobState.Pending, To = JobState.Assigned, Reason = "placed on gpu-01 GPUs 0,1" },
        ],
    };
}
