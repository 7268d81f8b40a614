using System.Buffers;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Audit;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Logs;

/// <summary>Job output endpoints: agents upload chunks of an attempt; people read a job's output, following it while it runs.</summary>
internal static class LogEndpoints
{
    private const int LogPage = 500;

    public static void MapLogEndpoints(this IEndpointRouteBuilder app)
    {
        var jobs = app.MapGroup("/api/v1/jobs");

        jobs.MapGet("/{jobId:long}/logs", (long jobId, HttpContext http, JobQueue queue, JobLogs logs, CancellationToken ct) => StreamLogsAsync(jobId, http, queue, logs, ct)).RequireRole(Role.Viewer);

        jobs.MapPost("/{jobId:long}/attempts/{attempt:int}/logs", async (long jobId, int attempt, HttpContext http, JobLogs logs, ServerOptions options, CancellationToken ct) =>
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

            return JobEndpoints.Answer(logs.Append(http.CallerNode(), jobId, attempt, upload!), jobId, attempt);
        }).RequireNode().NotAudited("an agent uploads a job's output");
    }

    /// <summary>
    /// Writes the job's output as newline-delimited <see cref="LogRecord"/>s, then an end record.
    /// With <c>follow=true</c> it waits for new output until the job has ended.
    /// </summary>
    private static async Task<IResult> StreamLogsAsync(long jobId, HttpContext http, JobQueue queue, JobLogs logs, CancellationToken ct)
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
        if (queue.LogStatus(jobId) is null)
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
                var status = queue.LogStatus(jobId)!.Value;
                var page = logs.Read(jobId, after, LogPage);
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
