using System.Buffers;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Cluster;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Jobs;

/// <summary>Job endpoints: submit, list, show, cancel and logs for people; attempt events and log uploads for agents.</summary>
internal static class JobEndpoints
{
    private const int LogPage = 500;

    public static void MapJobEndpoints(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/api/v1/jobs");

        jobs.MapPost("/", async (HttpContext http, ControlPlane cluster, ServerOptions options, CancellationToken ct) =>
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

            var ids = cluster.Submit(submission!);
            return TypedResults.Created($"/api/v1/jobs/{ids[0]}", new SubmitResponse { JobIds = ids });
        }).RequireAdmin();

        jobs.MapGet("/", (HttpContext http, ControlPlane cluster) =>
        {
            if (!Query.TryEnum<JobState>(http.Request, "state", out var state, out var error)
                || !Query.TryLimit(http.Request, out var limit, out error)
                || !Query.TryLong(http.Request, "cursor", out var cursor, out error))
            {
                return error!;
            }

            return TypedResults.Json(cluster.ListJobs(state, cursor, limit), GantryJson.Default.PageJobInfo);
        }).RequireAdmin();

        jobs.MapGet("/{jobId:long}", (long jobId, ControlPlane cluster) =>
            cluster.GetJob(jobId) is { } job
                ? TypedResults.Json(job, GantryJson.Default.JobInfo)
                : Problems.NotFound($"no job with id {jobId}")).RequireAdmin();

        jobs.MapPost("/{jobId:long}/cancel", (long jobId, ControlPlane cluster) =>
        {
            if (cluster.Cancel(jobId, out var alreadyEnded) is not { } job)
            {
                return Problems.NotFound($"no job with id {jobId}");
            }

            return alreadyEnded
                ? Problems.Conflict($"job {jobId} already ended ({JsonNamingPolicy.CamelCase.ConvertName(job.State.ToString())})")
                : TypedResults.Json(job, GantryJson.Default.JobInfo);
        }).RequireAdmin();

        jobs.MapGet("/{jobId:long}/logs", (long jobId, HttpContext http, ControlPlane cluster, CancellationToken ct) => StreamLogsAsync(jobId, http, cluster, ct)).RequireAdmin();

        jobs.MapPost("/{jobId:long}/attempts/{attempt:int}/events", async (long jobId, int attempt, HttpContext http, ControlPlane cluster, ServerOptions options, CancellationToken ct) =>
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

            return Answer(cluster.Report(http.CallerNode(), jobId, attempt, report), jobId, attempt);
        }).RequireNode();

        jobs.MapPost("/{jobId:long}/attempts/{attempt:int}/logs", async (long jobId, int attempt, HttpContext http, ControlPlane cluster, ServerOptions options, CancellationToken ct) =>
        {
            var (upload, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.LogUpload, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            if (Validation.Check(upload!) is { } errors)
            {
                return Problems.Invalid(errors);
            }

            return Answer(cluster.AppendLogs(http.CallerNode(), jobId, attempt, upload!), jobId, attempt);
        }).RequireNode();
    }

    private static IResult Answer(ReportOutcome outcome, long jobId, int attempt) => outcome switch
    {
        ReportOutcome.Accepted => TypedResults.NoContent(),
        ReportOutcome.NotFound => Problems.NotFound($"job {jobId} has no attempt {attempt}"),
        ReportOutcome.Forbidden => Problems.Forbidden($"attempt {attempt} of job {jobId} belongs to another node"),
        _ => Problems.Conflict($"attempt {attempt} of job {jobId} is no longer live or has another epoch; stop it"),
    };

    /// <summary>
    /// Writes the job's output as newline-delimited <see cref="LogRecord"/>s, then an end record.
    /// With <c>follow=true</c> it waits for new output until the job has ended.
    /// </summary>
    private static async Task<IResult> StreamLogsAsync(long jobId, HttpContext http, ControlPlane cluster, CancellationToken ct)
    {
        if (!Query.TryLong(http.Request, "after", out var afterParam, out var error))
        {
            return error!;
        }

        var followText = http.Request.Query["follow"].ToString();
        if (followText is not ("" or "true" or "false" or "1" or "0"))
        {
            return Problems.Invalid("follow", $"must be true or false, got '{followText}'");
        }

        var follow = followText is "true" or "1";
        if (cluster.LogStatus(jobId) is null)
        {
            return Problems.NotFound($"no job with id {jobId}");
        }

        var response = http.Response;
        response.ContentType = "application/x-ndjson";
        response.Headers.CacheControl = "no-cache";
        var after = afterParam ?? 0;
        var writer = new Utf8JsonWriter(response.BodyWriter);
        try
        {
            while (!ct.IsCancellationRequested)
            {
                // Take the status (and its change signal) before reading: output stored before the end is then never missed.
                var status = cluster.LogStatus(jobId)!.Value;
                var page = cluster.ReadLogs(jobId, after, LogPage);
                foreach (var record in page)
                {
                    JsonSerializer.Serialize(writer, record, GantryJson.Default.LogRecord);
                    writer.Flush();
                    writer.Reset();
                    response.BodyWriter.Write("\n"u8);
                    after = record.Seq!.Value;
                }

                if (page.Count == LogPage)
                {
                    continue;
                }

                if (status.Ended || !follow)
                {
                    JsonSerializer.Serialize(writer, new LogRecord { End = true, State = status.State, ExitCode = status.ExitCode }, GantryJson.Default.LogRecord);
                    writer.Flush();
                    response.BodyWriter.Write("\n"u8);
                    await response.BodyWriter.FlushAsync(ct).ConfigureAwait(false);
                    break;
                }

                await response.BodyWriter.FlushAsync(ct).ConfigureAwait(false);
                await status.Changed.WaitAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }
        finally
        {
            await writer.DisposeAsync().ConfigureAwait(false);
        }

        return Results.Empty;
    }
}
