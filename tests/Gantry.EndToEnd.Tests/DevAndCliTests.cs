using System.Text.Json;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary><c>gantry dev</c> and the client commands, as a user runs them: the real binary against the real server.</summary>
[Collection("fleet")]
public sealed class DevAndCliTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("gantry-dev-").FullName;
    private GantryProcess _dev = null!;
    private TestStore? _store;
    private Dictionary<string, string> _env = null!;
    private string _url = null!;
    private int _agentPort;

    public async Task InitializeAsync()
    {
        // The client config goes to a private XDG_CONFIG_HOME, as `gantry dev` writes it for the user.
        _env = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config") };
        // Agent settings reach dev's agent from each source: a flag (--agent-listen), the environment
        // (GANTRY_NODE_NAME) and the config file (labels, and the server's down-after).
        _agentPort = Tools.FreePort();
        var config = Path.Combine(_root, "dev.json");
        await File.WriteAllTextAsync(config, """{ "labels": { "zone": "dev" }, "downAfter": "30s", "agentListen": "127.0.0.1:1" }""");
        _store = await TestStore.CreateAsync();
        _dev = GantryProcess.Start(
            ["dev", "--data-dir", Path.Combine(_root, "data"), .. _store.Arguments, "--listen", $"127.0.0.1:{Tools.FreePort()}", "--agent-listen", $"127.0.0.1:{_agentPort}", "--simulate-gpus", "2", "--config", config],
            new Dictionary<string, string>(_env) { ["GANTRY_NODE_NAME"] = "dev-node" });
        _url = await _dev.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await RunAsync("nodes", "ls")).Output.Contains("ready", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the dev agent never became ready:\n" + _dev.Output);
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        await _dev.DisposeAsync();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    private Task<(int ExitCode, string Output)> RunAsync(params string[] args) => GantryProcess.RunAsync(args, _env, TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Dev_PrintsHowToUseItAndWritesTheClientConfig()
    {
        Assert.Contains("Gantry dev is running", _dev.Output, StringComparison.Ordinal);
        Assert.Contains("nodes ls", _dev.Output, StringComparison.Ordinal);
        var config = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(_root, "config", "gantry", "client.json")));
        Assert.Equal(_url.TrimEnd('/'), config.RootElement.GetProperty("server").GetString()!.TrimEnd('/'));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_root, "config", "gantry", "client.json")));
        }
    }

    [Fact]
    public async Task Dev_AgentSettingsFromEachSource_ReachTheAgent()
    {
        // --agent-listen (a flag, over the file's) is where the agent serves its own endpoints.
        using var http = new HttpClient();
        var metrics = await http.GetStringAsync(new Uri($"http://127.0.0.1:{_agentPort}/metrics"));
        Assert.Contains("gantry_", metrics, StringComparison.Ordinal);

        var (code, json) = await RunAsync("nodes", "ls", "-o", "json");
        Assert.Equal(0, code);
        using var page = JsonDocument.Parse(json);
        var node = page.RootElement.GetProperty("items")[0];
        Assert.Equal("dev-node", node.GetProperty("name").GetString());
        Assert.Equal("dev", node.GetProperty("labels").GetProperty("zone").GetString());
    }

    [Fact]
    public async Task JobsSubmitWait_StreamsOutputAndExitsWithTheJobsCode()
    {
        var (code, output) = await RunAsync("jobs", "submit", "--gpus", "1", "--cpus", "0", "--wait", "--", "sh", "-c", "echo visible=$CUDA_VISIBLE_DEVICES; echo to-stderr >&2; exit 7");
        Assert.Equal(7, code);
        Assert.Contains("visible=0", output, StringComparison.Ordinal);
        Assert.Contains("to-stderr", output, StringComparison.Ordinal);

        var (lsCode, ls) = await RunAsync("jobs", "ls", "-o", "json");
        Assert.Equal(0, lsCode);
        using var page = JsonDocument.Parse(ls);
        Assert.Contains(page.RootElement.GetProperty("items").EnumerateArray(), j => j.GetProperty("exitCode").GetInt32() == 7 && j.GetProperty("state").GetString() == "failed");
    }

    [Fact]
    public async Task Tokens_UserTokenSubmitsOwnsItsJobAndMayNotDrain()
    {
        var (created, secret) = await RunAsync("tokens", "create", "--name", "e2e-user", "--role", "user", "--unix-user", "nobody");
        Assert.True(created == 0, secret);
        var token = secret.Split('\n', StringSplitOptions.RemoveEmptyEntries).First(static l => l.StartsWith("gtok_", StringComparison.Ordinal)).Trim();
        Assert.Contains("e2e-user", (await RunAsync("tokens", "ls")).Output, StringComparison.Ordinal);

        var (code, output) = await RunAsync("jobs", "submit", "--token", token, "--cpus", "0", "--wait", "--", "true");
        Assert.True(code == 0, output);
        var (lsCode, mine) = await RunAsync("jobs", "ls", "--mine", "--token", token, "-o", "json");
        Assert.Equal(0, lsCode);
        var job = Assert.Single(JsonDocument.Parse(mine).RootElement.GetProperty("items").EnumerateArray());
        Assert.Equal("e2e-user", job.GetProperty("owner").GetString());
        Assert.Equal("nobody", job.GetProperty("runAsUser").GetString());

        var (_, json) = await RunAsync("nodes", "ls", "-o", "json");
        var id = JsonDocument.Parse(json).RootElement.GetProperty("items")[0].GetProperty("id").GetString()!;
        var (drainCode, refused) = await RunAsync("nodes", "drain", id, "--token", token);
        Assert.Equal(1, drainCode);
        Assert.Contains("needs the operator role", refused, StringComparison.Ordinal);

        Assert.Equal(0, (await RunAsync("tokens", "revoke", "e2e-user")).ExitCode);
        var (revokedCode, revoked) = await RunAsync("jobs", "ls", "--token", token);
        Assert.Equal(1, revokedCode);
        Assert.Contains("revoked", revoked, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Tokens_JobOfAUserToken_RunsAsItsUnixUser()
    {
        // dev's agent runs as the test does: as root (CI), it runs the job as the token's Unix user; otherwise as itself.
        var (created, secret) = await RunAsync("tokens", "create", "--name", "e2e-runner", "--role", "user", "--unix-user", "nobody");
        Assert.True(created == 0, secret);
        var token = secret.Split('\n', StringSplitOptions.RemoveEmptyEntries).First(static l => l.StartsWith("gtok_", StringComparison.Ordinal)).Trim();
        var expected = (await Tools.RunAsync("id", ["-u", Environment.IsPrivilegedProcess ? "nobody" : Environment.UserName])).Output.Trim();

        var (code, output) = await RunAsync("jobs", "submit", "--token", token, "--cpus", "0", "--wait", "--shell", "--", "id -u; echo \"$HOME\"");
        Assert.True(code == 0, output);
        // --wait streams the job's output.
        Assert.Contains(expected, output.Split('\n').Select(static l => l.Trim()));
    }

    [Fact]
    public async Task JobsSubmitArray_EachTaskSeesItsIndex()
    {
        var (code, output) = await RunAsync("jobs", "submit", "--array", "1-4", "--cpus", "0", "--wait", "--shell", "--", "test \"$GANTRY_ARRAY_INDEX\" -ge 1 && test \"$GANTRY_ARRAY_INDEX\" -le 4");
        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task NodesDrainAndUndrain_ShowTheStateChange()
    {
        var (_, json) = await RunAsync("nodes", "ls", "-o", "json");
        var id = JsonDocument.Parse(json).RootElement.GetProperty("items")[0].GetProperty("id").GetString()!;
        Assert.Equal(0, (await RunAsync("nodes", "drain", id)).ExitCode);
        Assert.Contains("drained", (await RunAsync("nodes", "show", id)).Output, StringComparison.Ordinal);
        Assert.Equal(0, (await RunAsync("nodes", "undrain", id)).ExitCode);
        Assert.Contains("ready", (await RunAsync("nodes", "show", id)).Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsCancel_RunningJobEndsCancelled()
    {
        var (code, output) = await RunAsync("jobs", "submit", "--cpus", "0", "--", "sleep", "300");
        Assert.Equal(0, code);
        var id = output.Trim().Split('\n')[^1].Trim();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await RunAsync("jobs", "show", id)).Output.Contains("running", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the job never ran");
            await Task.Delay(200);
        }

        Assert.Equal(0, (await RunAsync("jobs", "cancel", id)).ExitCode);
        while (!(await RunAsync("jobs", "show", id)).Output.Contains("cancelled", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the job was never cancelled");
            await Task.Delay(200);
        }
    }

    [Fact]
    public async Task Client_SeveralServers_MovesOnFromADeadOneAndNamesEachWhenAllFail()
    {
        var dead = $"http://127.0.0.1:{Tools.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        var (code, output) = await RunAsync("nodes", "ls", "--server", $"{dead},{_url}");
        Assert.Equal(0, code);
        Assert.Contains("ready", output, StringComparison.Ordinal);

        var otherDead = $"http://127.0.0.1:{Tools.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)}";
        var (failCode, failed) = await RunAsync("nodes", "ls", "--server", $"{dead},{otherDead}");
        Assert.Equal(1, failCode);
        Assert.Contains("cannot reach any of the servers", failed, StringComparison.Ordinal);
        Assert.Contains($"  {dead}: Connection refused", failed, StringComparison.Ordinal);
        Assert.Contains($"  {otherDead}: Connection refused", failed, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_WrongTokenOrBadInput_ClearErrorAndExitCode()
    {
        var (wrongCode, wrong) = await RunAsync("jobs", "ls", "--token", "gadm_not-the-token");
        Assert.Equal(1, wrongCode);
        Assert.Contains("admin.token", wrong, StringComparison.Ordinal);

        var (badCode, bad) = await RunAsync("jobs", "submit", "--gpus", "-2", "--", "true");
        Assert.Equal(2, badCode);
        Assert.Contains("--gpus", bad, StringComparison.Ordinal);

        var (serverCode, server) = await RunAsync("jobs", "submit", "--gpus", "1000", "--", "true");
        Assert.Equal(1, serverCode);
        Assert.Contains("resources.gpus", server, StringComparison.Ordinal);

        var (missingCode, missing) = await RunAsync("jobs", "show", "999999");
        Assert.Equal(1, missingCode);
        Assert.Contains("no job with id 999999", missing, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", wrong + bad + server + missing, StringComparison.Ordinal);
    }
}
