using System.Text;
using Gantry.Cli.Top;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Spectre.Console;

namespace Gantry.Cli.Tests.Top;

public sealed class TopRendererTests
{
    private static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static ClusterSnapshot Snapshot(int runningJobs = 1) => new()
    {
        At = Now,
        Nodes =
        [
            new NodeInfo
            {
                Id = "n-0123456789abcdef",
                Name = "gpu-node-with-a-rather-long-host-name-01.cluster.example.org",
                State = NodeState.Ready,
                Drain = false,
                Os = "linux",
                Architecture = "x64",
                CpuCores = 64,
                MemoryBytes = 512L << 30,
                UsedCpus = 4,
                UsedMemoryBytes = 0,
                Labels = new Dictionary<string, string>(),
                Gpus =
                [
                    new NodeGpuInfo { Index = 0, Uuid = "GPU-0", Model = "NVIDIA H100 80GB HBM3", MemoryBytes = 80L << 30, Simulated = true, JobId = 7 },
                    new NodeGpuInfo { Index = 1, Uuid = "GPU-1", Model = "NVIDIA H100 80GB HBM3", MemoryBytes = 80L << 30, Simulated = true },
                ],
                Jobs = [7],
                RegisteredAt = Now.AddHours(-1),
                LastHeartbeatAt = Now.AddSeconds(-2),
                Summary = new NodeSummary
                {
                    SampledAt = Now.AddSeconds(-2),
                    CpuUtilization = 0.25,
                    PowerWatts = 1234,
                    Simulated = true,
                    Gpus =
                    [
                        new GpuSummary { Index = 0, Utilization = 0.93, MemoryUsedBytes = 70L << 30, MemoryTotalBytes = 80L << 30, TemperatureCelsius = 88, PowerWatts = 690 },
                        new GpuSummary { Index = 1, Utilization = 0.0, MemoryUsedBytes = 0, MemoryTotalBytes = 80L << 30, TemperatureCelsius = 35, PowerWatts = 70 },
                    ],
                },
            },
        ],
        NodeCounts = new Dictionary<NodeState, int> { [NodeState.Ready] = 1 },
        JobCounts = new Dictionary<JobState, int> { [JobState.Running] = runningJobs, [JobState.Pending] = 1, [JobState.Succeeded] = 12 },
        Gpus = 2,
        BusyGpus = 1,
        Running = [.. Enumerable.Range(0, runningJobs).Select(i => new ClusterJob
        {
            Id = 7 + i,
            Name = "train-a-very-large-language-model-with-a-long-name",
            State = JobState.Running,
            Command = ["python", "train.py", "--config", "configs/some/deeply/nested/path/experiment.yaml"],
            GpusRequested = 1,
            Priority = 50,
            SubmittedAt = Now.AddMinutes(-10),
            StartedAt = Now.AddMinutes(-9),
            NodeId = "n-0123456789abcdef",
            Gpus = [0],
        })],
        Pending =
        [
            new ClusterJob
            {
                Id = 99,
                State = JobState.Pending,
                Reason = "no node has 8 free GPUs matching the request right now",
                Command = ["huge.py"],
                GpusRequested = 8,
                Priority = 90,
                SubmittedAt = Now.AddSeconds(-30),
            },
        ],
    };

    [Fact]
    public void RenderPlain_ClusterAt80Columns_EveryLineFitsAndShowsNodesGpusAndJobs()
    {
        var text = TopRenderer.RenderPlain(TopView.FromCluster(Snapshot(), "server http://127.0.0.1:7070"), 80, Now);
        var lines = text.Split('\n');

        Assert.All(lines, line => Assert.True(line.Length <= 80, $"{line.Length} columns: {line}"));
        Assert.Contains("Nodes 1 ready   GPUs 1/2 busy   Power 1234 W", text, StringComparison.Ordinal);
        Assert.Contains("Jobs 1 pending, 1 running, 12 succeeded", text, StringComparison.Ordinal);
        Assert.Contains("gpu-node-with-a-rather-long-h…  ready  simulated  CPU 25%", text, StringComparison.Ordinal);
        var gpu0 = Assert.Single(lines, l => l.StartsWith("  0* ", StringComparison.Ordinal));
        Assert.Contains("#########.  93%", gpu0, StringComparison.Ordinal);
        Assert.Contains("70G/80G", gpu0, StringComparison.Ordinal);
        Assert.Contains("88°C", gpu0, StringComparison.Ordinal);
        Assert.Contains("690W", gpu0, StringComparison.Ordinal);
        Assert.EndsWith("7", gpu0, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("  1* ", StringComparison.Ordinal) && l.Contains("..........   0%", StringComparison.Ordinal));
        var running = Assert.Single(lines, l => l.StartsWith("  7 ", StringComparison.Ordinal));
        Assert.Contains("running", running, StringComparison.Ordinal);
        Assert.EndsWith("…", running, StringComparison.Ordinal);
        Assert.Contains(lines, l => l.StartsWith("  99 ", StringComparison.Ordinal) && l.Contains("huge.py", StringComparison.Ordinal));
        Assert.DoesNotContain("q to quit", text, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_LiveAt80Columns_SpectreOutputNeverWraps()
    {
        var writer = new StringWriter { NewLine = "\n" };
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Ansi = AnsiSupport.No,
            ColorSystem = ColorSystemSupport.NoColors,
            Interactive = InteractionSupport.No,
            Out = new AnsiConsoleOutput(writer),
        });
        console.Profile.Width = 80;
        console.Profile.Capabilities.Unicode = true;
        var view = TopView.FromCluster(Snapshot(), "server http://127.0.0.1:7070");

        console.Write(TopRenderer.Render(view, console.Profile.Width, Now, unicode: true));

        var lines = writer.ToString().Split('\n');
        Assert.All(lines, line => Assert.True(line.TrimEnd().Length <= 80, $"{line.Length} columns: {line}"));
        // One screen line per view line: nothing wrapped onto a second line.
        Assert.Equal(TopRenderer.Lines(view, 80, Now, unicode: true, live: true).Count, lines.Length - 1);
        Assert.Contains("q to quit", lines[0], StringComparison.Ordinal);
        Assert.Contains(lines, l => l.Contains("█████████░  93%", StringComparison.Ordinal));
    }

    [Fact]
    public void RenderPlain_ManyRunningJobs_CappedWithACountOfTheRest()
    {
        var text = TopRenderer.RenderPlain(TopView.FromCluster(Snapshot(runningJobs: 180), "server x"), 80, Now);

        Assert.Contains("RUNNING (180)", text, StringComparison.Ordinal);
        Assert.Contains($"… {180 - TopRenderer.MaxJobRows} more", text, StringComparison.Ordinal);
    }

    [Fact]
    public void RenderPlain_WiderTerminal_UsesTheRoomForTheModel()
    {
        var text = TopRenderer.RenderPlain(TopView.FromCluster(Snapshot(), "server x"), 120, Now);

        Assert.Contains("H100 80GB HBM3", text, StringComparison.Ordinal);
        Assert.All(text.Split('\n'), line => Assert.True(line.Length <= 120));
    }

    [Fact]
    public void FromAgentStatus_AgentJson_OneNodeWithItsGpus()
    {
        var json = """
            {"sequence":3,"timestamp":"2026-03-01T12:00:00+00:00","host":{"hostname":"gpu-07","operatingSystem":"linux","architecture":"x64","kernelVersion":"6.1",
             "memory":{"totalBytes":68719476736,"availableBytes":34359738368}},
             "gpus":{"status":"simulated","gpus":[{"index":0,"uuid":"GPU-a","name":"NVIDIA A100-SXM4-40GB","simulated":true,"memoryTotalBytes":42949672960,"memoryUsedBytes":10737418240,
               "utilizationGpuPercent":50,"temperatureCelsius":60,"powerWatts":250,"unknownField":[1,2]}]},
             "nodePower":{"watts":400,"source":"gpus"},"collectors":[],"self":{}}
            """u8;

        var view = TopView.FromAgentStatus(json, "agent http://gpu-07:9450");
        var text = TopRenderer.RenderPlain(view, 80, Now);

        var node = Assert.Single(view.Nodes);
        Assert.Equal(("gpu-07", 400.0, 32L << 30), (node.Name, node.PowerWatts!.Value, node.MemoryUsedBytes!.Value));
        var gpu = Assert.Single(node.Gpus);
        Assert.Equal(0.5, gpu.Utilization);
        Assert.Contains("GPUs 1/1 busy   Power 400 W", text, StringComparison.Ordinal);
        Assert.Contains(text.Split('\n'), l => l.StartsWith("  0* ", StringComparison.Ordinal) && l.Contains("A100-SXM4-40GB", StringComparison.Ordinal) && l.Contains("#####.....  50%", StringComparison.Ordinal));
        Assert.DoesNotContain("RUNNING", text, StringComparison.Ordinal);
    }

    [Fact]
    public void FromAgentStatus_NotAStatusDocument_Throws()
    {
        Assert.ThrowsAny<System.Text.Json.JsonException>(() => TopView.FromAgentStatus(Encoding.UTF8.GetBytes("{\"status\":\"starting\"}"), "agent x"));
    }
}
