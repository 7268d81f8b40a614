using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Jobs;

/// <summary>Job endpoints: submit, list, show and cancel for people; attempt events for agents.</summary>
internal static class JobEndpoints
{
    public static void MapJobEndpoints(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/api/v1/jobs");

        jobs.MapPost("/", async (HttpContext http, JobQueue queue, ServerOptions options, TimeProvider time, CancellationToken ct) =>
        {
            var (submission, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.JobSubmission, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            if (Validation.Check(submission!) is { } errors)
            {
                return Problems.Invalid(errors);
            }

            // Carbon-aware deferral: a deadline that cannot be met is refused now, not missed later.
            if (Carbon.DeadlineValidation.Check(submission!, time.GetUtcNow()) is { } deadlineErrors)
            {
                return Problems.Invalid(deadlineErrors);
            }

            long first;
            int count;
            try
            {
                // Fair share: the account is the job's owner once jobs record one (docs/fair-share.md, "Wiring").
                (first, count) = queue.Submit(submission!, account: null);
            }
            catch (AccountLimitException ex)
            {
                return Problems.Conflict(ex.Message);
            }

            return TypedResults.Created($"/api/v1/jobs/{first}", new SubmitResponse { JobIds = Ids(first, count) });
        }).RequireAdmin();

        jobs.MapGet("/", (HttpContext http, JobQueue queue) =>
        {
            if (!Query.TryEnum<JobState>(http.Request, "state", out var state, out var error)
                || !Query.TryLimit(http.Request, out var limit, out error)
                || !Query.TryLong(http.Request, "cursor", out var cursor, out error))
            {
                return error!;
            }

            return TypedResults.Json(queue.ListJobs(state, cursor, limit), GantryJson.Default.PageJobInfo);
        }).RequireAdmin();

        jobs.MapGet("/{jobId:long}", (long jobId, JobQueue queue) =>
            queue.GetJob(jobId) is { } job
                ? TypedResults.Json(job, GantryJson.Default.JobInfo)
                : Problems.NotFound($"no job with id {jobId}")).RequireAdmin();

        jobs.MapPost("/{jobId:long}/cancel", (long jobId, JobQueue queue) =>
        {
            if (queue.Cancel(jobId, out var alreadyEnded) is not { } job)
            {
                return Problems.NotFound($"no job with id {jobId}");
            }

            return alreadyEnded
                ? Problems.Conflict($"job {jobId} already ended ({JsonNamingPolicy.CamelCase.ConvertName(job.State.ToString())})")
                : TypedResults.Json(job, GantryJson.Default.JobInfo);
        }).RequireAdmin();

        jobs.MapPost("/{jobId:long}/attempts/{attempt:int}/events", async (long jobId, int attempt, HttpContext http, JobQueue queue, ServerOptions options, CancellationToken ct) =>
        {
            var (report, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.AttemptEvent, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            if (report!.Type == AttemptEventType.Ended && report.Cause is null)
            {
                return Problems.Invalid("cause", "is required for an ended event");
            }

            return Answer(queue.Report(http.CallerNode(), jobId, attempt, report), jobId, attempt);
        }).RequireNode();
    }

    /// <summary>The ids of a submission: consecutive, from <paramref name="first"/>.</summary>
    internal static long[] Ids(long first, int count)
    {
        var ids = new long[count];
        for (var i = 0; i < count; i++)
        {
            ids[i] = first + i;
        }

        return ids;
    }

    internal static IResult Answer(ReportOutcome outcome, long jobId, int attempt) => outcome switch
    {
        ReportOutcome.Accepted => TypedResults.NoContent(),
        ReportOutcome.NotFound => Problems.NotFound($"job {jobId} has no attempt {attempt}"),
        ReportOutcome.Forbidden => Problems.Forbidden($"attempt {attempt} of job {jobId} belongs to another node"),
        _ => Problems.Conflict($"attempt {attempt} of job {jobId} is no longer live or has another epoch; stop it"),
    };

}
