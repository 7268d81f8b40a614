using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// TLS with the real binary: <c>gantry server --tls auto</c> and <c>--tls-cert</c>, agents joining by the CA's pin,
/// the CLI with <c>--ca-file</c>, and plain HTTP refused beyond loopback.
/// </summary>
public sealed partial class TlsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-e2e-tls-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Server_TlsAuto_MakesTheCaOnce_PrintsTheJoinCommand_AndAgentsJoinOnlyWithThePin()
    {
        var data = Path.Combine(_dir, "server");
        string pin;
        await using (var server = GantryProcess.Start(["server", "--listen", "127.0.0.1:0", "--data-dir", data, "--tls", "auto"]))
        {
            var url = await server.WaitForListeningAsync();
            Assert.StartsWith("https://127.0.0.1:", url, StringComparison.Ordinal);
            await server.WaitForOutputAsync("Join agents with:");
            using (var ca = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(data, "tls", "ca.crt"))))
            {
                pin = TestCa.PinOf(ca);
            }

            Assert.Contains($"Join agents with: gantry agent --server {url} --join-token-file {Path.Combine(data, "join.token")} --ca-cert-hash {pin}", server.Output, StringComparison.Ordinal);
            Assert.Contains("TLS: made " + Path.Combine(data, "tls", "ca.key"), server.Output, StringComparison.Ordinal);

            // The command as printed joins.
            var joinCommand = JoinCommand().Match(server.Output).Groups[1].Value.Split(' ');
            await using (var agent = GantryProcess.Start([.. joinCommand.Skip(1), "--listen", "127.0.0.1:0", "--state-dir", Path.Combine(_dir, "good"), "--no-nvml", "--node-name", "pinned"]))
            {
                await agent.WaitForOutputAsync("Registered with " + url);
            }

            // A wrong pin: refused before anything is sent, saying what it saw and what it expected.
            var wrong = "sha256:" + new string('a', 64);
            await using (var agent = GantryProcess.Start(["agent", "--server", url, "--join-token-file", Path.Combine(data, "join.token"), "--ca-cert-hash", wrong, "--listen", "127.0.0.1:0", "--state-dir", Path.Combine(_dir, "bad"), "--no-nvml", "--node-name", "impostor"]))
            {
                await agent.WaitForOutputAsync("Refusing to connect to " + url);
                Assert.Contains($"expected {wrong} (--ca-cert-hash), the server offered {pin}", agent.Output, StringComparison.Ordinal);
                Assert.DoesNotContain("Registered with", agent.Output, StringComparison.Ordinal);
            }

            var (code, nodes) = await GantryProcess.RunAsync(["nodes", "ls", "-o", "json", "--server", url, "--ca-file", Path.Combine(data, "tls", "ca.crt"), "--token", (await File.ReadAllTextAsync(Path.Combine(data, "admin.token"))).Trim()]);
            Assert.True(code == 0, nodes);
            Assert.Contains("\"pinned\"", nodes, StringComparison.Ordinal);
            Assert.DoesNotContain("impostor", nodes, StringComparison.Ordinal);
            await server.StopAsync();
        }

        // Started again: the same CA, nothing made.
        await using (var again = GantryProcess.Start(["server", "--listen", "127.0.0.1:0", "--data-dir", data, "--tls", "auto"]))
        {
            await again.WaitForOutputAsync("Join agents with:");
            Assert.Contains("--ca-cert-hash " + pin, again.Output, StringComparison.Ordinal);
            Assert.DoesNotContain("TLS: made", again.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Cli_TlsCert_RightCaWorks_NoneOrAWrongOneFailsWithOneLine()
    {
        using var ca = TestCa.Create();
        using var other = TestCa.Create("Someone Else's CA");
        var (server, url, data) = await StartServerAsync(ca);
        await using var stopped = server;
        await server.WaitForOutputAsync("Join agents with:");
        Assert.Contains("--ca-cert-hash " + ca.Pin, server.Output, StringComparison.Ordinal);
        var token = (await File.ReadAllTextAsync(Path.Combine(data, "admin.token"))).Trim();
        var caFile = ca.WriteCertificate(Path.Combine(_dir, "ca.crt"));
        var otherFile = other.WriteCertificate(Path.Combine(_dir, "other.crt"));
        string[] list = ["nodes", "ls", "--server", url, "--token", token];

        var (code, output) = await GantryProcess.RunAsync([.. list, "--ca-file", caFile]);
        Assert.True(code == 0, output);
        Assert.Contains("No nodes", output, StringComparison.Ordinal);

        // From the environment, and from the client config file (relative to it).
        (code, output) = await GantryProcess.RunAsync(list, new Dictionary<string, string> { ["GANTRY_CA_FILE"] = caFile });
        Assert.True(code == 0, output);
        var config = Path.Combine(_dir, "client.json");
        await File.WriteAllTextAsync(config, $$"""{ "server": "{{url}}", "token": "{{token}}", "caFile": "ca.crt" }""");
        (code, output) = await GantryProcess.RunAsync(["nodes", "ls"], new Dictionary<string, string> { ["GANTRY_CLIENT_CONFIG"] = config });
        Assert.True(code == 0, output);

        (code, output) = await GantryProcess.RunAsync(list);
        Assert.Equal(1, code);
        Assert.Equal($"gantry: the certificate of {url} is not trusted (not signed by a CA in the system's store): give --ca-file with the CA that signed it (or GANTRY_CA_FILE, or \"caFile\" in the client config file)", output.Trim());

        (code, output) = await GantryProcess.RunAsync([.. list, "--ca-file", otherFile]);
        Assert.Equal(1, code);
        Assert.Equal($"gantry: the certificate of {url} is not trusted (not signed by a CA in --ca-file): is {otherFile} (from --ca-file) the CA that signed it?", output.Trim());

        (code, output) = await GantryProcess.RunAsync([.. list, "--ca-file", Path.Combine(_dir, "missing.crt")]);
        Assert.Equal(2, code);
        Assert.Contains("--ca-file: cannot read " + Path.Combine(_dir, "missing.crt"), output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_CaFile_JoinsAServerItsCaSigned_AndRefusesAnother()
    {
        using var ca = TestCa.Create();
        using var other = TestCa.Create("Someone Else's CA");
        var (server, url, data) = await StartServerAsync(ca);
        await using var stopped = server;
        var join = Path.Combine(data, "join.token");

        await using (var agent = GantryProcess.Start(["agent", "--server", url, "--join-token-file", join, "--ca-file", ca.WriteCertificate(Path.Combine(_dir, "ca.crt")), "--listen", "127.0.0.1:0", "--state-dir", Path.Combine(_dir, "a"), "--no-nvml"]))
        {
            await agent.WaitForOutputAsync("Registered with " + url);
        }

        await using (var agent = GantryProcess.Start(["agent", "--server", url, "--join-token-file", join, "--ca-file", other.WriteCertificate(Path.Combine(_dir, "other.crt")), "--listen", "127.0.0.1:0", "--state-dir", Path.Combine(_dir, "b"), "--no-nvml"]))
        {
            await agent.WaitForOutputAsync("Refusing to connect to " + url);
            Assert.Contains("is not trusted: not signed by a CA in --ca-file", agent.Output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("0.0.0.0:0")]
    [InlineData("[::]:0")]
    public async Task Server_PlainHttpOnEveryInterface_IsRefusedWithoutInsecureHttp(string listen)
    {
        var (code, output) = await GantryProcess.RunAsync(["server", "--listen", listen, "--data-dir", Path.Combine(_dir, "refused")]);
        Assert.Equal(2, code);
        Assert.Contains("gantry server: --listen: ", output, StringComparison.Ordinal);
        Assert.Contains("give --tls-cert and --tls-key, or --tls auto, or --insecure-http", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_dir, "refused")));

        await using var plain = GantryProcess.Start(["server", "--listen", listen, "--data-dir", Path.Combine(_dir, "plain"), "--insecure-http"]);
        Assert.StartsWith("http://", await plain.WaitForListeningAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_BadTlsFiles_ExitWith2NamingTheFlag()
    {
        using var ca = TestCa.Create();
        var one = ca.WriteServerPair(_dir, "one");
        var two = ca.WriteServerPair(_dir, "two");

        var (code, output) = await GantryProcess.RunAsync(["server", "--listen", "127.0.0.1:0", "--data-dir", Path.Combine(_dir, "d"), "--tls-cert", one.Certificate, "--tls-key", two.Key]);
        Assert.Equal(2, code);
        Assert.Contains($"gantry server: --tls-key: {two.Key} holds no private key for the certificate in {one.Certificate}", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);

        (code, output) = await GantryProcess.RunAsync(["server", "--listen", "127.0.0.1:0", "--data-dir", Path.Combine(_dir, "d"), "--tls-cert", Path.Combine(_dir, "none.crt"), "--tls-key", two.Key]);
        Assert.Equal(2, code);
        Assert.Contains("gantry server: --tls-cert: cannot read " + Path.Combine(_dir, "none.crt"), output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dev_ListenBeyondLoopback_UsesTlsAuto_ItsAgentJoinsAndTheCliIsConfigured()
    {
        var data = Path.Combine(_dir, "dev");
        var config = Path.Combine(_dir, "client.json");
        await using var dev = GantryProcess.Start(
            ["dev", "--data-dir", data, "--listen", $"0.0.0.0:{Tools.FreePort()}", "--agent-listen", "127.0.0.1:0", "--simulate-gpus", "1", "--node-name", "dev-tls"],
            new Dictionary<string, string> { ["GANTRY_CLIENT_CONFIG"] = config });
        var url = await dev.WaitForListeningAsync();
        Assert.StartsWith("https://", url, StringComparison.Ordinal);
        await dev.WaitForOutputAsync("Registered with https://127.0.0.1:");
        Assert.True(File.Exists(Path.Combine(data, "tls", "ca.crt")));
        Assert.Contains("\"caFile\": \"" + Path.GetFullPath(Path.Combine(data, "tls", "ca.crt")) + "\"", await File.ReadAllTextAsync(config), StringComparison.Ordinal);

        var (code, output) = await GantryProcess.RunAsync(["nodes", "ls"], new Dictionary<string, string> { ["GANTRY_CLIENT_CONFIG"] = config });
        Assert.True(code == 0, output);
        Assert.Contains("dev-tls", output, StringComparison.Ordinal);
    }

    /// <summary>A server with a certificate <paramref name="ca"/> issued (--tls-cert, with the chain); its URL and data dir.</summary>
    private async Task<(GantryProcess Server, string Url, string DataDir)> StartServerAsync(TestCa ca)
    {
        var pair = ca.WriteServerPair(_dir, "server");
        var data = Path.Combine(_dir, "server-data");
        var server = GantryProcess.Start(["server", "--listen", "127.0.0.1:0", "--data-dir", data, "--tls-cert", pair.Certificate, "--tls-key", pair.Key]);
        try
        {
            return (server, await server.WaitForListeningAsync(), data);
        }
        catch
        {
            await server.DisposeAsync();
            throw;
        }
    }

    [GeneratedRegex(@"Join agents with: (gantry agent [^\r\n]+)")]
    private static partial Regex JoinCommand();
}
