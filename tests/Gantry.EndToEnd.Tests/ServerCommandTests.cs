using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary><c>gantry server</c> and <c>gantry dev</c> as commands: help, and bad input refused before anything starts.</summary>
public sealed class ServerCommandTests
{
    [Theory]
    [InlineData("server", new[] { "--listen", "--data-dir", "--store", "GANTRY_STORE", "--join-token", "--heartbeat-interval", "--down-after", "--kill-grace", "--reservation-after", "--max-job-log", "--log-level", "GANTRY_JOIN_TOKEN" })]
    [InlineData("dev", new[] { "--data-dir", "--listen", "--agent-listen", "--simulate-gpus", "--no-client-config", "--log-level", "--store" })]
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
