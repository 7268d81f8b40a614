using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>
/// The exact podman and docker command lines of a container attempt (docs/containers-jobs.md), and the runtime
/// detection and preparation around them, with stand-in runtime programs (shell scripts) where a call is made.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerRuntimeCliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-runtime-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static ContainerRun Run(ContainerRuntime runtime, ContainerGpuMode mode = ContainerGpuMode.Cdi) => new()
    {
        Runtime = runtime,
        Name = "gantry-job-12-2-n0abc",
        Spec = new ContainerSpec
        {
            Image = "localhost/trainer:1",
            Runtime = runtime,
            Ports = [new PortMapping { ContainerPort = 8000 }, new PortMapping { ContainerPort = 9000, HostPort = 19000 }],
            Volumes = [new VolumeMount { HostPath = "/data", ContainerPath = "/data" }, new VolumeMount { HostPath = "/models", ContainerPath = "/m", ReadOnly = true }],
        },
        JobId = 12,
        Attempt = 2,
        NodeId = "n0abc",
        DeviceUuids = ["GPU-aaaa", "GPU-bbbb"],
        GpuUuids = ["GPU-aaaa", "GPU-bbbb"],
        GpuMode = mode,
        Environment = [new("CUDA_VISIBLE_DEVICES", "0,1"), new("SECRET", "hunter2")],
        Cpus = 4,
        MemoryBytes = 1L << 30,
        User = "1001:1001",
        Groups = [27],
        WorkingDirectory = "/work",
        Command = ["python", "train.py", "--epochs", "3"],
    };

    [Fact]
    public void RunArguments_Podman_CdiDevicesLimitsPortsVolumesUserAndCommand()
    {
        Assert.Equal(
            [
                "run", "--name", "gantry-job-12-2-n0abc", "--label", "gantry.io/job=12", "--label", "gantry.io/attempt=2", "--label", "gantry.io/node=n0abc",
                "--device", "nvidia.com/gpu=GPU-aaaa", "--device", "nvidia.com/gpu=GPU-bbbb",
                "--env", "CUDA_VISIBLE_DEVICES=0,1", "--env", "SECRET=hunter2",
                "--cpus", "4", "--memory", "1073741824", "--memory-swap", "1073741824",
                "--publish", "8000:8000", "--publish", "19000:9000",
                "--volume", "/data:/data", "--volume", "/models:/m:ro",
                "--user", "1001:1001", "--group-add", "27", "--workdir", "/work",
                "localhost/trainer:1", "python", "train.py", "--epochs", "3",
            ],
            ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Podman)));
    }

    [Fact]
    public void RunArguments_Docker_GpusAsOneQuotedDeviceList()
    {
        var args = ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Docker));

        var gpus = args.IndexOf("--gpus");
        Assert.Equal("\"device=GPU-aaaa,GPU-bbbb\"", args[gpus + 1]);
        Assert.DoesNotContain("--device", args);
        Assert.Equal(1, args.Count(a => a == "--gpus"));
    }

    [Fact]
    public void RunArguments_EnvOnlyOrNoDevices_NoDeviceArguments()
    {
        Assert.DoesNotContain("--device", ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Podman, ContainerGpuMode.EnvOnly)));
        Assert.DoesNotContain("--gpus", ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Docker, ContainerGpuMode.EnvOnly)));
        Assert.DoesNotContain("--device", ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Podman) with { DeviceUuids = [] }));
    }

    [Fact]
    public void RunArguments_ShellOrNoCommand_EntrypointShOrTheImagesOwn()
    {
        var shell = ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Podman) with { Shell = true, Command = ["echo $HOME"] });
        Assert.Equal(["--entrypoint", "/bin/sh", "localhost/trainer:1", "-c", "echo $HOME"], shell[^5..]);

        var bare = ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Podman) with { Command = [], User = null, Groups = [], WorkingDirectory = null, Cpus = 0, MemoryBytes = 0 });
        Assert.Equal("localhost/trainer:1", bare[^1]);
        Assert.DoesNotContain("--user", bare);
        Assert.DoesNotContain("--memory", bare);
        Assert.DoesNotContain("--cpus", bare);
    }

    [Fact]
    public void ForLog_EnvironmentValuesLeftOut()
    {
        var line = ContainerRuntimeCli.ForLog("/usr/bin/podman", ContainerRuntimeCli.RunArguments(Run(ContainerRuntime.Podman)));

        Assert.StartsWith("/usr/bin/podman run --name gantry-job-12-2-n0abc", line, StringComparison.Ordinal);
        Assert.Contains("--env SECRET=…", line, StringComparison.Ordinal);
        Assert.DoesNotContain("hunter2", line, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherCalls_StopKillInspectRemoveList()
    {
        Assert.Equal(["stop", "-t", "3", "c"], ContainerRuntimeCli.StopArguments("c", TimeSpan.FromSeconds(2.5)));
        Assert.Equal(["kill", "c"], ContainerRuntimeCli.KillArguments("c"));
        Assert.Equal(["inspect", "--format", "{{.State.OOMKilled}}", "c"], ContainerRuntimeCli.OomKilledArguments("c"));
        Assert.Equal(["rm", "-f", "c"], ContainerRuntimeCli.RemoveArguments("c"));
        Assert.Equal(["ps", "-a", "--filter", "label=gantry.io/node=n1", "--format", "{{.Names}}"], ContainerRuntimeCli.ListArguments("n1"));
        Assert.Equal("gantry-job-5-1-n1", ContainerRuntimeCli.ContainerName(5, 1, "n1"));
        Assert.Equal("gantry-job-5-1", ContainerRuntimeCli.ContainerName(5, 1, null));
    }

    [Fact]
    public async Task DetectAsync_AnswerFoundWithItsVersion_FailureAndMissingNot()
    {
        var podman = Script("podman", "echo 4.9.3");
        var docker = Script("docker", "echo 28.2.2; echo 'Cannot connect to the Docker daemon' >&2; exit 1");
        var containers = Jobs(new ContainerSettings
        {
            Runtimes = [ContainerRuntime.Podman, ContainerRuntime.Docker],
            Paths = new Dictionary<ContainerRuntime, string> { [ContainerRuntime.Podman] = podman, [ContainerRuntime.Docker] = docker },
        });

        await containers.DetectAsync(CancellationToken.None);

        var found = Assert.Single(containers.Found);
        Assert.Equal(ContainerRuntime.Podman, found.Name);
        Assert.Equal("4.9.3", found.Version);

        var none = Jobs(new ContainerSettings { Runtimes = [] });
        await none.DetectAsync(CancellationToken.None);
        Assert.Empty(none.Found);
    }

    [Fact]
    public async Task TryPrepare_SimulatedGpusNoDevice_UnknownUuidOrRuntimeRefused()
    {
        var podman = Script("podman", "echo 4.3.1");
        var gpus = new Dictionary<int, ContainerGpu> { [0] = new("GPU-real", false), [1] = new("GPU-sim-1", true) };
        var containers = new ContainerJobs(
            new ContainerSettings { Runtimes = [ContainerRuntime.Podman], Paths = new Dictionary<ContainerRuntime, string> { [ContainerRuntime.Podman] = podman } },
            i => gpus.TryGetValue(i, out var g) ? g : null,
            TimeProvider.System,
            NullLogger<ContainerJobs>.Instance);
        await containers.DetectAsync(CancellationToken.None);
        var key = new AttemptKey(7, 1, 1);

        var assignment = Assignment([0, 1], ContainerRuntime.Podman);
        var env = containers.Environment(key, assignment, "n1");
        Assert.True(containers.TryPrepare(key, assignment, env, null, "n1", out var handle, out var args, out _));
        Assert.Equal(podman, handle!.Program);
        Assert.Equal("gantry-job-7-1-n1", handle.Name);
        Assert.Equal(["--device", "nvidia.com/gpu=GPU-real"], args.Where((a, i) => a == "--device" || (i > 0 && args[i - 1] == "--device")));
        Assert.Contains("CUDA_VISIBLE_DEVICES=0,1", args);
        Assert.Contains("NVIDIA_VISIBLE_DEVICES=GPU-real,GPU-sim-1", args);
        Assert.Contains("GANTRY_GPUS=0,1", args);
        Assert.Contains("GANTRY_JOB_ID=7", args);

        Assert.False(containers.TryPrepare(key, Assignment([2], ContainerRuntime.Podman), env, null, "n1", out _, out _, out var unknown));
        Assert.Contains("UUID of GPU 2", unknown, StringComparison.Ordinal);
        Assert.False(containers.TryPrepare(key, Assignment([], ContainerRuntime.Docker), env, null, "n1", out _, out _, out var lacking));
        Assert.Equal("node has no container runtime docker", lacking);
    }

    private static Assignment Assignment(int[] gpus, ContainerRuntime runtime) => new()
    {
        JobId = 7,
        Attempt = 1,
        Epoch = 1,
        Action = AssignmentAction.Run,
        Command = [],
        Gpus = gpus,
        Cpus = 1,
        MemoryBytes = 0,
        KillGraceSeconds = 1,
        Env = new Dictionary<string, string> { ["CUDA_VISIBLE_DEVICES"] = "7" },
        Container = new ContainerSpec { Image = "localhost/x", Runtime = runtime },
    };

    private static ContainerJobs Jobs(ContainerSettings settings) => new(settings, _ => null, TimeProvider.System, NullLogger<ContainerJobs>.Instance);

    private string Script(string name, string body)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "#!/bin/sh\n" + body + "\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }
}
