using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Server.Carbon;

/// <summary>
/// Checks a submission's <c>deadline</c> and <c>expectedRuntimeSeconds</c> against the clock: both or
/// neither, a runtime within the API's limits, and a deadline in the future that leaves room for the
/// runtime. A deadline that cannot be met is refused at submit rather than missed later.
/// </summary>
internal static class DeadlineValidation
{
    /// <summary>The furthest ahead a deadline may be (as far as a job may run).</summary>
    public static readonly TimeSpan MaxAhead = TimeSpan.FromDays(366);

    /// <summary>The errors by field (camelCase, as in the JSON); null when all is well.</summary>
    public static Dictionary<string, string[]>? Check(JobSubmission submission, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(submission);
        var deadline = submission.Deadline;
        var runtime = submission.ExpectedRuntimeSeconds;
        if (deadline is null && runtime is null)
        {
            return null;
        }

        if (submission.Array is not null)
        {
            return One(deadline is not null ? "deadline" : "expectedRuntimeSeconds", "is not taken with an array: array tasks are never deferred (submit them without a deadline, or as single jobs)");
        }

        if (runtime is { } seconds && (!double.IsFinite(seconds) || seconds <= 0 || seconds > MaxAhead.TotalSeconds))
        {
            return One("expectedRuntimeSeconds", string.Create(CultureInfo.InvariantCulture, $"must be more than 0 and at most {MaxAhead.TotalSeconds} (366 days), got {seconds}"));
        }

        if (deadline is not { } due)
        {
            return One("expectedRuntimeSeconds", "needs a deadline too: a job with an expected runtime and no deadline is never deferred, so give both or neither");
        }

        if (runtime is not { } expected)
        {
            return One("deadline", "needs expectedRuntimeSeconds too: the scheduler must know how long the job runs to start it in time, so give both or neither");
        }

        if (due <= now)
        {
            return One("deadline", $"is in the past ({due.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}; now is {now.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ})");
        }

        if (due - now > MaxAhead)
        {
            return One("deadline", $"must be at most 366 days ahead, got {due.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}");
        }

        var left = due - now;
        var needed = TimeSpan.FromSeconds(expected);
        return left < needed
            ? One("deadline", $"cannot be met: it is {Durations.FormatApproximate(left)} away ({due.UtcDateTime:yyyy-MM-ddTHH:mm:ssZ}) and the job is expected to run {Durations.Format(needed)}")
            : null;
    }

    private static Dictionary<string, string[]> One(string field, string message) => new() { [field] = [message] };
}
