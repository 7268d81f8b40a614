using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// Power caps end to end (docs/power.md): a real <c>gantry server</c>, a real agent on the fake NVML library
/// (two GPUs, limit 700 W, range 200-700 W), which records every <c>nvmlDeviceSetPowerManagementLimit</c>
/// call to a file, and the real CLI. Caps by hand set, refused (an error to the CLI), lifted; a job's cap
/// applied and restored; every cap restored when the agent stops.
/// </summary>
[Collection("fleet")]
public sealed class PowerCapTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("gantry-e2e-power-").FullName;
    private readonly string _joinToken = "gjoin_e2e-" + Guid.NewGuid().ToString("N");
    private TestStore _store = null!;
    private GantryProcess _server = null!;
    private GantryProcess _agent = null!;
    private HttpClient _admin = null!;
    private string _url = null!;
    private string _scriptPath = null!;
    private string _setLog = null!;

    public async Task InitializeAsync()
    {
        _store = await TestStore.CreateAsync();
        var dataDir = Path.Combine(_root, "server");
        var port = Tools.FreePort();
        _url = $"http://127.0.0.1:{port}";
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{port}", "--data-dir", dataDir, .. _store.Arguments, "--heartbeat-interval", "1s",
            "--down-after", "10s", "--kill-grace", "1s", "--join-token", _joinToken]);
        await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        _admin = new HttpClient { BaseAddress = new Uri(_url), Timeout = TimeSpan.FromSeconds(60) };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim());

        // GPU 1 refuses any limit (an agent not running as root would be refused on every GPU).
        _scriptPath = Path.Combine(_root, "nvml.txt");
        WriteScript("gpu.1.set_limit=noperm");
        _setLog = Path.Combine(_root, "set.log");
        _agent = GantryProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--nvml-library", FakeNvmlLibrary.CurrentDriverPath,
                "--server", _url, "--join-token", _joinToken, "--state-dir", Path.Combine(_root, "agent"), "--node-name", "power-node"],
            new Dictionary<string, string> { [FakeNvmlLibrary.ScriptVariable] = _scriptPath, [FakeNvmlLibrary.SetLogVariable] = _setLog });
        await _agent.WaitForListeningAsync(TimeSpan.FromSeconds(60));
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        await _server.DisposeAsync();
        _admin.Dispose();
        await _store.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private void WriteScript(params string[] extra)
    {
        var temp = _scriptPath + ".new";
        File.WriteAllLines(temp, ["watch=1", "gpus=2", "gpu.0.min_limit_mw=200000", "gpu.1.min_limit_mw=200000", .. extra]);
        File.Move(temp, _scriptPath, overwrite: true);
    }

    private string[] SetCalls() => FakeNvmlLibrary.SetCalls(_setLog);

    private async Task WaitAsync(string what, Func<Task<bool>> condition, int seconds = 60)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}.\nset calls:\n{string.Join('\n', SetCalls())}\nserver:\n{Tail(_server.Output)}\nagent:\n{Tail(_agent.Output)}");
            }

            await Task.Delay(200);
        }
    }

    private static string Tail(string text) => text.Length > 4000 ? text[^4000..] : text;

    private Dictionary<string, string> CliEnvironment() => new()
    {
        ["GANTRY_SERVER"] = _url,
        ["GANTRY_TOKEN"] = _admin.DefaultRequestHeaders.Authorization!.Parameter!,
        ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config"),
    };

    [Fact]
    public async Task PowerCaps_ByHandRefusedAndLifted_PerJobAppliedAndRestored_RestoredWhenTheAgentStops()
    {
        await WaitAsync("the node ready with two GPUs", async () => (await _admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items is [{ State: NodeState.Ready, Gpus.Count: 2 }]);
        var nodeId = (await _admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items[0].Id;
        var env = CliEnvironment();

        var (badCode, bad) = await GantryProcess.RunAsync(["nodes", "power-cap", nodeId, "--gpu-watts", "abc"], env, TimeSpan.FromSeconds(60));
        Assert.Equal(2, badCode);
        Assert.Contains("--gpu-watts", bad, StringComparison.Ordinal);

        // By hand: GPU 0 takes it, GPU 1 refuses it, and the CLI says so with exit status 1.
        var (code, output) = await GantryProcess.RunAsync(["nodes", "power-cap", nodeId, "--gpu-watts", "300"], env, TimeSpan.FromSeconds(90));
        Assert.True(code == 1, output);
        Assert.Contains("GPU 0: limit 300 W, capped at 300 W by hand, 700 W before", output, StringComparison.Ordinal);
        Assert.Contains("GPU 1: nvmlDeviceSetPowerManagementLimit(300 W) on GPU 1 refused: NVML_ERROR_NO_PERMISSION (4): setting a GPU power limit needs root", output, StringComparison.Ordinal);
        Assert.Equal(["set gpu=0 mw=300000 ret=0", "set gpu=1 mw=300000 ret=4"], SetCalls());
        var (showCode, shown) = await GantryProcess.RunAsync(["nodes", "show", nodeId], env, TimeSpan.FromSeconds(60));
        Assert.True(showCode == 0, shown);
        Assert.Contains("REFUSED (hand cap of 300 W): nvmlDeviceSetPowerManagementLimit(300 W) on GPU 1 refused", shown, StringComparison.Ordinal);
        var metrics = await _admin.GetStringAsync("/metrics");
        Assert.Contains($"gantry_server_gpu_power_limit_watts{{node=\"power-node\",node_id=\"{nodeId}\",gpu=\"0\",source=\"manual\"}} 300\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_gpu_power_cap_refused{{node=\"power-node\",node_id=\"{nodeId}\",gpu=\"1\"}} 1\n", metrics, StringComparison.Ordinal);

        // Lifted: GPU 0 gets its 700 W back; nothing was set on GPU 1, so nothing is restored there.
        (code, output) = await GantryProcess.RunAsync(["nodes", "power-cap", nodeId, "--clear"], env, TimeSpan.FromSeconds(90));
        Assert.True(code == 0, output);
        Assert.Equal(["set gpu=0 mw=300000 ret=0", "set gpu=1 mw=300000 ret=4", "set gpu=0 mw=700000 ret=0"], SetCalls());

        // Per job (GPU 1 now takes limits): 250 W on both GPUs while it runs, 700 W again after.
        WriteScript();
        await Task.Delay(TimeSpan.FromSeconds(3)); // the fake re-reads a changed script at the agent's next sample (every second)
        using (var submitted = await _admin.PostAsJsonAsync("/api/v1/jobs", new JobSubmission { Command = ["sleep", "2"], Resources = new ResourceRequest { Gpus = 2, Cpus = 0 }, GpuPowerCapWatts = 250 }, GantryJson.Default.JobSubmission))
        {
            var job = (await submitted.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];
            await WaitAsync("the capped job to succeed", async () => (await _admin.GetFromJsonAsync($"/api/v1/jobs/{job}", GantryJson.Default.JobInfo))!.State == JobState.Succeeded);
        }

        await WaitAsync("both GPUs restored after the job", () => Task.FromResult(SetCalls().Length >= 7));
        Assert.Equal(["set gpu=0 mw=250000 ret=0", "set gpu=1 mw=250000 ret=0"], SetCalls()[3..5].Order());
        Assert.Equal(["set gpu=0 mw=700000 ret=0", "set gpu=1 mw=700000 ret=0"], SetCalls()[5..7].Order());

        // Capped by hand again, then the agent stops: both GPUs get their 700 W back.
        (code, output) = await GantryProcess.RunAsync(["nodes", "power-cap", nodeId, "--gpu-watts", "400"], env, TimeSpan.FromSeconds(90));
        Assert.True(code == 0, output);
        Assert.Equal(["set gpu=0 mw=400000 ret=0", "set gpu=1 mw=400000 ret=0"], SetCalls()[7..9]);
        await _agent.StopAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(["set gpu=0 mw=700000 ret=0", "set gpu=1 mw=700000 ret=0"], SetCalls()[9..]);
        Assert.False(File.Exists(Path.Combine(_root, "agent", "power-limits")));
    }
}
