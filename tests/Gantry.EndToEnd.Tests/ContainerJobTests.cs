using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// Container jobs end to end (docs/containers-jobs.md): a real <c>gantry server</c>, a real agent on the fake NVML
/// library (two GPUs) running container jobs with the real podman (as root, runc and cgroupfs through the tests'
/// containers.conf, handed to the agent as CONTAINERS_CONF), an image built here from scratch with Debian's static
/// busybox, and the real CLI. The fake GPUs have no CDI device, so the agent runs with <c>--container-gpus env-only</c>;
/// the device arguments are checked by ContainerRuntimeCliTests. No docker engine here: the agent is told
/// <c>--container-runtimes podman</c>, and a docker job waits.
/// </summary>
[Collection("fleet")]
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class ContainerJobTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("gantry-e2e-containers-").FullName;
    private readonly string _joinToken = "gjoin_e2e-" + Guid.NewGuid().ToString("N");
    private readonly Podman _podman = new();
    private TestStore _store = null!;
    private GantryProcess _server = null!;
    private GantryProcess _agent = null!;
    private string[] _agentArguments = [];
    private Dictionary<string, string> _agentEnvironment = [];
    private HttpClient _admin = null!;
    private string _url = null!;
    private string _image = null!;
    private string _nodeId = "";

    public async Task InitializeAsync()
    {
        Assert.True(Environment.IsPrivilegedProcess, "podman runs as root here: run scripts/test.sh as root (CI does)");
        var busybox = Tools.Require("busybox", "busybox-static");
        _image = await _podman.BuildFromScratchAsync("localhost/" + Podman.UniqueName("gantry-test-job"), new Dictionary<string, string> { ["/bin/busybox"] = busybox, ["/bin/sh"] = busybox });

        _store = await TestStore.CreateAsync();
        var dataDir = Path.Combine(_root, "server");
        var port = Tools.FreePort();
        _url = $"http://127.0.0.1:{port}";
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{port}", "--data-dir", dataDir, .. _store.Arguments, "--heartbeat-interval", "1s",
            "--down-after", "10s", "--kill-grace", "2s", "--join-token", _joinToken]);
        await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        _admin = new HttpClient { BaseAddress = new Uri(_url), Timeout = TimeSpan.FromSeconds(60) };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim());

        var script = Path.Combine(_root, "nvml.txt");
        File.WriteAllLines(script, ["gpus=2"]);
        _agentEnvironment = new Dictionary<string, string>(_podman.Environment) { [FakeNvmlLibrary.ScriptVariable] = script };
        _agentArguments =
        [
            "agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--nvml-library", FakeNvmlLibrary.CurrentDriverPath,
            "--server", _url, "--join-token", _joinToken, "--state-dir", Path.Combine(_root, "agent"), "--node-name", "container-node",
            "--container-runtimes", "podman", "--container-runtime-path", "podman=" + _podman.Program, "--container-gpus", "env-only", "--log-level", "debug",
        ];
        await StartAgentAsync();
        await WaitAsync("the node ready with podman in its facts", async () => (await NodesAsync()) is [{ State: NodeState.Ready, ContainerRuntimes: [{ Name: ContainerRuntime.Podman }] }]);
        _nodeId = (await NodesAsync())[0].Id;
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        foreach (var name in await GantryContainersAsync())
        {
            await _podman.RunAsync("rm", "-f", name);
        }

        await _server.DisposeAsync();
        _admin.Dispose();
        await _store.DisposeAsync();

        _podman.Dispose();
        Directory.Delete(_root, recursive: true);
    }

    [Fact]
    public async Task ContainerJob_SeesItsMemoryLimitAndGpus_OutputStreamedToItsLog_ShownByTheCli()
    {
        var env = CliEnvironment();
        var (code, output) = await GantryProcess.RunAsync(
            ["jobs", "submit", "--image", _image, "--gpus", "2", "--cpus", "1", "--memory", "64", "--env", "GREETING=hello", "--wait", "--",
                "/bin/busybox", "sh", "-c", "busybox cat /sys/fs/cgroup/memory/memory.limit_in_bytes; echo cuda=$CUDA_VISIBLE_DEVICES nvidia=$NVIDIA_VISIBLE_DEVICES job=$GANTRY_JOB_ID $GREETING; echo to-stderr >&2; exit 3"],
            env,
            TimeSpan.FromMinutes(3));
        Assert.True(code == 3, output);
        Assert.Contains("67108864\n", output, StringComparison.Ordinal);
        Assert.Contains("cuda=0,1 nvidia=GPU-fake-0000,GPU-fake-0001 job=1 hello\n", output, StringComparison.Ordinal);
        Assert.Contains("to-stderr\n", output, StringComparison.Ordinal);

        // The log as stored, stdout and stderr both; the attempt ended as a process job's does.
        var logs = await _admin.GetStringAsync("/api/v1/jobs/1/logs");
        Assert.Contains("cuda=0,1", logs, StringComparison.Ordinal);
        Assert.Contains("to-stderr", logs, StringComparison.Ordinal);
        var job = await JobAsync(1);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(3, job.ExitCode);
        Assert.Equal(_image, job.Container?.Image);

        // jobs show and nodes show name the container and the runtime; the container was removed.
        var (showCode, shown) = await GantryProcess.RunAsync(["jobs", "show", "1"], env, TimeSpan.FromSeconds(60));
        Assert.True(showCode == 0, shown);
        Assert.Contains("podman " + _image, shown, StringComparison.Ordinal);
        var node = (await NodesAsync())[0];
        var (nodeCode, nodeShown) = await GantryProcess.RunAsync(["nodes", "show", node.Id], env, TimeSpan.FromSeconds(60));
        Assert.True(nodeCode == 0, nodeShown);
        Assert.Contains("podman " + node.ContainerRuntimes[0].Version, nodeShown, StringComparison.Ordinal);
        Assert.Empty(await GantryContainersAsync());
    }

    [Fact]
    public async Task ContainerJob_Cancelled_StopsAndRemovesTheContainer()
    {
        var id = await SubmitSleeperAsync();
        var name = await WaitForContainerAsync(id);
        var (code, output) = await GantryProcess.RunAsync(["jobs", "cancel", id.ToString(System.Globalization.CultureInfo.InvariantCulture)], CliEnvironment(), TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        await WaitAsync("the job cancelled", async () => (await JobAsync(id)).State == JobState.Cancelled);
        await WaitAsync("its container gone", async () => !(await GantryContainersAsync()).Contains(name));
    }

    [Fact]
    public async Task AgentKilled_LeftoverContainerRemovedWhenItStartsAgain()
    {
        var id = await SubmitSleeperAsync();
        var name = await WaitForContainerAsync(id);
        await _agent.KillHardAsync();
        await Task.Delay(1000);
        Assert.Contains(name, await GantryContainersAsync());

        await StartAgentAsync();
        await WaitAsync("the leftover container removed", async () => !(await GantryContainersAsync()).Contains(name));
        await WaitAsync("its attempt ended", async () => (await JobAsync(id)).State.IsTerminal());
        Assert.Contains($"container {name} was left by an earlier agent run; removed: True", _agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ContainerJob_PastItsMaxRuntime_StoppedAsTimedOutAndRemoved()
    {
        var id = (await SubmitAsync(new JobSubmission { Command = ["/bin/busybox", "sleep", "300"], Container = new ContainerSpec { Image = _image }, MaxRuntimeSeconds = 3 }))[0];
        var name = await WaitForContainerAsync(id);
        await WaitAsync("the job ended", async () => (await JobAsync(id)).State.IsTerminal());
        var job = await JobAsync(id);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Contains("maximum run time", job.Attempts[0].Reason, StringComparison.Ordinal);
        await WaitAsync("its container gone", async () => !(await GantryContainersAsync()).Contains(name));
    }

    [Fact]
    public async Task ContainerJob_TokenWithoutAUnixUser_RunsAsNobodyInTheContainer()
    {
        using var created = await _admin.PostAsJsonAsync("/api/v1/tokens", new CreateTokenRequest { Name = "carol", Role = Role.User }, GantryJson.Default.CreateTokenRequest);
        Assert.True(created.IsSuccessStatusCode, await created.Content.ReadAsStringAsync());
        var token = (await created.Content.ReadFromJsonAsync(GantryJson.Default.CreateTokenResponse))!.Token;
        using var carol = new HttpClient { BaseAddress = new Uri(_url), Timeout = TimeSpan.FromSeconds(60) };
        carol.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        using var response = await carol.PostAsJsonAsync("/api/v1/jobs", new JobSubmission { Command = ["/bin/busybox", "id"], Container = new ContainerSpec { Image = _image } }, GantryJson.Default.JobSubmission);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];

        await WaitAsync("the job ended", async () => (await JobAsync(id)).State.IsTerminal());
        Assert.Equal(JobState.Succeeded, (await JobAsync(id)).State);
        Assert.Contains("uid=65534", await _admin.GetStringAsync($"/api/v1/jobs/{id}/logs"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task DockerJob_OnANodeWithoutDocker_WaitsWithThatReason()
    {
        var id = (await SubmitAsync(new JobSubmission { Command = ["true"], Container = new ContainerSpec { Image = _image, Runtime = ContainerRuntime.Docker } }))[0];
        await WaitAsync("the reason", async () => (await JobAsync(id)).Reason == "no ready node has container runtime docker (1 node lacks it)");
        Assert.Equal(JobState.Pending, (await JobAsync(id)).State);
    }

    private async Task StartAgentAsync()
    {
        _agent = GantryProcess.Start(_agentArguments, _agentEnvironment);
        await _agent.WaitForListeningAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>
    /// The vLLM preset in a container: the stand-in inference server (static, the only file of a scratch image) as the
    /// preset's image, given the preset's own arguments (<c>--model M --port P</c>), published on the node, health-checked
    /// and read for tokens through the published port, and stopped for good with its container removed.
    /// </summary>
    [Fact]
    public async Task VllmPreset_StandInImage_HealthyWithTokens_StopRemovesTheContainer()
    {
        var standin = await _podman.BuildFromScratchAsync(
            "localhost/" + Podman.UniqueName("gantry-test-vllm"), new Dictionary<string, string> { ["/fake_inference"] = FakeInference.BinaryPath }, "ENTRYPOINT [\"/fake_inference\"]\n");
        var port = Tools.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var env = CliEnvironment();
        var (code, output) = await GantryProcess.RunAsync(
            ["services", "run", "vllm", "--model", "facebook/opt-125m", "--image", standin, "--gpus", "1", "--port", port, "--health-grace", "5s", "--health-interval", "1s"],
            env,
            TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        var id = long.Parse(System.Text.RegularExpressions.Regex.Match(output, @"^\d+$", System.Text.RegularExpressions.RegexOptions.Multiline).Value, System.Globalization.CultureInfo.InvariantCulture);

        await WaitAsync("the vLLM service healthy with tokens", async () => (await JobAsync(id)).ServiceStatus is { Health: ServiceHealth.Healthy, Metrics.GeneratedTokensPerSecond: > 0 }, seconds: 120);
        var job = await JobAsync(id);
        Assert.Equal("vllm", job.Service!.Preset);
        Assert.Equal(standin, job.Container!.Image);
        Assert.Equal(["--model", "facebook/opt-125m", "--port", port], job.Command);
        Assert.Equal(int.Parse(port, System.Globalization.CultureInfo.InvariantCulture), job.ServiceStatus!.Address!.Port);
        var name = await WaitForContainerAsync(id);

        var (stopCode, stopOutput) = await GantryProcess.RunAsync(["services", "stop", "vllm"], env, TimeSpan.FromSeconds(60));
        Assert.True(stopCode == 0, stopOutput);
        await WaitAsync("the service cancelled", async () => (await JobAsync(id)).State == JobState.Cancelled);
        await WaitAsync("its container gone", async () => !(await GantryContainersAsync()).Contains(name));
    }

    private async Task<long> SubmitSleeperAsync() =>
        (await SubmitAsync(new JobSubmission { Command = ["/bin/busybox", "sleep", "300"], Container = new ContainerSpec { Image = _image }, Resources = new ResourceRequest { Gpus = 1 } }))[0];

    private async Task<string> WaitForContainerAsync(long id)
    {
        string? name = null;
        await WaitAsync("the job running in its container", async () =>
        {
            name = (await GantryContainersAsync()).FirstOrDefault(n => n.StartsWith($"gantry-job-{id}-1-", StringComparison.Ordinal));
            return name is not null && (await JobAsync(id)).State == JobState.Running;
        });
        return name!;
    }

    /// <summary>The containers, running or not, of this test's node (named gantry-job-ID-ATTEMPT-NODE).</summary>
    private async Task<List<string>> GantryContainersAsync()
    {
        var output = await _podman.CheckAsync("ps", "-a", "--filter", "label=gantry.io/job", "--format", "{{.Names}}");
        return [.. output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).Where(n => _nodeId.Length > 0 && n.EndsWith("-" + _nodeId, StringComparison.Ordinal))];
    }

    private async Task<long[]> SubmitAsync(JobSubmission submission)
    {
        using var response = await _admin.PostAsJsonAsync("/api/v1/jobs", submission, GantryJson.Default.JobSubmission);
        Assert.True(response.StatusCode == System.Net.HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return [.. (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds];
    }

    private async Task<JobInfo> JobAsync(long id) => (await _admin.GetFromJsonAsync($"/api/v1/jobs/{id}", GantryJson.Default.JobInfo))!;

    private async Task<IReadOnlyList<NodeInfo>> NodesAsync() => (await _admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items;

    private Dictionary<string, string> CliEnvironment() => new()
    {
        ["GANTRY_SERVER"] = _url,
        ["GANTRY_TOKEN"] = _admin.DefaultRequestHeaders.Authorization!.Parameter!,
        ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config"),
    };

    private async Task WaitAsync(string what, Func<Task<bool>> condition, int seconds = 90)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // The server may be busy starting.
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}.\nserver:\n{Tail(_server.Output)}\nagent:\n{Tail(_agent.Output)}");
            }

            await Task.Delay(200);
        }
    }

    private static string Tail(string text) => text.Length > 6000 ? text[^6000..] : text;
}
