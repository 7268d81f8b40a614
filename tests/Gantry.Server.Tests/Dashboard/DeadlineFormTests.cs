using Gantry.Server.Dashboard.Views;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The dashboard's submit form: the deadline and expected run time of carbon-aware deferral.</summary>
public sealed class DeadlineFormTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 7, 0, 0, TimeSpan.Zero);

    [Fact]
    public void ToSubmission_DurationDeadline_CountsFromNow()
    {
        var form = new JobForm { Command = "train.py", Deadline = " 8h ", ExpectedRuntime = "45m" };

        Assert.Null(JobSubmit.Parse(form));
        var submission = JobSubmit.ToSubmission(form, Now);

        Assert.Equal(Now.AddHours(8), submission.Deadline);
        Assert.Equal(2700, submission.ExpectedRuntimeSeconds);
    }

    [Fact]
    public void ToSubmission_TimeDeadline_IsUtcUnlessOffsetGiven()
    {
        var utc = JobSubmit.ToSubmission(new JobForm { Command = "x", Deadline = "2026-12-04T06:00", ExpectedRuntime = "1h" }, Now);
        var offset = JobSubmit.ToSubmission(new JobForm { Command = "x", Deadline = "2026-12-04T07:00+01:00", ExpectedRuntime = "1h" }, Now);

        Assert.Equal(new DateTimeOffset(2026, 12, 4, 6, 0, 0, TimeSpan.Zero), utc.Deadline);
        Assert.Equal(utc.Deadline, offset.Deadline);
    }

    [Fact]
    public void ToSubmission_NoDeadline_LeavesBothNull()
    {
        var submission = JobSubmit.ToSubmission(new JobForm { Command = "x" }, Now);

        Assert.Null(submission.Deadline);
        Assert.Null(submission.ExpectedRuntimeSeconds);
    }

    [Theory]
    [InlineData("tomorrow", "1h", "deadline")]
    [InlineData("8h", "soon", "expectedRuntime")]
    [InlineData("8h", "0s", "expectedRuntime")]
    public void Parse_BadDeadlineFields_NameTheField(string deadline, string expected, string field)
    {
        var refused = JobSubmit.Parse(new JobForm { Command = "x", Deadline = deadline, ExpectedRuntime = expected });

        Assert.Equal(field, refused?.ErrorField);
    }

    [Fact]
    public void Refused_DeadlineThatCannotBeMet_NamesTheDeadlineField()
    {
        var refused = JobSubmit.Refused(new JobForm { Command = "x" }, new Dictionary<string, string[]> { ["deadline"] = ["cannot be met: it is 30m away and the job is expected to run 1h"] });

        Assert.Equal("deadline", refused.ErrorField);
        Assert.StartsWith("Deadline: cannot be met", refused.Error, StringComparison.Ordinal);
    }
}
