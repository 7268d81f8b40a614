using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Core.Text;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Telemetry;

/// <summary><c>GET /api/v1/telemetry/query</c>: one series' history, for people and tools (admin token).</summary>
internal static class TelemetryEndpoints
{
    /// <summary>Most points one answer may hold.</summary>
    public const int MaxPoints = 11_000;

    /// <summary>The default step gives at most about this many points.</summary>
    public const int TargetPoints = 300;

    private static readonly TimeSpan Minute = TimeSpan.FromMinutes(1);

    // Default steps, smallest first: the first one that gives at most TargetPoints is taken.
    private static readonly TimeSpan[] NiceSteps =
    [
        TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30),
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10), TimeSpan.FromMinutes(15),
        TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(2), TimeSpan.FromHours(3), TimeSpan.FromHours(6),
        TimeSpan.FromHours(12), TimeSpan.FromDays(1),
    ];

    public static void MapTelemetryEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/telemetry/query", (HttpContext http, NodeRegistry nodes, TelemetryStore store, ServerOptions options, TimeProvider time) =>
        {
            var query = http.Request.Query;
            if (query["node"].ToString() is not { Length: > 0 } node)
            {
                return Problems.Invalid("node", "is required (a node id, as in GET /api/v1/nodes)");
            }

            int? gpu = null;
            if (query["gpu"].ToString() is { Length: > 0 } gpuText)
            {
                if (!int.TryParse(gpuText, NumberStyles.None, CultureInfo.InvariantCulture, out var index))
                {
                    return Problems.Invalid("gpu", $"must be a GPU index (a non-negative whole number), got '{gpuText}'");
                }

                gpu = index;
            }

            var metric = query["metric"].ToString();
            if (!TelemetryMetrics.IsKnown(metric, gpu is not null))
            {
                var valid = string.Join(", ", gpu is null ? TelemetryMetrics.Node : TelemetryMetrics.Gpu);
                var kind = gpu is null ? "a node metric (with gpu=N: a GPU metric)" : "a GPU metric";
                return Problems.Invalid("metric", $"must be {kind}: one of {valid}; got '{metric}'");
            }

            if (nodes.GetNode(node) is not { } info)
            {
                return Problems.NotFound($"node {node} is not known to this server");
            }

            if (gpu is { } g && !info.Gpus.Any(x => x.Index == g))
            {
                return Problems.Invalid("gpu", $"node {node} has no GPU {g}");
            }

            var now = time.GetUtcNow();
            if (!TryTime(query["end"].ToString(), now, now, out var end))
            {
                return Problems.Invalid("end", $"must be an RFC 3339 time or a duration before now such as -1h, got '{query["end"]}'");
            }

            if (!TryTime(query["start"].ToString(), now, end - TimeSpan.FromHours(1), out var start))
            {
                return Problems.Invalid("start", $"must be an RFC 3339 time or a duration before now such as -1h, got '{query["start"]}'");
            }

            if (start >= end)
            {
                return Problems.Invalid("start", $"must be before end ({end:O}), got {start:O}");
            }

            if (start < now - options.RetentionRollup)
            {
                return Problems.Invalid("start", $"is beyond the telemetry retention ({Durations.Format(options.RetentionRollup)}, --retention-rollup); the oldest start is {now - options.RetentionRollup:O}");
            }

            TimeSpan step;
            if (query["step"].ToString() is { Length: > 0 } stepText)
            {
                if (!Durations.TryParse(stepText, out step) || step < TimeSpan.FromSeconds(1))
                {
                    return Problems.Invalid("step", $"must be a duration of at least 1s such as 15s or 5m, got '{stepText}'");
                }

                if ((end - start) / step > MaxPoints)
                {
                    return Problems.Invalid("step", $"gives more than {MaxPoints} points over {Durations.FormatApproximate(end - start)}; use a step of at least {Durations.Format(Ceiling(end - start, MaxPoints))}");
                }
            }
            else
            {
                step = DefaultStep(end - start);
            }

            var (source, effectiveStep) = Plan(start, step, now, options.RetentionRaw);
            var points = store.FindSeries(node, gpu, metric) is { } series
                ? store.Query(series, source, start, end, effectiveStep)
                : [];
            return TypedResults.Json(
                new TelemetryQueryResponse
                {
                    Node = node,
                    Gpu = gpu,
                    Metric = metric,
                    Source = source == TelemetrySource.Raw ? "raw" : "rollup",
                    StepSeconds = effectiveStep.TotalSeconds,
                    Points = points,
                },
                GantryJson.Default.TelemetryQueryResponse);
        }).RequireRole(Role.Viewer);

    /// <summary>
    /// Raw samples when the whole range is inside the raw retention and the step is under a
    /// minute; minute rollups otherwise, with the step rounded up to whole minutes.
    /// </summary>
    public static (TelemetrySource Source, TimeSpan Step) Plan(DateTimeOffset start, TimeSpan step, DateTimeOffset now, TimeSpan rawRetention)
    {
        if (start >= now - rawRetention && step < Minute)
        {
            return (TelemetrySource.Raw, step);
        }

        var minutes = (long)Math.Ceiling(step / Minute);
        return (TelemetrySource.Rollup, TimeSpan.FromMinutes(Math.Max(1, minutes)));
    }

    /// <summary>The smallest of the usual steps that gives at most <see cref="TargetPoints"/> points over <paramref name="range"/>.</summary>
    public static TimeSpan DefaultStep(TimeSpan range)
    {
        foreach (var candidate in NiceSteps)
        {
            if (range / candidate <= TargetPoints)
            {
                return candidate;
            }
        }

        return TimeSpan.FromDays(Math.Ceiling(range / TimeSpan.FromDays(TargetPoints)));
    }

    private static TimeSpan Ceiling(TimeSpan range, int points) =>
        TimeSpan.FromSeconds(Math.Ceiling(range.TotalSeconds / points));

    /// <summary>An RFC 3339 time, <c>now</c>, or a duration before now written <c>-1h</c>; <paramref name="fallback"/> when empty.</summary>
    private static bool TryTime(string text, DateTimeOffset now, DateTimeOffset fallback, out DateTimeOffset value)
    {
        value = fallback;
        if (text.Length == 0)
        {
            return true;
        }

        if (text == "now")
        {
            value = now;
            return true;
        }

        if (text[0] == '-')
        {
            if (Durations.TryParse(text[1..], out var ago) && ago <= now - DateTimeOffset.UnixEpoch)
            {
                value = now - ago;
                return true;
            }

            return false;
        }

        return DateTimeOffset.TryParse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out value);
    }
}
