using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary><c>gantry server</c> and <c>gantry dev</c> as commands: help, and bad input refused before anything starts.</summary>
public sealed class ServerCommandTests
{
    [Theory]
    [InlineData("server", new[] { "--listen", "--data-dir", "--store", "--join-token", "--heartbeat-interval", "--down-after", "--kill-grace", "--reservation-after", "--scheduler-depth", "--job-retention", "--retention-raw", "--retention-rollup", "--max-job-log", "--log-level", "--config", "GANTRY_JOIN_TOKEN", "GANTRY_STORE", "GANTRY_DOWN_AFTER", "GANTRY_CONFIG" })]
    [InlineData("server", new[] { "--carbon-source", "static:GRAMS", "file:PATH", "carbon-aware-sdk:URL", "watttime:URL", "electricitymaps:URL", "--carbon-location", "--carbon-refresh", "--carbon-max-age", "--carbon-timeout", "--carbon-horizon", "--carbon-user", "--carbon-secret-file", "GANTRY_CARBON_SECRET" })] // carbon intensity
    [InlineData("agent", new[] { "--listen", "--interval", "--server", "--join-token", "--labels", "--gc-gen0-size", "--config", "GANTRY_INTERVAL", "GANTRY_CONFIG" })]
    [InlineData("dev", new[] { "--data-dir", "--listen", "--agent-listen", "--simulate-gpus", "--no-client-config", "--log-level", "--agent-log-level", "--store", "--down-after", "--job-retention", "--interval", "--labels", "--node-name", "--config", "GANTRY_AGENT_LISTEN" })]
    public async Task Help_ExplainsEveryOption(string command, string[] options)
    {
        var (code, output) = await GantryProcess.RunAsync([command, "--help"]);
        Assert.Equal(0, code);
        Assert.All(options, o => Assert.Contains(o, output, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("--help")]
    [InlineData("jobs")]
    public async Task RootHelp_ListsEveryCommandWithItsDescription(string first)
    {
        // 'gantry jobs ...' builds only the jobs command; the others stand in by name and description.
        var (code, output) = await GantryProcess.RunAsync(first == "--help" ? ["--help"] : [first, "--help"]);

        Assert.Equal(0, code);
        if (first == "--help")
        {
            Assert.Contains("Run the node agent: sample this machine's host and GPUs", output, StringComparison.Ordinal);
            Assert.Contains("Run the control plane: node leases, the job queue", output, StringComparison.Ordinal);
            Assert.Contains("Start a control plane and an agent for this machine in one process", output, StringComparison.Ordinal);
            Assert.Contains("List and inspect the server's nodes", output, StringComparison.Ordinal);
            Assert.Contains("Live view of the fleet", output, StringComparison.Ordinal);
        }

        Assert.Contains("Submit jobs to the server's queue", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownCommand_ExitCode2WithTheParsersMessage()
    {
        var (code, output) = await GantryProcess.RunAsync(["job", "ls"]);

        Assert.Equal(2, code);
        Assert.Contains("gantry: Unrecognized command or argument 'job'", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "server", "--heartbeat-interval", "1ms" }, "--heartbeat-interval")]
    [InlineData(new[] { "server", "--down-after", "3s" }, "--down-after")]
    [InlineData(new[] { "server", "--listen", "nowhere" }, "--listen")]
    [InlineData(new[] { "server", "--join-token", "short" }, "--join-token")]
    [InlineData(new[] { "server", "--log-level", "loud" }, "--log-level")]
    [InlineData(new[] { "server", "--reservation-after", "soon" }, "--reservation-after")]
    [InlineData(new[] { "server", "--max-job-log", "1k" }, "--max-job-log: must be at least 4 KiB")]
    [InlineData(new[] { "server", "--max-job-log", "lots" }, "--max-job-log: expected a size")]
    [InlineData(new[] { "server", "--store", "postgres://gantry:s3cret@db.example:notaport/fleet" }, "--store: The PostgreSQL address 'postgres://gantry:***@db.example:notaport/fleet'")]
    [InlineData(new[] { "server", "--store", "mysql://db.example/fleet" }, "--store: must be a PostgreSQL URL")]
    [InlineData(new[] { "dev", "--store", "postgres://db.example/fleet?sslmode=sometimes" }, "--store: The PostgreSQL address")]
    [InlineData(new[] { "dev", "--simulate-gpus", "999" }, "--simulate-gpus")]
    [InlineData(new[] { "dev", "--agent-listen", "x" }, "--agent-listen")]
    [InlineData(new[] { "dev", "--agent-log-level", "loud" }, "--agent-log-level")]
    [InlineData(new[] { "dev", "--down-after", "3s" }, "--down-after: must be longer")]
    [InlineData(new[] { "dev", "--interval", "10ms" }, "--interval: must be at least 1s")]
    [InlineData(new[] { "server", "--scheduler-depth", "0" }, "--scheduler-depth: must be between 1 and 100000")]
    [InlineData(new[] { "server", "--job-retention", "never" }, "--job-retention")]
    [InlineData(new[] { "server", "--store", "mysql://db/x" }, "--store: must be a PostgreSQL URL")]
    // Carbon intensity: bad prefix, missing credentials, unreadable trace (docs/carbon-sources.md).
    [InlineData(new[] { "server", "--carbon-source", "bogus:1" }, "--carbon-source: unknown source 'bogus:'")]
    [InlineData(new[] { "server", "--carbon-source", "watttime:api.watttime.org" }, "--carbon-source: watttime: expected an absolute http(s) URL")]
    [InlineData(new[] { "server", "--carbon-source", "watttime:https://api.watttime.org" }, "--carbon-user: is needed with --carbon-source watttime:https://api.watttime.org/")]
    [InlineData(new[] { "server", "--carbon-source", "file:/nonexistent/gantry-trace.csv" }, "--carbon-source: cannot read the trace /nonexistent/gantry-trace.csv")]
    [InlineData(new[] { "dev", "--carbon-source", "electricitymaps:https://api.electricitymap.org" }, "--carbon-secret-file: is needed")]
    public async Task BadSetting_ExitCode2NamesItAndWritesNothing(string[] args, string named)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "gantry-bad-" + Guid.NewGuid().ToString("N"));
        var (code, output) = await GantryProcess.RunAsync([.. args, "--data-dir", dataDir]);
        Assert.Equal(2, code);
        Assert.Contains(named, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dataDir), "nothing should be written for a refused start");
    }

    [Theory]
    [InlineData("server", "GANTRY_DOWN_AFTER", "3s", "gantry server: --down-after: must be longer than two heartbeat intervals (10s), got 3s (from GANTRY_DOWN_AFTER)")]
    [InlineData("server", "GANTRY_LISTEN", "nowhere", "gantry server: --listen: expected ADDRESS:PORT")]
    [InlineData("dev", "GANTRY_AGENT_LISTEN", "nowhere", "(got 'nowhere' from GANTRY_AGENT_LISTEN)")]
    [InlineData("agent", "GANTRY_INTERVAL", "0s", "gantry agent: --interval: must be at least 1s, got 0ms (from GANTRY_INTERVAL)")]
    public async Task BadSettingFromTheEnvironment_ExitCode2SaysWhichVariable(string command, string variable, string value, string expected)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "gantry-bad-" + Guid.NewGuid().ToString("N"));
        var (code, output) = await GantryProcess.RunAsync([command, .. command == "agent" ? Array.Empty<string>() : new[] { "--data-dir", dataDir }], new Dictionary<string, string> { [variable] = value });
        Assert.Equal(2, code);
        Assert.Contains(expected, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
        Assert.False(Directory.Exists(dataDir), "nothing should be written for a refused start");
    }

    [Theory]
    [InlineData("""{ "schedulerDepth": "many" }""", "gantry server: --scheduler-depth: expected a whole number (got 'many' from \"schedulerDepth\" in ")]
    [InlineData("""{ "downAfter": "4s", "heartbeatInterval": "2s" }""", "gantry server: --down-after: must be longer than two heartbeat intervals (4s), got 4s (from \"downAfter\" in ")]
    [InlineData("""{ "downafterr": "30s" }""", "gantry server: --config: ")]
    [InlineData("""{ "interval": "5s" }""", "unknown setting \"interval\"; known: listen, dataDir")]
    [InlineData("""{ "listen": """, "is not valid JSON")]
    public async Task BadConfigFile_ExitCode2NamesTheSettingAndFile(string json, string expected)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "gantry-bad-" + Guid.NewGuid().ToString("N"));
        var config = Path.GetTempFileName();
        await File.WriteAllTextAsync(config, json);
        try
        {
            var (code, output) = await GantryProcess.RunAsync(["server", "--data-dir", dataDir], new Dictionary<string, string> { ["GANTRY_CONFIG"] = config });
            Assert.Equal(2, code);
            Assert.Contains(expected, output, StringComparison.Ordinal);
            Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
            Assert.False(Directory.Exists(dataDir), "nothing should be written for a refused start");
        }
        finally
        {
            File.Delete(config);
        }
    }

    [Fact]
    public async Task Server_ListenFromEachSource_FlagBeatsEnvironmentBeatsFile()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-precedence-").FullName;
        var config = Path.Combine(dataDir, "server.json");
        var (filePort, envPort, flagPort) = (Tools.FreePort(), Tools.FreePort(), Tools.FreePort());
        await File.WriteAllTextAsync(config, $$"""{ "listen": "127.0.0.1:{{filePort}}", "downAfter": "30s" }""");
        try
        {
            var environment = new Dictionary<string, string> { ["GANTRY_LISTEN"] = $"127.0.0.1:{envPort}" };
            foreach (var (args, env, port) in new (string[], Dictionary<string, string>?, int)[]
            {
                (["--config", config, "--listen", $"127.0.0.1:{flagPort}"], environment, flagPort),
                (["--config", config], environment, envPort),
                (["--config", config], null, filePort),
            })
            {
                await using var server = GantryProcess.Start(["server", "--data-dir", dataDir, .. args], env);
                var url = await server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
                Assert.Equal($"http://127.0.0.1:{port}", url.TrimEnd('/'));
                Assert.Equal(0, await server.StopAsync());
            }
        }
        finally
        {
            Directory.Delete(dataDir, recursive: true);
        }
    }

    [Theory]
    [InlineData("server")]
    [InlineData("dev")]
    public async Task Start_StoreUnreachable_ExitCode2NamesItWithoutThePassword(string command)
    {
        var port = Tools.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var dataDir = Path.Combine(Path.GetTempPath(), "gantry-nostore-" + Guid.NewGuid().ToString("N"));
        var (code, output) = await GantryProcess.RunAsync([command, "--store", $"postgres://gantry:s3cret@127.0.0.1:{port}/fleet", "--data-dir", dataDir, "--listen", "127.0.0.1:0"]);

        Assert.Equal(2, code);
        Assert.Contains($"gantry {command}: --store: cannot connect to postgres://gantry@127.0.0.1:{port}/fleet: ", output, StringComparison.Ordinal);
        Assert.DoesNotContain("s3cret", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Server_DataDirIsAFile_ExitCode1WithAReadableMessage()
    {
        var file = Path.GetTempFileName();
        var (code, output) = await GantryProcess.RunAsync(["server", "--data-dir", file, "--listen", "127.0.0.1:0"]);
        Assert.Equal(1, code);
        Assert.Contains("gantry server:", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }
}
