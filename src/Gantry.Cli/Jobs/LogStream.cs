using System.Text;
using System.Text.Json;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Jobs;

/// <summary>
/// Reads <c>GET /api/v1/jobs/{id}/logs</c> (NDJSON <see cref="LogRecord"/> lines) and writes each chunk
/// the moment its line arrives: stdout chunks to stdout, stderr chunks to stderr. A followed stream
/// that drops before its end record is resumed after the last chunk seen.
/// </summary>
internal static class LogStream
{
    /// <summary>Consecutive drops of a followed stream before giving up.</summary>
    internal const int MaxReconnects = 5;

    /// <summary>
    /// <c>--wait</c> on one job: follows its output and returns its exit code (0 for success; the
    /// process's code when it failed with one; 1 when it failed without one, was cancelled or lost).
    /// </summary>
    public static async Task<int> WaitAsync(ClientInvocation invocation, long jobId, CancellationToken cancellationToken)
    {
        var end = await CopyAsync(invocation, jobId, follow: true, cancellationToken).ConfigureAwait(false);
        var code = ExitCodeOf(end);
        if (end?.State is { } state && state != JobState.Succeeded)
        {
            var how = end.ExitCode is { } exit ? $" with exit code {exit}" : "";
            await invocation.Context.Error.WriteAsync($"gantry: job {jobId} {state.Name()}{how}\n").ConfigureAwait(false);
        }

        return code;
    }

    /// <summary>The exit code <c>--wait</c> reports for a job's end record.</summary>
    internal static int ExitCodeOf(LogRecord? end) => end switch
    {
        { State: JobState.Succeeded } => ExitCodes.Success,
        // A code outside 1–255 (a Windows status, a negative number) would wrap to something else,
        // possibly 0, in a Unix shell: report it as plain failure.
        { ExitCode: { } code } when code is > 0 and < 256 => code,
        _ => ExitCodes.Failure,
    };

    /// <summary>
    /// Writes the job's output; returns the end record, or null when the stream ended without one. A
    /// server that cannot be reached at all fails at once; a followed stream that was open and drops is resumed.
    /// </summary>
    public static async Task<LogRecord?> CopyAsync(ClientInvocation invocation, long jobId, bool follow, CancellationToken cancellationToken)
    {
        var context = invocation.Context;
        var json = invocation.Format == OutputFormat.Json;
        var typeInfo = ResponseJson.For<LogRecord>();
        long? after = null;
        var drops = 0;
        var connected = false;
        var delay = TimeSpan.FromMilliseconds(500);
        while (true)
        {
            var uri = new StringBuilder("api/v1/jobs/").Append(Formats.Number(jobId)).Append("/logs");
            uri.Append(follow ? "?follow=true" : "?follow=false");
            if (after is { } seq)
            {
                uri.Append("&after=").Append(Formats.Number(seq));
            }

            Exception? dropped = null;
            try
            {
                using var response = await invocation.Api.OpenStreamAsync(uri.ToString(), cancellationToken).ConfigureAwait(false);
                connected = true;
                await foreach (var line in NdjsonReader.ReadLinesAsync(response.Body, cancellationToken).ConfigureAwait(false))
                {
                    var record = Read(line, typeInfo);
                    if (json)
                    {
                        await WriteLineAsync(context.Output, line, cancellationToken).ConfigureAwait(false);
                    }

                    if (record.End == true)
                    {
                        return record;
                    }

                    if (!json && record.Data is { Length: > 0 } data)
                    {
                        var writer = record.Stream == LogSource.Stderr ? context.Error : context.Output;
                        await writer.WriteAsync(data.AsMemory(), cancellationToken).ConfigureAwait(false);
                        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
                    }

                    if (record.Seq is { } s)
                    {
                        after = s;
                        drops = 0;
                    }
                }

                if (!follow)
                {
                    return null;
                }
            }
            catch (Exception ex) when (follow && connected && ex is IOException or HttpRequestException or ServerUnreachableException && !cancellationToken.IsCancellationRequested)
            {
                dropped = ex;
            }

            // A followed stream must end with its end record; without it the server restarted or a proxy
            // cut the connection. Resume after the last chunk, backing off, and give up after a few tries.
            if (++drops > MaxReconnects)
            {
                throw dropped as ServerUnreachableException
                    ?? invocation.Api.Unreachable(dropped ?? new IOException($"the log stream of job {jobId} kept ending before the job did"));
            }

            var reason = dropped is null ? "the stream ended early" : dropped.Message;
            await context.Error.WriteAsync($"gantry: log stream of job {jobId} interrupted ({reason}); resuming in {delay.TotalSeconds:0.#}s\n").ConfigureAwait(false);
            await Task.Delay(delay, context.TimeProvider, cancellationToken).ConfigureAwait(false);
            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, TimeSpan.FromSeconds(8).Ticks));
        }
    }

    private static LogRecord Read(ReadOnlyMemory<byte> line, System.Text.Json.Serialization.Metadata.JsonTypeInfo<LogRecord> typeInfo)
    {
        try
        {
            return JsonSerializer.Deserialize(line.Span, typeInfo) ?? throw new JsonException("null record");
        }
        catch (JsonException ex)
        {
            throw new ApiProblemException(System.Net.HttpStatusCode.OK, new Problem
            {
                Title = "Unexpected answer",
                Detail = $"a log line is not a log record ({ex.Message})",
            });
        }
    }

    private static async Task WriteLineAsync(TextWriter writer, ReadOnlyMemory<byte> line, CancellationToken cancellationToken)
    {
        await writer.WriteAsync(Encoding.UTF8.GetString(line.Span).AsMemory(), cancellationToken).ConfigureAwait(false);
        await writer.WriteAsync("\n".AsMemory(), cancellationToken).ConfigureAwait(false);
        await writer.FlushAsync(cancellationToken).ConfigureAwait(false);
    }
}
