using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// <c>gantry install</c> and <c>uninstall</c> with the real binary, into a directory tree (<c>--root</c>, as an image is
/// built: systemd is not PID 1 on the test machines, so nothing is started), with <c>--dry-run</c>, and refusing bad
/// settings and a machine without systemd before anything is written.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class InstallCommandTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-install-").FullName;

    private string Root => Path.Combine(_dir, "root");

    public InstallCommandTests() => Directory.CreateDirectory(Root);

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string TokenFile()
    {
        var path = Path.Combine(_dir, "join-token");
        File.WriteAllText(path, "install-test-join-token-0123456789\n");
        return path;
    }

    private string[] Tree() => [.. Directory.EnumerateFileSystemEntries(Root, "*", SearchOption.AllDirectories).Select(p => Path.GetRelativePath(Root, p)).Order(StringComparer.Ordinal)];

    [Fact]
    public async Task InstallAgent_IntoATree_WritesTheUnitAndItsSettingsAndEnablesIt_UninstallRemovesThem()
    {
        var token = TokenFile();
        var (code, output) = await GantryProcess.RunAsync(["install", "agent", "--root", Root, "--server", "http://cp1:7070,http://cp2:7070", "--join-token-file", token, "--labels", "zone=a,gpu=h100", "--listen", "0.0.0.0:9450", "--app-metrics-url", "http://127.0.0.1:8000/metrics", "--app-metrics-url", "http://127.0.0.1:8001/metrics"]);
        Assert.True(code == 0, output);
        Assert.Contains("gantry-agent.service is installed and enabled.", output, StringComparison.Ordinal);

        var unit = await File.ReadAllTextAsync(Path.Combine(Root, "etc/systemd/system/gantry-agent.service"));
        Assert.Contains($"ExecStart={GantryProcess.BinaryPath} agent --state-dir ${{STATE_DIRECTORY}}\n", unit, StringComparison.Ordinal);
        Assert.Contains("Type=notify\n", unit, StringComparison.Ordinal);
        var env = Path.Combine(Root, "etc/gantry/agent.env");
        Assert.Equal(
            [
                "GANTRY_LISTEN=\"0.0.0.0:9450\"",
                "GANTRY_APP_METRICS_URL=\"http://127.0.0.1:8000/metrics,http://127.0.0.1:8001/metrics\"",
                "GANTRY_SERVER=\"http://cp1:7070,http://cp2:7070\"",
                $"GANTRY_JOIN_TOKEN_FILE=\"{token}\"",
                "GANTRY_LABELS=\"zone=a,gpu=h100\"",
            ],
            (await File.ReadAllLinesAsync(env)).Where(l => !l.StartsWith('#')));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(env)); // it may name a token
        var wants = new FileInfo(Path.Combine(Root, "etc/systemd/system/multi-user.target.wants/gantry-agent.service"));
        Assert.Equal("/etc/systemd/system/gantry-agent.service", wants.LinkTarget);

        // What was written is a unit systemd accepts.
        var analyze = Tools.Require("systemd-analyze", "systemd");
        using (var verify = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(analyze, ["verify", "--man=no", Path.Combine(Root, "etc/systemd/system/gantry-agent.service")]) { RedirectStandardError = true, RedirectStandardOutput = true })!)
        {
            var said = await verify.StandardError.ReadToEndAsync() + await verify.StandardOutput.ReadToEndAsync();
            await verify.WaitForExitAsync();
            Assert.True(verify.ExitCode == 0, said);
        }

        (code, output) = await GantryProcess.RunAsync(["uninstall", "agent", "--root", Root]);
        Assert.True(code == 0, output);
        Assert.False(File.Exists(wants.FullName));
        Assert.False(File.Exists(Path.Combine(Root, "etc/systemd/system/gantry-agent.service")));
        Assert.True(File.Exists(env), "the settings stay without --purge");

        (code, output) = await GantryProcess.RunAsync(["uninstall", "agent", "--root", Root]);
        Assert.Equal(1, code);
        Assert.Contains("gantry-agent.service is not installed", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task InstallServer_IntoATreeWithUsers_CreatesTheServiceUser_PurgeRemovesSettingsAndState()
    {
        Directory.CreateDirectory(Path.Combine(Root, "etc"));
        foreach (var file in new[] { "passwd", "group", "shadow", "gshadow" })
        {
            await File.WriteAllTextAsync(Path.Combine(Root, "etc", file), file switch
            {
                "passwd" => "root:x:0:0:root:/root:/bin/sh\n",
                "group" => "root:x:0:\n",
                "shadow" => "root:*:19000:0:99999:7:::\n",
                _ => "root:*::\n",
            });
        }

        var (code, output) = await GantryProcess.RunAsync(["install", "server", "--root", Root, "--listen", ":7070", "--tls", "auto", "--down-after", "30s"]);
        Assert.True(code == 0, output);
        Assert.Contains("gantry:x:", await File.ReadAllTextAsync(Path.Combine(Root, "etc/passwd")), StringComparison.Ordinal);
        Assert.Equal(["GANTRY_LISTEN=\":7070\"", "GANTRY_TLS=\"auto\"", "GANTRY_DOWN_AFTER=\"30s\""], (await File.ReadAllLinesAsync(Path.Combine(Root, "etc/gantry/server.env"))).Where(l => !l.StartsWith('#')));

        // Installed again with other settings: replaced, said so.
        (code, output) = await GantryProcess.RunAsync(["install", "server", "--root", Root, "--listen", ":7071", "--insecure-http"]);
        Assert.True(code == 0, output);
        Assert.Contains("user gantry exists", output, StringComparison.Ordinal);
        Assert.Contains("replaced " + Path.Combine(Root, "etc/gantry/server.env"), output, StringComparison.Ordinal);

        Directory.CreateDirectory(Path.Combine(Root, "var/lib/gantry"));
        await File.WriteAllTextAsync(Path.Combine(Root, "var/lib/gantry/gantry.db"), "state");
        (code, output) = await GantryProcess.RunAsync(["uninstall", "server", "--root", Root, "--purge"]);
        Assert.True(code == 0, output);
        Assert.False(File.Exists(Path.Combine(Root, "etc/gantry/server.env")));
        Assert.False(Directory.Exists(Path.Combine(Root, "var/lib/gantry")));
    }

    [Fact]
    public async Task DryRun_PrintsEveryStepAndChangesNothing()
    {
        var (code, output) = await GantryProcess.RunAsync(["install", "server", "--root", Root, "--listen", ":7070", "--tls", "auto", "--dry-run"]);

        Assert.True(code == 0, output);
        Assert.Contains($"would write {Root}/etc/systemd/system/gantry-server.service (mode 644):", output, StringComparison.Ordinal);
        Assert.Contains("    ExecStart=" + GantryProcess.BinaryPath + " server --data-dir ${STATE_DIRECTORY}", output, StringComparison.Ordinal);
        Assert.Contains($"would write {Root}/etc/gantry/server.env (mode 640):\n    # Written by gantry install", output, StringComparison.Ordinal);
        Assert.Contains("    GANTRY_LISTEN=\":7070\"", output, StringComparison.Ordinal);
        Assert.Contains("    GANTRY_TLS=\"auto\"", output, StringComparison.Ordinal);
        Assert.Contains($"would run systemctl --root={Root} enable gantry-server.service", output, StringComparison.Ordinal);
        Assert.Contains("(dry run: nothing was changed)", output, StringComparison.Ordinal);
        Assert.Empty(Tree());
    }

    [Theory]
    [InlineData(new[] { "install", "agent", "--labels", "bad" }, "--labels: expected key=value pairs")]
    [InlineData(new[] { "install", "agent", "--server", "cp1:7070" }, "--server")]
    [InlineData(new[] { "install", "server", "--down-after", "soon" }, "--down-after")]
    [InlineData(new[] { "install", "agent", "--state-dir", "/tmp/x" }, "Unrecognized command or argument '--state-dir'")]
    public async Task BadSetting_ExitCode2WithTheServicesOwnMessage_NothingWritten(string[] arguments, string message)
    {
        var (code, output) = await GantryProcess.RunAsync([.. arguments, "--root", Root]);

        Assert.Equal(2, code);
        Assert.Contains(message, output, StringComparison.Ordinal);
        Assert.Empty(Tree());
    }

    [Fact]
    public async Task OnTheRunningSystem_WithoutRootSystemdOrSystemctl_RefusedBeforeAnythingIsWritten()
    {
        // PATH names no systemctl, so that even as root on a machine running systemd nothing is installed for real.
        var (code, output) = await GantryProcess.RunAsync(["install", "agent", "--listen", "127.0.0.1:9450"], new Dictionary<string, string> { ["PATH"] = _dir });

        Assert.Equal(1, code);
        var expected = !Environment.IsPrivilegedProcess ? "this needs root: run it with sudo"
            : !Directory.Exists("/run/systemd/system") ? "systemd is not running on this machine (no /run/systemd/system)"
            : "systemctl is not installed.";
        Assert.Contains("gantry install agent: " + expected, output, StringComparison.Ordinal);
        Assert.DoesNotContain("wrote ", output, StringComparison.Ordinal); // refused before the first step
    }
}
