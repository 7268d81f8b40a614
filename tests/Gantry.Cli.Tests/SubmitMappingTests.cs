using System.CommandLine;
using System.Text.Json;
using Gantry.Cli.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Tests;

public sealed class SubmitMappingTests
{
    private static JobSubmission Build(params string[] args)
    {
        var flags = new SubmitOptions();
        var context = new CliContext(TextWriter.Null, TextWriter.Null, _ => null, TimeProvider.System);
        var command = JobsCommand.CreateSubmit(context, new ClientOptions(), flags);
        var parseResult = command.Parse(args);
        Assert.Empty(parseResult.Errors);
        return flags.Build(parseResult);
    }

    private static UsageException BuildFails(params string[] args) => Assert.Throws<UsageException>(() => Build(args));

    [Fact]
    public void Build_NoFlags_UsesApiDefaults()
    {
        var submission = Build("--", "nvidia-smi");

        Assert.Equal(["nvidia-smi"], submission.Command);
        Assert.Null(submission.Name);
        Assert.False(submission.Shell);
        Assert.Empty(submission.Env);
        Assert.Null(submission.WorkingDirectory);
        Assert.Equal(0, submission.Resources.Gpus);
        Assert.Equal(0, submission.Resources.GpuMemoryBytes);
        Assert.Null(submission.Resources.GpuModel);
        Assert.Equal(1, submission.Resources.Cpus);
        Assert.Equal(0, submission.Resources.MemoryBytes);
        Assert.Equal(50, submission.Priority);
        Assert.Empty(submission.Selector);
        Assert.Null(submission.MaxRuntimeSeconds);
        Assert.Equal(0, submission.Retries);
        Assert.Null(submission.Array);
    }

    [Fact]
    public void Build_EveryFlag_MapsToSubmission()
    {
        var submission = Build(
            "--name", "train",
            "--array", "1-1000",
            "--gpus", "2",
            "--gpu-memory", "81920",
            "--gpu-model", "H100",
            "--cpus", "8",
            "--memory", "16384",
            "--priority", "90",
            "--selector", "zone=a",
            "--selector", "rack=3,row=b",
            "--max-runtime", "1h30m",
            "--retries", "3",
            "--env", "A=1",
            "--env", "B=x=y",
            "--env", "EMPTY=",
            "--workdir", "/data/run",
            "--",
            "python", "train.py", "--epochs", "3");

        Assert.Equal("train", submission.Name);
        Assert.Equal(new ArrayRange { Start = 1, End = 1000 }, submission.Array);
        Assert.Equal(2, submission.Resources.Gpus);
        Assert.Equal(81920L * 1024 * 1024, submission.Resources.GpuMemoryBytes);
        Assert.Equal("H100", submission.Resources.GpuModel);
        Assert.Equal(8, submission.Resources.Cpus);
        Assert.Equal(16L * 1024 * 1024 * 1024, submission.Resources.MemoryBytes);
        Assert.Equal(90, submission.Priority);
        Assert.Equal(new Dictionary<string, string> { ["zone"] = "a", ["rack"] = "3", ["row"] = "b" }, submission.Selector);
        Assert.Equal(5400, submission.MaxRuntimeSeconds);
        Assert.Equal(3, submission.Retries);
        Assert.Equal(new Dictionary<string, string> { ["A"] = "1", ["B"] = "x=y", ["EMPTY"] = "" }, submission.Env);
        Assert.Equal("/data/run", submission.WorkingDirectory);
        Assert.False(submission.Shell);
        Assert.Equal(["python", "train.py", "--epochs", "3"], submission.Command);
    }

    [Fact]
    public void Build_Shell_TakesOneCommandString()
    {
        var submission = Build("--shell", "--", "python train.py > out.log");

        Assert.True(submission.Shell);
        Assert.Equal(["python train.py > out.log"], submission.Command);
    }

    [Fact]
    public void Build_RepeatedEnv_LastOneWins()
    {
        Assert.Equal("2", Build("--env", "A=1", "--env", "A=2", "--", "x").Env["A"]);
    }

    [Fact]
    public void Build_WindowsWorkdir_IsAbsolute()
    {
        Assert.Equal(@"C:\jobs", Build("--workdir", @"C:\jobs", "--", "x").WorkingDirectory);
    }

    [Fact]
    public void Build_Submission_SerializesToApiJson()
    {
        var submission = Build("--gpus", "1", "--max-runtime", "30s", "--array", "0-9", "--", "echo", "hi");

        var json = JsonSerializer.Serialize(submission, GantryJson.Default.JobSubmission);

        Assert.Contains("\"command\":[\"echo\",\"hi\"]", json, StringComparison.Ordinal);
        Assert.Contains("\"maxRuntimeSeconds\":30", json, StringComparison.Ordinal);
        Assert.Contains("\"array\":{\"start\":0,\"end\":9}", json, StringComparison.Ordinal);
        Assert.Contains("\"gpus\":1", json, StringComparison.Ordinal);
        Assert.DoesNotContain("\"name\"", json, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--gpus", "-1", "must be at least 0, got -1")]
    [InlineData("--gpus", "two", "expected a whole number, got 'two'")]
    [InlineData("--gpus", "99999999999", "must be at least 0")]
    [InlineData("--cpus", "-2", "must be at least 0")]
    [InlineData("--priority", "101", "must be between 0 and 100, got 101")]
    [InlineData("--retries", "-1", "must be at least 0")]
    [InlineData("--memory", "-5", "must be between 0 and")]
    [InlineData("--gpu-memory", "80G", "expected a whole number of MiB")]
    [InlineData("--gpu-memory", "99999999999999999", "must be between 0 and")]
    [InlineData("--array", "5-1", "the end (1) comes before the start (5)")]
    [InlineData("--array", "1000", "expected START-END")]
    [InlineData("--array", "-1-5", "expected START-END")]
    [InlineData("--array", "a-b", "expected START-END")]
    [InlineData("--env", "NOEQUALS", "expected KEY=VALUE, got 'NOEQUALS'")]
    [InlineData("--env", "=value", "expected KEY=VALUE")]
    [InlineData("--selector", "zone", "expected KEY=VALUE, got 'zone'")]
    [InlineData("--max-runtime", "forever", "expected a duration such as 30s")]
    [InlineData("--max-runtime", "0s", "must be more than 0s")]
    [InlineData("--workdir", "relative/dir", "must be an absolute path")]
    [InlineData("--name", "", "must not be empty")]
    [InlineData("--gpu-model", "", "must not be empty")]
    public void Build_BadValue_NamesTheFlag(string flag, string value, string message)
    {
        var error = BuildFails(flag, value, "--", "x");

        Assert.Equal(flag, error.Setting);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_ShellWithTwoWords_IsRefused()
    {
        var error = BuildFails("--shell", "--", "python", "train.py");

        Assert.Equal("--shell", error.Setting);
        Assert.Contains("exactly one command string", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_NoCommand_IsRefused()
    {
        Assert.Equal("COMMAND", BuildFails("--gpus", "1").Setting);
    }

    [Fact]
    public void Build_CommandBeforeDoubleDash_IsRefused()
    {
        var error = BuildFails("python", "train.py");

        Assert.Equal("COMMAND", error.Setting);
        Assert.Contains("after --", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_UnknownFlag_IsNamed()
    {
        var error = BuildFails("--gpu", "2", "--", "x");

        Assert.Equal("--gpu", error.Setting);
        Assert.Contains("unknown option", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--gpus", "-1")]
    [InlineData("--array", "5-1")]
    [InlineData("--env", "NOEQUALS")]
    [InlineData("--output", "yaml")]
    [InlineData("--max-runtime", "1x")]
    public async Task Submit_BadValue_ExitsWithUsageErrorAndSendsNothing(string flag, string value)
    {
        // Port 1 refuses connections: had anything been sent, the exit code would be 1.
        var result = await new CliHarness().RunAsync("jobs", "submit", "--server", "http://127.0.0.1:1", flag, value, "--", "x");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"gantry jobs submit: {flag}: ", result.Error, StringComparison.Ordinal);
        Assert.Contains("Run 'gantry jobs submit --help' for usage.", result.Error, StringComparison.Ordinal);
        Assert.Equal("", result.Output);
    }

    [Fact]
    public async Task Submit_UnknownOptionAfterSubcommand_IsUsageError()
    {
        var result = await new CliHarness().RunAsync("jobs", "ls", "--bogus");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--bogus", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("jobs", "show", "abc")]
    [InlineData("jobs", "cancel", "-3")]
    [InlineData("jobs", "logs", "0")]
    public async Task JobCommands_BadJobId_ExitWithUsageError(string group, string command, string id)
    {
        var result = await new CliHarness().RunAsync(group, command, "--server", "http://127.0.0.1:1", "--", id);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("JOB-ID: expected a job id", result.Error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nodes", "--state", "sleepy", "expected one of ready, suspect, down, draining, drained")]
    [InlineData("jobs", "--state", "done", "expected one of pending, assigned, running, succeeded, failed, cancelled, lost")]
    [InlineData("jobs", "--limit", "0", "must be between 1 and")]
    public async Task List_BadFilter_ExitsWithUsageError(string group, string flag, string value, string message)
    {
        var result = await new CliHarness().RunAsync(group, "ls", "--server", "http://127.0.0.1:1", flag, value);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains($"{flag}: {message}", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void SubmittedText_LargeContiguousArray_IsOneRangeLine()
    {
        var ids = Enumerable.Range(12, 1000).Select(i => (long)i).ToArray();

        Assert.Equal("submitted 1000 jobs 12-1011\n", JobsCommand.SubmittedText(ids, forStderr: false));
    }

    [Fact]
    public void SubmittedText_SmallArray_IsOneIdPerLine()
    {
        Assert.Equal("7\n8\n9\n", JobsCommand.SubmittedText([7, 8, 9], forStderr: false));
        Assert.Equal("gantry: submitted job 7\n", JobsCommand.SubmittedText([7], forStderr: true));
    }
}
