using System.Diagnostics;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary><c>gantry top</c> against <c>gantry dev</c>: on a real terminal (tmux) and into a pipe.</summary>
[Collection("fleet")]
public sealed class TopTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("gantry-top-").FullName;
    private readonly string _socket = "gantry-top-" + Guid.NewGuid().ToString("N")[..12];
    private GantryProcess _dev = null!;
    private TestStore? _store;
    private Dictionary<string, string> _env = null!;

    public async Task InitializeAsync()
    {
        _env = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config") };
        _store = await TestStore.CreateAsync();
        _dev = GantryProcess.Start(["dev", "--data-dir", Path.Combine(_root, "data"), .. _store.Arguments, "--listen", $"127.0.0.1:{Tools.FreePort()}", "--agent-listen", "127.0.0.1:0", "--simulate-gpus", "2"], _env);
        await _dev.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!(await GantryProcess.RunAsync(["nodes", "ls"], _env, TimeSpan.FromSeconds(60))).Output.Contains("ready", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the dev agent never became ready:\n" + _dev.Output);
            await Task.Delay(200);
        }
    }

    public async Task DisposeAsync()
    {
        try
        {
            // Ends this test's own tmux server only (its private socket), whatever state it is in.
            await TmuxAsync("kill-server");
        }
        catch (System.ComponentModel.Win32Exception)
        {
            // No tmux: the test that needs it has failed already.
        }

        await _dev.DisposeAsync();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }
    }

    [Fact]
    public async Task Top_InTmux_ShowsTheNodeFollowsASubmittedJobAndQuitsOnQ()
    {
        Tools.Require("tmux", "tmux");
        var exitFile = Path.Combine(_root, "top.exit");
        var command = $"env XDG_CONFIG_HOME='{_env["XDG_CONFIG_HOME"]}' '{GantryProcess.BinaryPath}' top; echo $? > '{exitFile}'";
        Assert.Equal(0, (await TmuxAsync("new-session", "-d", "-x", "100", "-y", "40", command)).ExitCode);

        var screen = await WaitForScreenAsync(s => s.Contains("ready", StringComparison.Ordinal) && s.Contains("0* ", StringComparison.Ordinal) && s.Contains("1* ", StringComparison.Ordinal), "the node and its two GPUs");
        Assert.Contains("gantry top", screen, StringComparison.Ordinal);
        Assert.Contains("GPUs 0/2 busy", screen, StringComparison.Ordinal);
        Assert.Contains("RUNNING (0)", screen, StringComparison.Ordinal);

        var (code, output) = await GantryProcess.RunAsync(["jobs", "submit", "--cpus", "0", "--gpus", "1", "--name", "top-e2e-job", "--", "sleep", "30"], _env, TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);
        screen = await WaitForScreenAsync(s => s.Contains("RUNNING (1)", StringComparison.Ordinal) && s.Contains("top-e2e-job", StringComparison.Ordinal) && s.Contains("running", StringComparison.Ordinal), "the submitted job running");
        Assert.Contains("GPUs 1/2 busy", screen, StringComparison.Ordinal);

        Assert.Equal(0, (await TmuxAsync("send-keys", "q")).ExitCode);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!File.Exists(exitFile) || (await File.ReadAllTextAsync(exitFile)).Length == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "gantry top did not exit on q; its screen:\n" + (await TmuxAsync("capture-pane", "-p")).Output);
            await Task.Delay(100);
        }

        Assert.Equal("0", (await File.ReadAllTextAsync(exitFile)).Trim());
    }

    [Fact]
    public async Task Top_OutputNotATerminal_PrintsOneSnapshotAndExits()
    {
        var (code, output) = await GantryProcess.RunAsync(["jobs", "submit", "--cpus", "0", "--gpus", "8", "--name", "too-big", "--", "true"], _env, TimeSpan.FromSeconds(60));
        Assert.True(code == 0, output);

        (code, output) = await GantryProcess.RunAsync(["top"], _env, TimeSpan.FromSeconds(60));

        Assert.True(code == 0, output);
        Assert.Contains("Nodes 1 ready", output, StringComparison.Ordinal);
        Assert.Contains("PENDING (1)", output, StringComparison.Ordinal);
        Assert.Contains("too-big", output, StringComparison.Ordinal);
        Assert.DoesNotContain("\u001b[", output, StringComparison.Ordinal);
        var lines = output.Split('\n');
        Assert.Contains(lines, l => l.StartsWith("  0* ", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("  1* ", StringComparison.Ordinal));
        Assert.All(lines, l => Assert.True(l.Length <= 80, l));
    }

    [Fact]
    public async Task Top_WrongToken_SaysSoAndExits1()
    {
        var (code, output) = await GantryProcess.RunAsync(["top", "--token", "not-the-token"], _env, TimeSpan.FromSeconds(60));

        Assert.Equal(1, code);
        Assert.Contains("the server refused the token", output, StringComparison.Ordinal);
    }

    private async Task<string> WaitForScreenAsync(Func<string, bool> until, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var screen = (await TmuxAsync("capture-pane", "-p")).Output;
            if (until(screen))
            {
                return screen;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the screen never showed {what}:\n{screen}");
            await Task.Delay(200);
        }
    }

    private async Task<(int ExitCode, string Output)> TmuxAsync(params string[] args)
    {
        var start = new ProcessStartInfo("tmux") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add("-L");
        start.ArgumentList.Add(_socket);
        foreach (var arg in args)
        {
            start.ArgumentList.Add(arg);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, await stdout + await stderr);
    }
}
