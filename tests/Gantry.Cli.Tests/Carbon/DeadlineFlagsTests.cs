using Gantry.Cli.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Tests.Carbon;

/// <summary><c>gantry jobs submit --deadline … --expected-runtime …</c>: the flags of carbon-aware deferral.</summary>
public sealed class DeadlineFlagsTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 7, 0, 0, TimeSpan.Zero);

    private static JobSubmission Build(params string[] args)
    {
        var flags = new SubmitOptions();
        var context = new CliContext(TextWriter.Null, TextWriter.Null, _ => null, TimeProvider.System);
        var command = JobsCommand.CreateSubmit(context, new ClientOptions(), flags);
        var parseResult = command.Parse(args);
        Assert.Empty(parseResult.Errors);
        return flags.Build(parseResult, Now);
    }

    [Fact]
    public void Build_DurationDeadline_CountsFromNow()
    {
        var submission = Build("--deadline", "8h", "--expected-runtime", "1h", "--", "train.py");

        Assert.Equal(Now.AddHours(8), submission.Deadline);
        Assert.Equal(3600, submission.ExpectedRuntimeSeconds);
    }

    [Fact]
    public void Build_TimeDeadline_IsUtc()
    {
        var submission = Build("--deadline", "2026-12-04T06:00Z", "--expected-runtime", "45m", "--", "train.py");

        Assert.Equal(new DateTimeOffset(2026, 12, 4, 6, 0, 0, TimeSpan.Zero), submission.Deadline);
        Assert.Equal(2700, submission.ExpectedRuntimeSeconds);
    }

    [Fact]
    public void Build_NoDeadline_LeavesBothNull()
    {
        var submission = Build("--", "train.py");

        Assert.Null(submission.Deadline);
        Assert.Null(submission.ExpectedRuntimeSeconds);
    }

    [Theory]
    [InlineData("--deadline", "8h", null, null, "--deadline", "needs --expected-runtime too")]
    [InlineData("--expected-runtime", "1h", null, null, "--expected-runtime", "needs --deadline too")]
    [InlineData("--deadline", "30m", "--expected-runtime", "1h", "--deadline", "cannot be met: it is 30m away")]
    [InlineData("--deadline", "2026-12-02T06:00Z", "--expected-runtime", "1h", "--deadline", "is in the past")]
    [InlineData("--deadline", "soon", "--expected-runtime", "1h", "--deadline", "expected a duration from now")]
    [InlineData("--deadline", "8h", "--expected-runtime", "0s", "--expected-runtime", "more than 0s")]
    public void Build_BadDeadline_IsAUsageErrorNamingTheFlag(string flag1, string value1, string? flag2, string? value2, string setting, string message)
    {
        var args = new List<string> { flag1, value1 };
        if (flag2 is not null)
        {
            args.AddRange([flag2, value2!]);
        }

        args.AddRange(["--", "train.py"]);
        var error = Assert.Throws<UsageException>(() => Build([.. args]));

        Assert.Equal(setting, error.Setting);
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
