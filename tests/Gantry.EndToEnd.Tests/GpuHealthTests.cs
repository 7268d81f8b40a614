using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// GPU health end to end: a real <c>gantry server</c> and a real agent on the fake NVML library (four
/// GPUs, its script rewritten while it runs) and a kernel log the test writes to, as the driver
/// writes <c>/dev/kmsg</c>; jobs are real child processes.
/// </summary>
[Collection("fleet")]
public sealed class GpuHealthTests : IAsyncLifetime
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    private readonly string _root = Directory.CreateTempSubdirectory("gantry-e2e-health-").FullName;
    private readonly string _joinToken = "gjoin_e2e-" + Guid.NewGuid().ToString("N");
    private readonly List<string> _script = ["watch=1", "gpus=4", "gpu.0.uuid=GPU-h-0", "gpu.1.uuid=GPU-h-1", "gpu.2.uuid=GPU-h-2", "gpu.3.uuid=GPU-h-3"];
    private TestStore _store = null!;
    private GantryProcess _server = null!;
    private GantryProcess _agent = null!;
    private HttpClient _admin = null!;
    private string _url = null!;
    private string _agentUrl = null!;
    private string _kernelLog = null!;
    private string _scriptPath = null!;
    private ulong _kmsgSequence = 1000;

    public async Task InitializeAsync()
    {
        _store = await TestStore.CreateAsync();
        var dataDir = Path.Combine(_root, "server");
        var port = Tools.FreePort();
        _url = $"http://127.0.0.1:{port}";

        // One node of four GPUs: draining it takes all of the fleet's, which automation may here.
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{port}", "--data-dir", dataDir, .. _store.Arguments, "--heartbeat-interval", "1s",
            "--down-after", "10s", "--kill-grace", "1s", "--join-token", _joinToken, "--gpu-clean-for", "0s", "--max-auto-cordon", "100%"]);
        await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        _admin = new HttpClient { BaseAddress = new Uri(_url), Timeout = TimeSpan.FromSeconds(60) };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim());

        _scriptPath = Path.Combine(_root, "nvml.txt");
        WriteScript();
        _kernelLog = Path.Combine(_root, "kmsg");
        await File.WriteAllTextAsync(_kernelLog, "");
        _agent = GantryProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--nvml-library", FakeNvmlLibrary.CurrentDriverPath, "--kernel-log", _kernelLog,
                "--server", _url, "--join-token", _joinToken, "--state-dir", Path.Combine(_root, "agent"), "--node-name", "gpu-node"],
            new Dictionary<string, string> { [FakeNvmlLibrary.ScriptVariable] = _scriptPath });
        _agentUrl = await _agent.WaitForListeningAsync(TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _server.DisposeAsync();
        _admin.Dispose();
        await _store.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    /// <summary>Replaces the fake's script at once (a new file renamed over it), so it never reads half of one.</summary>
    private void WriteScript(params string[] extra)
    {
        var temp = _scriptPath + ".new";
        File.WriteAllLines(temp, [.. _script, .. extra]);
        File.Move(temp, _scriptPath, overwrite: true);
    }

    /// <summary>Appends one record as /dev/kmsg hands it out.</summary>
    private async Task KernelLogAsync(string message) =>
        await File.AppendAllTextAsync(_kernelLog, $"3,{++_kmsgSequence},{_kmsgSequence * 1000},-;{message}\n");

    private async Task<NodeInfo> NodeAsync()
    {
        var nodes = (await _admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items;
        return (await _admin.GetFromJsonAsync($"/api/v1/nodes/{Assert.Single(nodes).Id}", GantryJson.Default.NodeInfo))!;
    }

    private async Task<JobInfo> JobAsync(long id) => (await _admin.GetFromJsonAsync($"/api/v1/jobs/{id}", GantryJson.Default.JobInfo))!;

    private async Task WaitAsync(string what, Func<Task<bool>> condition, int seconds = 60)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}.\nserver:\n{Tail(_server.Output)}\nagent:\n{Tail(_agent.Output)}");
            }

            await Task.Delay(200);
        }
    }

    private static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;

    [Fact]
    public async Task FakeNvmlAndKernelLog_Xid48CordonsUntilReset_Xid79DrainsTheNode_APersonUncordons()
    {
        await WaitAsync("the node ready with four GPUs", async () => (await _admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items is [{ State: NodeState.Ready, Gpus.Count: 4 }]);
        var jobs = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            using var response = await _admin.PostAsJsonAsync("/api/v1/jobs", new JobSubmission { Command = ["sleep", "300"], Resources = new ResourceRequest { Gpus = 1, Cpus = 0 }, Retries = 1 }, GantryJson.Default.JobSubmission);
            jobs.Add((await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0]);
        }

        await WaitAsync("four jobs running", async () => (await Task.WhenAll(jobs.Select(JobAsync))).All(j => j.State == JobState.Running));
        var onGpu = (await Task.WhenAll(jobs.Select(JobAsync))).ToDictionary(j => j.Gpus[0], j => j.Id);

        // XID 48 on GPU 2 (bus 00000000:03:00.0), from NVML's events and the kernel log alike, with its ECC count.
        WriteScript("xid=2:48", "gpu.2.ecc_uncorrected_volatile=2");
        await KernelLogAsync("NVRM: Xid (PCI:0000:03:00): 48, pid=4242, name=python, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 1, subpartition 0.");
        await WaitAsync("GPU 2 cordoned and its job requeued", async () =>
            (await NodeAsync()).Gpus[2].Health is { State: GpuHealthState.Cordoned, Until: HealthRecovery.Reset }
            && (await JobAsync(onGpu[2])).State == JobState.Pending);
        var node = await NodeAsync();
        Assert.Contains("XID 48", node.Gpus[2].Health!.Cause, StringComparison.Ordinal);
        Assert.All(new[] { 0, 1, 3 }, g => Assert.Null(node.Gpus[g].Health));
        Assert.Equal(NodeState.Ready, node.State);

        // Seen by both paths, counted once.
        await WaitAsync("the agent's metrics to count the XID", async () => (await Http.GetStringAsync(_agentUrl + "/metrics")).Contains("xid=\"48\"", StringComparison.Ordinal));
        Assert.Contains("gantry_gpu_xid_errors_total{gpu=\"2\",uuid=\"GPU-h-2\",model=\"Fake GPU 2\",xid=\"48\"} 1\n", await Http.GetStringAsync(_agentUrl + "/metrics"), StringComparison.Ordinal);
        using (var status = JsonDocument.Parse(await Http.GetStringAsync(_agentUrl + "/status")))
        {
            var kernelLog = status.RootElement.GetProperty("kernelLog");
            Assert.Equal("following", kernelLog.GetProperty("state").GetString());
            Assert.Equal(_kernelLog, kernelLog.GetProperty("path").GetString());
        }

        // A reset (the ECC counter back to 0): GPU 2 is healthy again and the requeued job runs there.
        WriteScript("xid=2:48");
        await WaitAsync("GPU 2 healthy and the requeued job running on it", async () =>
            (await NodeAsync()).Gpus[2].Health is null && await JobAsync(onGpu[2]) is { State: JobState.Running, Gpus: [2] });

        // XID 79 on GPU 1 (00000000:02:00.0), which only the kernel log reports: the node is drained.
        await KernelLogAsync("NVRM: Xid (PCI:0000:02:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.");
        await WaitAsync("the node draining and GPU 1's job requeued", async () =>
            (await NodeAsync()).State == NodeState.Draining && (await JobAsync(onGpu[1])).State == JobState.Pending);
        node = await NodeAsync();
        Assert.True(node.Health!.Drained);
        Assert.Equal(HealthRecovery.Reboot, node.Gpus[1].Health!.Until);
        Assert.Contains(node.HealthHistory!, e => e.Change == HealthChange.Drained && e.Evidence!.Contains("from the kernel log", StringComparison.Ordinal));

        // What a person sees, and does.
        var env = new Dictionary<string, string>
        {
            ["GANTRY_SERVER"] = _url,
            ["GANTRY_TOKEN"] = _admin.DefaultRequestHeaders.Authorization!.Parameter!,
            ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config"),
        };
        var (showCode, shown) = await GantryProcess.RunAsync(["nodes", "show", node.Id], env, TimeSpan.FromSeconds(60));
        Assert.Equal(0, showCode);
        Assert.True(shown.Contains("drained until it reboots", StringComparison.Ordinal), shown);
        Assert.True(shown.Contains("cordoned until reboot", StringComparison.Ordinal), shown);
        Assert.True(shown.Contains("Health history (newest first):", StringComparison.Ordinal), shown);

        var (badCode, bad) = await GantryProcess.RunAsync(["nodes", "uncordon", node.Id, "--gpu", "one"], env, TimeSpan.FromSeconds(60));
        Assert.Equal(2, badCode);
        Assert.Contains("--gpu", bad, StringComparison.Ordinal);
        var (missingCode, missing) = await GantryProcess.RunAsync(["nodes", "cordon", node.Id, "--gpu", "9"], env, TimeSpan.FromSeconds(60));
        Assert.Equal(1, missingCode);
        Assert.Contains("has no GPU 9", missing, StringComparison.Ordinal);

        var (code, output) = await GantryProcess.RunAsync(["nodes", "uncordon", node.Id, "--reason", "reseated GPU 1"], env, TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        Assert.Contains("GPU 1: healthy", output, StringComparison.Ordinal);
        await WaitAsync("the requeued job running again", async () => (await JobAsync(onGpu[1])).State == JobState.Running);
        Assert.Contains((await NodeAsync()).HealthHistory!, e => e.Actor == HealthActor.Person && e.Cause == "reseated GPU 1");
    }
}
