using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// An agent that registered while its GPU source had nothing to give (NVML's first call timed out on a loaded
/// machine, a driver still loading) registers again, same node id, once its GPUs appear: the server would
/// otherwise hold a GPU machine with no GPUs and never place a GPU job there. The fake NVML library reports
/// no GPUs, then two (its script rewritten under the running agent).
/// </summary>
[Collection("fleet")]
public sealed class LateGpuTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("gantry-e2e-lategpu-").FullName;
    private readonly string _joinToken = "gjoin_e2e-" + Guid.NewGuid().ToString("N");
    private TestStore _store = null!;
    private GantryProcess _server = null!;
    private GantryProcess _agent = null!;
    private HttpClient _admin = null!;
    private string _script = null!;

    public async Task InitializeAsync()
    {
        _store = await TestStore.CreateAsync();
        var dataDir = Path.Combine(_root, "server");
        var port = Tools.FreePort();
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{port}", "--data-dir", dataDir, .. _store.Arguments, "--heartbeat-interval", "1s", "--join-token", _joinToken]);
        await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        _admin = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{port}"), Timeout = TimeSpan.FromSeconds(60) };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim());

        _script = Path.Combine(_root, "nvml.txt");
        WriteScript(gpus: 0);
        _agent = GantryProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--nvml-library", FakeNvmlLibrary.CurrentDriverPath,
                "--server", _admin.BaseAddress.ToString(), "--join-token", _joinToken, "--state-dir", Path.Combine(_root, "agent"), "--node-name", "late-gpus", "--kernel-log", "off"],
            new Dictionary<string, string> { [FakeNvmlLibrary.ScriptVariable] = _script });
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

    private void WriteScript(int gpus)
    {
        var temp = _script + ".new";
        File.WriteAllLines(temp, ["watch=1", $"gpus={gpus}"]);
        File.Move(temp, _script, overwrite: true);
    }

    private async Task<NodeInfo?> NodeAsync() =>
        (await _admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items is [var node] ? node : null;

    private async Task WaitAsync(string what, Func<NodeInfo, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (await NodeAsync() is not { } node || !condition(node))
        {
            Assert.True(DateTime.UtcNow < deadline, $"timed out waiting for {what}.\nserver:\n{_server.Output}\nagent:\n{_agent.Output}");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task RegisteredWithNoGpus_GpusAppear_RegistersAgainWithThemUnderTheSameId()
    {
        await WaitAsync("the node ready with no GPUs", n => n.State == NodeState.Ready && n.Gpus.Count == 0);
        var id = (await NodeAsync())!.Id;

        WriteScript(gpus: 2);
        await WaitAsync("the node with two GPUs", n => n.Gpus.Count == 2 && n.State == NodeState.Ready);

        var node = (await NodeAsync())!;
        Assert.Equal(id, node.Id);
        Assert.Contains("2 GPU(s) found after registering with none", _agent.Output, StringComparison.Ordinal);
    }
}
