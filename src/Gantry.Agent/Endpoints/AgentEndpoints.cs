using System.Globalization;
using System.Text;
using Gantry.Agent.Configuration;
using Gantry.Agent.ControlPlane;
using Gantry.Agent.Health;
using Gantry.Agent.Sampling;
using Gantry.Hosting.Settings;
using Gantry.Telemetry.Exposition;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Agent.Endpoints;

/// <summary>
/// The agent's HTTP surface: <c>/metrics</c> (Prometheus text), <c>/status</c> and
/// <c>/v1/status</c> (JSON; with <c>--server</c> led by the control plane the agent follows, and by the
/// kernel-log XID reader's state where it reads one), <c>/events</c>
/// (SSE, one event per sample) and <c>/healthz</c>.
/// Every handler serves bytes rendered by the sampler; none does I/O of its own.
/// </summary>
public static class AgentEndpoints
{
    private const string JsonContentType = "application/json; charset=utf-8";
    private static readonly byte[] EventEnd = "\n\n"u8.ToArray();
    private static readonly byte[] ControlPlaneName = "\"controlPlane\":"u8.ToArray();
    private static readonly byte[] KernelLogName = "\"kernelLog\":"u8.ToArray();
    private static readonly byte[] ObjectStart = "{"u8.ToArray();
    private static readonly byte[] ObjectStartIndented = "{\n  "u8.ToArray();
    private static readonly byte[] NameSpace = " "u8.ToArray();
    private static readonly byte[] MemberSeparator = ","u8.ToArray();
    private static readonly byte[] MemberSeparatorIndented = ",\n  "u8.ToArray();
    private static readonly byte[] NoSampleYet = "{\"status\":\"starting\",\"message\":\"no sample has been taken yet\"}"u8.ToArray();

    /// <summary>Maps the agent's endpoints.</summary>
    public static IEndpointRouteBuilder MapAgentEndpoints(this IEndpointRouteBuilder routes)
    {
        ArgumentNullException.ThrowIfNull(routes);
        routes.MapGet("/", Index);
        routes.MapGet("/metrics", Metrics);
        routes.MapGet("/status", Status);
        routes.MapGet("/v1/status", Status);
        routes.MapGet("/events", Events);
        routes.MapGet("/healthz", Healthz);
        return routes;
    }

    private static Task Index(HttpContext context)
    {
        context.Response.ContentType = "text/plain; charset=utf-8";
        return context.Response.WriteAsync(
            "Gantry agent\n\n/metrics   Prometheus metrics\n/status    node snapshot as JSON (?pretty for people)\n/events    server-sent events, one per sample\n/healthz   200 while samples are fresh\n",
            context.RequestAborted);
    }

    private static Task Metrics(HttpContext context)
    {
        var rendering = context.RequestServices.GetRequiredService<SnapshotPublisher>().Latest;
        var response = context.Response;
        if (rendering is null)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            response.ContentType = "text/plain; charset=utf-8";
            return response.WriteAsync("no sample has been taken yet\n", context.RequestAborted);
        }

        response.ContentType = PrometheusRenderer.ContentType;
        var body = rendering.Metrics;
        if (AcceptsGzip(context.Request))
        {
            body = rendering.MetricsGzip;
            response.Headers.ContentEncoding = "gzip";
        }

        response.ContentLength = body.Length;
        return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
    }

    private static Task Status(HttpContext context)
    {
        var rendering = context.RequestServices.GetRequiredService<SnapshotPublisher>().Latest;
        var response = context.Response;
        response.ContentType = JsonContentType;
        if (rendering is null)
        {
            response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return response.Body.WriteAsync(NoSampleYet, context.RequestAborted).AsTask();
        }

        var pretty = context.Request.Query.ContainsKey("pretty");
        var body = pretty ? StatusJson.Render(rendering.Snapshot, indented: true) : rendering.Status;
        var follower = context.RequestServices.GetService<LeaderFollower>();
        var kernelLog = context.RequestServices.GetService<KernelLogWorker>() is { Enabled: true } worker ? worker.StatusJson : null;
        if (follower is null && kernelLog is null)
        {
            response.ContentLength = body.Length;
            return response.Body.WriteAsync(body, context.RequestAborted).AsTask();
        }

        var head = new List<(byte[] Name, byte[] Value)>(2);
        if (follower is not null)
        {
            head.Add((ControlPlaneName, follower.StatusJson));
        }

        if (kernelLog is not null)
        {
            head.Add((KernelLogName, kernelLog));
        }

        return WriteWithHeadAsync(response, body, head, pretty, context.RequestAborted);
    }

    // An agent with --server puts the control plane first, and one that reads the kernel log for XIDs
    // says how that goes, spliced into the sample's bytes:
    // {"controlPlane":{"servers":[…],"current":"…","leaderEpoch":6,"reachable":true},"kernelLog":{"path":"/dev/kmsg","state":"following"},"sequence":42,…}
    private static async Task WriteWithHeadAsync(HttpResponse response, byte[] body, List<(byte[] Name, byte[] Value)> head, bool pretty, CancellationToken cancellationToken)
    {
        // The sample's members, from the first one on (its '{' and the whitespace after it left out).
        var members = body.AsMemory(1);
        members = members[(members.Length - members.Span.TrimStart(" \r\n"u8).Length)..];
        var start = pretty ? ObjectStartIndented : ObjectStart;
        var between = pretty ? MemberSeparatorIndented : MemberSeparator;
        var separator = members.Span.StartsWith("}"u8) ? Array.Empty<byte>() : between;
        long length = start.Length + separator.Length + members.Length;
        for (var i = 0; i < head.Count; i++)
        {
            length += (i > 0 ? between.Length : 0) + head[i].Name.Length + (pretty ? NameSpace.Length : 0) + head[i].Value.Length;
        }

        response.ContentLength = length;
        await response.Body.WriteAsync(start, cancellationToken).ConfigureAwait(false);
        for (var i = 0; i < head.Count; i++)
        {
            if (i > 0)
            {
                await response.Body.WriteAsync(between, cancellationToken).ConfigureAwait(false);
            }

            await response.Body.WriteAsync(head[i].Name, cancellationToken).ConfigureAwait(false);
            if (pretty)
            {
                await response.Body.WriteAsync(NameSpace, cancellationToken).ConfigureAwait(false);
            }

            await response.Body.WriteAsync(head[i].Value, cancellationToken).ConfigureAwait(false);
        }

        await response.Body.WriteAsync(separator, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(members, cancellationToken).ConfigureAwait(false);
    }

    private static async Task Events(HttpContext context)
    {
        var publisher = context.RequestServices.GetRequiredService<SnapshotPublisher>();
        var response = context.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        var aborted = context.RequestAborted;

        // The latest sample first, so a new subscriber has something to show at once.
        var latest = publisher.Latest;
        if (latest is not null)
        {
            await WriteEventAsync(response, latest, aborted).ConfigureAwait(false);
        }
        else
        {
            await response.Body.FlushAsync(aborted).ConfigureAwait(false);
        }

        try
        {
            await foreach (var rendering in publisher.SubscribeAsync(aborted).ConfigureAwait(false))
            {
                if (latest is null || rendering.Snapshot.Sequence > latest.Snapshot.Sequence)
                {
                    await WriteEventAsync(response, rendering, aborted).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (aborted.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    // event: sample
    // id: 42
    // data: {"sequence":42,...}
    private static async Task WriteEventAsync(HttpResponse response, Rendering rendering, CancellationToken cancellationToken)
    {
        var header = Encoding.ASCII.GetBytes("event: sample\nid: " + rendering.Snapshot.Sequence.ToString(CultureInfo.InvariantCulture) + "\ndata: ");
        await response.Body.WriteAsync(header, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(rendering.Status, cancellationToken).ConfigureAwait(false);
        await response.Body.WriteAsync(EventEnd, cancellationToken).ConfigureAwait(false);
        await response.Body.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Task Healthz(HttpContext context)
    {
        var services = context.RequestServices;
        var problem = HealthProblem(
            services.GetRequiredService<SnapshotPublisher>().Latest,
            services.GetRequiredService<TimeProvider>().GetUtcNow(),
            services.GetRequiredService<AgentOptions>());
        context.Response.ContentType = "text/plain; charset=utf-8";
        if (problem is not null)
        {
            context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
            return context.Response.WriteAsync(problem + "\n", context.RequestAborted);
        }

        return context.Response.WriteAsync("ok\n", context.RequestAborted);
    }

    /// <summary>Why the agent is unhealthy, or null while samples are fresh.</summary>
    internal static string? HealthProblem(Rendering? latest, DateTimeOffset now, AgentOptions options)
    {
        if (latest is null)
        {
            return "no sample has been taken yet";
        }

        var age = now - latest.Snapshot.Timestamp;
        return age > options.StaleAfter
            ? $"the latest sample is {age.TotalSeconds:0}s old (interval {SettingParsers.FormatDuration(options.Interval)}, stale after {options.StaleAfter.TotalSeconds:0}s): sampling has stalled"
            : null;
    }

    private static bool AcceptsGzip(HttpRequest request)
    {
        foreach (var value in request.Headers.AcceptEncoding)
        {
            if (value is null)
            {
                continue;
            }

            // "gzip", "gzip;q=0.5", but not "gzip;q=0" (which refuses it).
            foreach (var part in value.Split(','))
            {
                var coding = part.Trim();
                if (coding.StartsWith("gzip", StringComparison.OrdinalIgnoreCase) &&
                    !coding.Replace(" ", "", StringComparison.Ordinal).EndsWith("q=0", StringComparison.OrdinalIgnoreCase))
                {
                    return true;
                }
            }
        }

        return false;
    }
}
