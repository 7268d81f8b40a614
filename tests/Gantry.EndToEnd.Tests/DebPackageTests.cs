using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// deploy/deb/build.sh: the package is built from the tests' own build of gantry (the release build is packaged
/// the same way; see docs/deploy.md) and installed for real with <c>apt-get install ./gantry_*.deb</c>, then
/// purged. Needs root, as the test command has in CI.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DebPackageTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-deb-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Package_InstalledWithApt_HasTheBinaryTheUnitsAndTheUser_PurgeRemovesThem()
    {
        Assert.True(Environment.IsPrivilegedProcess, "installing a package needs root: run scripts/test.sh as root (CI does)");
        Tools.Require("dpkg-deb", "dpkg");
        Assert.False((await RunAsync("dpkg-query", "-W", "-f=${Status}", "gantry")).Output.Contains("ok installed", StringComparison.Ordinal), "a gantry package is installed on this machine: the test will not replace it");
        var arch = (await RunAsync("dpkg", "--print-architecture")).Output.Trim();

        var build = Path.Combine(Tools.RepositoryRoot, "deploy", "deb", "build.sh");
        var (code, output) = await RunAsync(build, "--binary-dir", Path.GetDirectoryName(GantryProcess.BinaryPath)!, "--out", _dir, "--version", "0.1.0~test", "--compression", "gzip");
        Assert.True(code == 0, output);
        var deb = output.Trim().Split('\n')[^1];
        Assert.Equal(Path.Combine(_dir, $"gantry_0.1.0~test_{arch}.deb"), deb);

        var contents = (await RunAsync("dpkg-deb", "--contents", deb)).Output;
        Assert.Contains("./usr/bin/gantry -> ../lib/gantry/gantry", contents, StringComparison.Ordinal);
        Assert.Contains("./lib/systemd/system/gantry-server.service", contents, StringComparison.Ordinal);
        Assert.Contains("./lib/systemd/system/gantry-agent.service", contents, StringComparison.Ordinal);
        Assert.DoesNotContain(".pdb", contents, StringComparison.Ordinal);

        try
        {
            (code, output) = await RunAsync("apt-get", "install", "-y", "-q", "--no-install-recommends", deb);
            Assert.True(code == 0, output);

            (code, output) = await RunAsync("/usr/bin/gantry", "--version");
            Assert.True(code == 0, output);
            Assert.StartsWith("0.1.0", output, StringComparison.Ordinal);
            Assert.Contains("/usr/sbin/nologin", (await RunAsync("getent", "passwd", "gantry")).Output, StringComparison.Ordinal);

            // The installed units name the installed binary, and systemd accepts them as they are.
            var analyze = Tools.Require("systemd-analyze", "systemd");
            (code, output) = await RunAsync(analyze, "verify", "--man=no", "/lib/systemd/system/gantry-server.service", "/lib/systemd/system/gantry-agent.service");
            Assert.True(code == 0 && output.Trim().Length == 0, output);

            // Settings written later (gantry install, or by hand) go with a purge.
            Directory.CreateDirectory("/etc/gantry");
            await File.WriteAllTextAsync("/etc/gantry/agent.env", "GANTRY_SERVER=\"http://cp1:7070\"\n");
        }
        finally
        {
            (code, output) = await RunAsync("apt-get", "purge", "-y", "-q", "gantry");
        }

        Assert.True(code == 0, output);
        Assert.False(File.Exists("/usr/bin/gantry") || Directory.Exists("/usr/lib/gantry"), "purge left the binary");
        Assert.False(File.Exists("/lib/systemd/system/gantry-agent.service"), "purge left the unit");
        Assert.False(File.Exists("/etc/gantry/agent.env"), "purge left the settings");
    }

    private static Task<(int Code, string Output)> RunAsync(string program, params string[] arguments) =>
        Tools.RunAsync(program, arguments, new Dictionary<string, string> { ["DEBIAN_FRONTEND"] = "noninteractive" });
}
