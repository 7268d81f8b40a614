using System.Diagnostics;
using System.Globalization;
using System.Runtime.Versioning;
using Gantry.Agent.Configuration;
using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>
/// A Unix user made for the tests (with a home under the temp folder and a supplementary group) and
/// removed after them; only as root.
/// </summary>
public sealed class ThrowawayUser : IAsyncLifetime
{
    public string Name { get; } = "gantry-t" + Guid.NewGuid().ToString("N")[..8];

    public string ExtraGroup => Name + "-x";

    public string Home => Path.Combine(Path.GetTempPath(), Name + "-home");

    public Task InitializeAsync()
    {
        if (Environment.IsPrivilegedProcess)
        {
            Tool.Run("groupadd", "--system", ExtraGroup);
            Tool.Run("useradd", "--system", "--home-dir", Home, "--create-home", "--user-group", "--groups", ExtraGroup, "--shell", "/bin/sh", Name);
        }

        return Task.CompletedTask;
    }

    public Task DisposeAsync()
    {
        if (Environment.IsPrivilegedProcess)
        {
            Tool.Run("userdel", Name);
            Tool.Run("groupdel", ExtraGroup);
            if (Directory.Exists(Home))
            {
                Directory.Delete(Home, recursive: true);
            }
        }

        return Task.CompletedTask;
    }
}

/// <summary>Runs a program of the test machine and returns its output (a test may shell out; the agent does not).</summary>
internal static class Tool
{
    public static string Run(string program, params string[] arguments)
    {
        using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false })!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {error}");
        return output.Trim();
    }
}

/// <summary>
/// An agent running as root runs each job as its owner (docs/jobs-as-owners.md): real users, real
/// child processes through setpriv. The tests run as root here and in CI.
/// </summary>
public sealed class JobsAsOwnersTests(ThrowawayUser user) : IClassFixture<ThrowawayUser>, IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-owners-").FullName;
    private readonly RecordingSink _sink = new();
    private JobRunner _runner = null!;

    public Task InitializeAsync()
    {
        _runner = new JobRunner(_sink, _stateDir, TimeProvider.System, NullLogger<JobRunner>.Instance, users: JobUsers.ForThisMachine("node-7")) { NodeId = "node-a" };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runner.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    private static Assignment Shell(long jobId, string script, string? runAs, bool allowRoot = false) =>
        JobRunnerTests.Shell(jobId, script) with { RunAsUser = runAs, AllowRoot = allowRoot };

    private async Task<(AttemptEvent Ended, string[] Lines)> RunAsync(Assignment job)
    {
        Assert.True(Environment.IsPrivilegedProcess, "these tests make a Unix user: run them as root (CI does)");
        Assert.True(_runner.Start(job));
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));
        return (ended, _sink.Text(AttemptKey.Of(job), LogSource.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    private static SortedSet<string> Groups(string text) => [.. text.Split(' ', StringSplitOptions.RemoveEmptyEntries)];

    [RootFact]
    public async Task Start_RunAsUser_RunsWithItsIdsGroupsAndHome()
    {
        var (ended, lines) = await RunAsync(Shell(1, "id -u; id -g; id -G; echo \"$HOME|$USER|$LOGNAME\"; pwd", user.Name));

        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(Tool.Run("id", "-u", user.Name), lines[0]);
        Assert.NotEqual("0", lines[0]);
        Assert.Equal(Tool.Run("id", "-g", user.Name), lines[1]);
        Assert.Equal(Groups(Tool.Run("id", "-G", user.Name)), Groups(lines[2]));
        Assert.Contains(Tool.Run("getent", "group", user.ExtraGroup).Split(':')[2], Groups(lines[2]));
        Assert.Equal($"{user.Home}|{user.Name}|{user.Name}", lines[3]);
        Assert.Equal(user.Home, lines[4]);
    }

    [RootFact]
    public async Task Start_RunAsUserWithWorkingDirectory_StartsThere()
    {
        var (ended, lines) = await RunAsync(Shell(2, "pwd", user.Name) with { WorkingDirectory = "/tmp" });
        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(["/tmp"], lines);
    }

    [RootFact]
    public async Task Start_UnknownUser_EndsStartFailedNamingUserAndNode()
    {
        var (ended, _) = await RunAsync(Shell(3, "true", "gantry-no-such-user"));
        Assert.Equal(AttemptEndCause.StartFailed, ended.Cause);
        Assert.Equal("no user 'gantry-no-such-user' on node node-7: the job's token runs its jobs as 'gantry-no-such-user'", ended.Message);
        Assert.DoesNotContain(_sink.CallsFor(AttemptKey.Of(Shell(3, "", null))), c => c.Event?.Type == AttemptEventType.Started);
    }

    [RootFact]
    public async Task Start_RootWithoutAllowRoot_EndsStartFailed()
    {
        var (ended, _) = await RunAsync(Shell(4, "true", "root"));
        Assert.Equal(AttemptEndCause.StartFailed, ended.Cause);
        Assert.Contains("user 'root' is root (uid 0) on node node-7", ended.Message, StringComparison.Ordinal);
    }

    [RootFact]
    public async Task Start_RootWithAllowRoot_RunsAsRoot()
    {
        var (ended, lines) = await RunAsync(Shell(5, "id -u; echo $HOME", "root", allowRoot: true));
        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(["0", "/root"], lines);
    }

    [RootFact]
    public async Task Start_NoUserWithoutAllowRoot_RunsAsNobody()
    {
        var (ended, lines) = await RunAsync(Shell(6, "id -u; id -g; pwd", null));
        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(Tool.Run("id", "-u", "nobody"), lines[0]);
        Assert.Equal(Tool.Run("id", "-g", "nobody"), lines[1]);

        // nobody's home (/nonexistent) does not exist.
        Assert.Equal("/", lines[2]);
    }

    [RootFact]
    public async Task Start_NoUserWithAllowRoot_RunsAsTheAgent()
    {
        var (ended, lines) = await RunAsync(Shell(7, "id -u", null, allowRoot: true));
        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(["0"], lines);
    }

    [RootFact]
    [SupportedOSPlatform("linux")]
    public async Task Start_AsUser_CannotReadTheAgentsStateDirectory()
    {
        // A state dir as an older agent left it (0755, its files 0644): readable by everyone.
        var stateDir = Path.Combine(Path.GetTempPath(), "gantry-state-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(stateDir);
        File.SetUnixFileMode(stateDir, (UnixFileMode)0b111_101_101);
        var nodeId = Path.Combine(stateDir, "node-id");
        File.WriteAllText(nodeId, "secret-node\n");
        File.SetUnixFileMode(nodeId, (UnixFileMode)0b110_100_100);
        try
        {
            var (before, read) = await RunAsync(Shell(8, $"cat {nodeId}", user.Name));
            Assert.Equal(0, before.ExitCode);
            Assert.Equal(["secret-node"], read);

            StateDirectory.Prepare(stateDir);

            Assert.Equal(StateDirectory.DirectoryMode, File.GetUnixFileMode(stateDir));
            var job = Shell(9, $"cat {nodeId}; ls {stateDir}", user.Name);
            var (after, lines) = await RunAsync(job);
            Assert.NotEqual(0, after.ExitCode);
            Assert.Empty(lines);
            Assert.Contains("Permission denied", _sink.Text(AttemptKey.Of(job), LogSource.Stderr), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(stateDir, recursive: true);
        }
    }

    [RootFact]
    public async Task Start_AsUser_GetsNoneOfTheAgentsGantryVariables()
    {
        var (ended, lines) = await RunAsync(Shell(10, "env | grep '^GANTRY_' | cut -d= -f1 | sort", user.Name));
        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(["GANTRY_ATTEMPT", "GANTRY_JOB_ID", "GANTRY_NODE_ID"], lines);
    }

    [RootFact]
    public async Task Stop_JobOfAnotherUser_KillsItsWholeGroup()
    {
        Assert.True(Environment.IsPrivilegedProcess, "run as root (CI does)");
        var job = Shell(11, "sleep 300 & sleep 300", user.Name);
        _runner.Start(job);
        var pid = (await _sink.StartedAsync(AttemptKey.Of(job))).Pid!.Value;
        await ProcessTable.WaitUntilAsync(() => ProcessTable.GroupMembers(pid).Count >= 3, "the shell and both sleeps run");
        var uid = uint.Parse(Tool.Run("id", "-u", user.Name), CultureInfo.InvariantCulture);
        Assert.All(ProcessTable.GroupMembers(pid), member => Assert.Equal(uid, RealUid(member)));

        Assert.True(_runner.Stop(AttemptKey.Of(job), AttemptEndCause.Stopped));
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(AttemptEndCause.Stopped, ended.Cause);
        Assert.Equal("SIGTERM", ended.Signal);
        Assert.Empty(ProcessTable.GroupMembers(pid));
    }

    [Fact]
    public async Task Start_AgentNotRoot_RunsTheJobAsItselfWhateverItsUser()
    {
        // An agent that is not root cannot switch users: the assignment's user is not even looked up.
        var sink = new RecordingSink();
        var users = new JobUsers("node-7", 1000, "gantry", _ => throw new InvalidOperationException("looked up"));
        await using var runner = new JobRunner(sink, _stateDir, TimeProvider.System, NullLogger<JobRunner>.Instance, users: users);
        var job = Shell(12, "id -u", "gantry-no-such-user");

        Assert.True(runner.Start(job));
        var ended = await sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(0, ended.ExitCode);
        Assert.Equal(Tool.Run("id", "-u") + "\n", sink.Text(AttemptKey.Of(job), LogSource.Stdout));
    }

    private static uint? RealUid(int pid)
    {
        foreach (var line in File.ReadLines($"/proc/{pid}/status"))
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                return uint.Parse(line.Split('\t', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture);
            }
        }

        return null;
    }
}
