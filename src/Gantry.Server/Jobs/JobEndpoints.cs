using System.Globalization;
using System.Text.Json;
using Gantry.Server.Audit;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Services;
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

            var person = http.CallerPerson();
            long first;
            int count;
            try
            {
                // The owner is the fair-share account too (docs/fair-share.md); past its --max-pending: 409.
                (first, count) = queue.Submit(submission!, new JobOwner(person.Name, person.UnixUser, person.AllowRoot));
            }
            catch (AccountLimitException ex)
            {
                return Problems.Conflict(ex.Message);
            }
            catch (ServiceNameTakenException ex)
            {
                // Services: a live service has this name.
                return Problems.Conflict(ex.Message);
            }

            http.AuditTarget(JobTarget(first, count));
            return TypedResults.Created($"/api/v1/jobs/{first}", new SubmitResponse { JobIds = Ids(first, count) });
        }).RequireRole(Role.User).Audited("job.submit");

        jobs.MapGet("/", (HttpContext http, JobQueue queue, IServiceMetrics metrics) =>
        {
            if (!Query.TryEnum<JobState>(http.Request, "state", out var state, out var error)
                || !Query.TryEnum<JobKind>(http.Request, "kind", out var kind, out error) // services: ?kind=service
                || !Query.TryLimit(http.Request, out var limit, out error)
                || !Query.TryLong(http.Request, "cursor", out var cursor, out error))
            {
                return error!;
            }

            // ?owner=NAME lists one person's jobs; ?owner=me the caller's own.
            var owner = http.Request.Query["owner"].ToString();
            if (owner.Length > 0 && owner != "me" && !TokenValidation.IsName(owner))
            {
                return Problems.Invalid("owner", $"must be a person's name or 'me'; got '{owner}'");
            }

            var ownerFilter = owner.Length == 0 ? null : owner == "me" ? http.CallerPerson().Name : owner;
            return TypedResults.Json(ServiceViews.WithMetrics(queue.ListJobs(state, cursor, limit, ownerFilter, kind), metrics), GantryJson.Default.PageJobInfo);
        }).RequireRole(Role.Viewer);

        jobs.MapGet("/{jobId:long}", (long jobId, JobQueue queue, IServiceMetrics metrics) =>
            queue.GetJob(jobId) is { } job
                ? TypedResults.Json(ServiceViews.WithMetrics(job, metrics), GantryJson.Default.JobInfo)
                : Problems.NotFound($"no job with id {jobId}")).RequireRole(Role.Viewer);

        jobs.MapPost("/{jobId:long}/cancel", (long jobId, HttpContext http, JobQueue queue) =>
        {
            if (MayCancel(http.CallerPerson(), jobId, queue) is { } refused)
            {
                return refused;
            }

            if (queue.Cancel(jobId, out var alreadyEnded) is not { } job)
            {
                return Problems.NotFound($"no job with id {jobId}");
            }

            return alreadyEnded
                ? Problems.Conflict($"job {jobId} already ended ({JsonNamingPolicy.CamelCase.ConvertName(job.State.ToString())})")
                : TypedResults.Json(job, GantryJson.Default.JobInfo);
        }).RequireRole(Role.User).Audited("job.cancel", target: "jobId");

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
        }).RequireNode().NotAudited("an agent reports an attempt's progress");
    }

    /// <summary>
    /// Null when <paramref name="person"/> may cancel the job: an operator or admin any job, a user its own;
    /// otherwise the 403 (or the 404 of a job that does not exist).
    /// </summary>
    internal static IResult? MayCancel(Person person, long jobId, JobQueue queue)
    {
        if (person.Role >= Role.Operator)
        {
            return null;
        }

        if (queue.GetJob(jobId) is not { } job)
        {
            return Problems.NotFound($"no job with id {jobId}");
        }

        return job.Owner == person.Name
            ? null
            : Problems.Forbidden($"job {jobId} belongs to {job.Owner ?? "nobody"}: cancelling another person's job needs the operator role; the token of {person.Name} has the {person.Role.Name()} role");
    }
    /// <summary>A submission's audit target: its job id, or an array's first and last ids (<c>12-15</c>).</summary>
    internal static string JobTarget(long first, int count) =>
        count == 1 ? first.ToString(CultureInfo.InvariantCulture) : string.Create(CultureInfo.InvariantCulture, $"{first}-{first + count - 1}");

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
