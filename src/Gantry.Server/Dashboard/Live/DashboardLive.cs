using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Dashboard.Components;
using Gantry.Server.Dashboard.Views;
using Gantry.Server.Live;
using Gantry.Server.Logs;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Web;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Dashboard.Live;

/// <summary>
/// <c>GET /ui/events?view=…</c>: the Server-Sent Events a dashboard page follows. The live parts of a
/// page are Razor components; every second (sooner when a job or node changes) the stream renders them
/// again and sends only what changed since the last event on this connection:
/// <code>
/// event: update
/// data: {"regions":{"stats":"&lt;div …"},"lists":{"nodes":{"order":["n1","n2"],"items":{"n2":"&lt;tr …"}}}}
///
/// event: log
/// data: {"seq":42,"text":"epoch 3 done\n"}
/// </code>
/// A region replaces the content of <c>[data-region=NAME]</c>; a list updates the keyed rows of
/// <c>[data-list=NAME]</c> (<c>order</c> comes when the set or order of keys changed). The page's script
/// merges both into the DOM without touching what did not change, so focus and scrolling stay put.
/// </summary>
internal static class DashboardLive
{
    /// <summary>Live and queued jobs the overview lists.</summary>
    public const int ActiveJobsShown = 50;

    private static readonly TimeSpan Period = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan MinGap = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan KeepAlive = TimeSpan.FromSeconds(15);

    // HTML goes out inside JSON strings read by our script, never inside a page: no need to escape '<'.
    private static readonly JsonWriterOptions WriterOptions = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static void MapDashboardLive(this IEndpointRouteBuilder app) =>
        app.MapGet("/ui/events", (HttpContext http, ClusterSignals signals, JobLogs logs, DashboardData data, AlertsData alerts, IAntiforgery antiforgery, TimeProvider time, ILoggerFactory loggers, CancellationToken ct) =>
            StreamAsync(http, signals, logs, data, alerts, antiforgery, time, loggers, ct))
        .WithMetadata(new Gantry.Server.Auth.RoleRequirement(Role.Viewer)); // a session of any role; checked in StreamAsync (401, not a redirect)

    private static async Task StreamAsync(HttpContext http, ClusterSignals signals, JobLogs logs, DashboardData data, AlertsData alerts, IAntiforgery antiforgery, TimeProvider time, ILoggerFactory loggers, CancellationToken ct)
    {
        if (http.User.Identity?.IsAuthenticated != true)
        {
            await Problems.Unauthorized("log in to the dashboard first").ExecuteAsync(http).ConfigureAwait(false);
            return;
        }

        if (LiveView.Parse(http.Request, out var problem) is not { } view)
        {
            await problem!.ExecuteAsync(http).ConfigureAwait(false);
            return;
        }

        // Forms inside live regions (drain, cancel) need this user's token, made before the response starts.
        var csrf = DashboardEndpoints.CsrfFor(http, antiforgery);
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        response.Headers["X-Accel-Buffering"] = "no";
        await response.BodyWriter.FlushAsync(ct).ConfigureAwait(false);

        var sent = new SentState();
        var lastWrite = time.GetUtcNow();
        var nextCharts = DateTimeOffset.MinValue;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                var changed = signals.Changed.Next;
                var now = time.GetUtcNow();
                var update = new Update(sent);
                await using (var fragments = new Fragments(http.RequestServices, loggers))
                {
                    var withCharts = view.Kind is LiveView.Node or LiveView.Service && now >= nextCharts;
                    if (withCharts)
                    {
                        nextCharts = now + view.ChartRefresh;
                    }

                    await CollectAsync(http, view, data, alerts, fragments, update, csrf, withCharts).ConfigureAwait(false);
                }

                var wrote = update.WriteTo(response.BodyWriter);
                if (view.Kind == LiveView.Job)
                {
                    wrote |= WriteLogs(response.BodyWriter, logs, view);
                }

                if (!wrote && now - lastWrite >= KeepAlive)
                {
                    response.BodyWriter.Write(": keep-alive\n\n"u8);
                    wrote = true;
                }

                if (wrote)
                {
                    lastWrite = now;
                    await response.BodyWriter.FlushAsync(ct).ConfigureAwait(false);
                }

                if (await Task.WhenAny(changed, Task.Delay(Period, time, ct)).ConfigureAwait(false) == changed)
                {
                    // A burst of changes (a scheduling pass) makes one update, not many.
                    await Task.Delay(MinGap, time, ct).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The page went away.
        }
    }

    private static async Task CollectAsync(HttpContext http, LiveView view, DashboardData data, AlertsData alerts, Fragments fragments, Update update, Csrf csrf, bool withCharts)
    {
        // Every page's navigation counts the alerts firing.
        update.Region("nav-alerts", await fragments.RenderAsync<NavAlertCount>(new() { ["Firing"] = alerts.FiringCount() }).ConfigureAwait(false));
        switch (view.Kind)
        {
            case LiveView.Overview:
                update.Region("stats", await fragments.RenderAsync<StatTiles>(new() { ["Stats"] = data.Overview() }).ConfigureAwait(false));
                update.Region("carbon-warnings", await fragments.RenderAsync<CarbonWarnings>([]).ConfigureAwait(false)); // carbon source failing, forecast expired
                await JobListAsync(update, fragments, "active-jobs", data.ActiveJobs(ActiveJobsShown)).ConfigureAwait(false);
                break;

            case LiveView.Nodes:
                var nodes = data.Nodes();
                update.Region("node-count", nodes.Count.ToString(CultureInfo.InvariantCulture));
                var nodeKeys = new List<string>(nodes.Count);
                var nodeVersions = new List<string?>(nodes.Count);
                foreach (var node in nodes)
                {
                    nodeKeys.Add(node.Id);
                    nodeVersions.Add(Version(node));
                }

                await update.ListAsync("nodes", nodeKeys, nodeVersions, changed =>
                {
                    var rows = new List<Dictionary<string, object?>>(changed.Count);
                    foreach (var i in changed)
                    {
                        rows.Add(new() { ["Node"] = nodes[i] });
                    }

                    return fragments.RenderAllAsync<NodeRow>(rows);
                }).ConfigureAwait(false);
                break;

            case LiveView.Node when data.Node(view.Id!) is { } node:
                update.Region("node-status", await fragments.RenderAsync<NodeStatus>(new() { ["Node"] = node, ["Csrf"] = DashboardEndpoints.CsrfIf(http, csrf, Role.Operator) }).ConfigureAwait(false));
                if (withCharts)
                {
                    update.Region("charts", await fragments.RenderAsync<ChartPanel>(new() { ["Charts"] = data.Charts(node, view.Range) }).ConfigureAwait(false));
                }

                break;

            case LiveView.Jobs:
                await JobListAsync(update, fragments, "jobs", data.Jobs(view.State, before: null).Rows).ConfigureAwait(false);
                break;

            case LiveView.Alerts:
                var model = alerts.Read();
                update.Region("alert-count", await fragments.RenderAsync<AlertCount>(new() { ["Model"] = model }).ConfigureAwait(false));
                update.Region("alerts", await fragments.RenderAsync<AlertTable>(new() { ["Model"] = model }).ConfigureAwait(false));
                update.Region("silences", await fragments.RenderAsync<SilenceTable>(new() { ["Silences"] = model.Silences, ["Csrf"] = DashboardEndpoints.CsrfIf(http, csrf, Role.Operator) }).ConfigureAwait(false));
                update.Region("rules", await fragments.RenderAsync<RuleTable>(new() { ["Rules"] = model.Rules }).ConfigureAwait(false));
                break;

            case LiveView.Job when data.Job(view.JobId) is { } job:
                update.Region("job-status", await fragments.RenderAsync<JobStatus>(new()
                {
                    ["Job"] = job,
                    ["NodeName"] = data.NodeName(job.NodeId),
                    ["Csrf"] = DashboardEndpoints.CancelCsrf(http, csrf, job),
                    ["Now"] = data.Now,
                }).ConfigureAwait(false));
                update.Region("logs-note", Show.IsLive(job.State) ? ", following" : "");
                break;

            // ---- services (docs/service-health.md) ----
            case LiveView.Services:
                var services = http.RequestServices.GetRequiredService<ServicesData>().Rows();
                var serviceKeys = new List<string>(services.Count);
                var serviceVersions = new List<string?>(services.Count);
                foreach (var service in services)
                {
                    serviceKeys.Add(service.Id);
                    serviceVersions.Add(service.Version);
                }

                await update.ListAsync("services", serviceKeys, serviceVersions, changed =>
                {
                    var rows = new List<Dictionary<string, object?>>(changed.Count);
                    foreach (var i in changed)
                    {
                        rows.Add(new() { ["Row"] = services[i] });
                    }

                    return fragments.RenderAllAsync<ServiceRow>(rows);
                }).ConfigureAwait(false);
                break;

            case LiveView.Service when http.RequestServices.GetRequiredService<ServicesData>() is var servicesData && servicesData.Row(view.JobId) is { } service:
                update.Region("service-status", await fragments.RenderAsync<ServiceStatusPanel>(new() { ["Row"] = service }).ConfigureAwait(false));
                if (withCharts)
                {
                    var history = http.RequestServices.GetRequiredService<Gantry.Server.Services.ServiceMetricsRegistry>().History(view.JobId);
                    update.Region("service-charts", await fragments.RenderAsync<ServiceCharts>(new() { ["Charts"] = servicesData.Charts(view.JobId, history) }).ConfigureAwait(false));
                }

                break;
        }
    }

    private static Task JobListAsync(Update update, Fragments fragments, string name, List<JobRowModel> rows)
    {
        var keys = new List<string>(rows.Count);
        var versions = new List<string?>(rows.Count);
        foreach (var row in rows)
        {
            keys.Add(row.Job.Id.ToString(CultureInfo.InvariantCulture));
            // A finished job's row no longer changes; a live one shows times that grow every second.
            versions.Add(Show.IsLive(row.Job.State) ? null : $"{row.Job.State}|{row.NodeName}");
        }

        return update.ListAsync(name, keys, versions, changed =>
        {
            var parameters = new List<Dictionary<string, object?>>(changed.Count);
            foreach (var i in changed)
            {
                parameters.Add(new() { ["Row"] = rows[i] });
            }

            return fragments.RenderAllAsync<JobRow>(parameters);
        });
    }

    /// <summary>What a node's row shows changes only with these: a heartbeat, its state, drain, jobs or name.</summary>
    private static string Version(Core.Protocol.NodeInfo node) =>
        $"{node.LastHeartbeatAt.UtcTicks}|{node.State}|{node.Drain}|{node.Name}|{string.Join(',', node.Jobs)}|{node.UsedCpus}";

    /// <summary>The job's output after what this page has: one <c>log</c> event per page of chunks.</summary>
    private static bool WriteLogs(IBufferWriter<byte> output, JobLogs logs, LiveView view)
    {
        var chunks = logs.Read(view.JobId, view.LogsAfter, DashboardData.LogReadPage);
        if (chunks.Count == 0)
        {
            return false;
        }

        var text = new System.Text.StringBuilder();
        foreach (var chunk in chunks)
        {
            text.Append(chunk.Data);
            view.LogsAfter = chunk.Seq ?? view.LogsAfter;
        }

        output.Write("event: log\ndata: "u8);
        using (var json = new Utf8JsonWriter(output, WriterOptions))
        {
            json.WriteStartObject();
            json.WriteNumber("seq", view.LogsAfter);
            json.WriteString("text", text.ToString());
            json.WriteEndObject();
        }

        output.Write("\n\n"u8);
        return true;
    }

    /// <summary>What this connection has already been sent, so that only changes go out.</summary>
    private sealed class SentState
    {
        public Dictionary<string, string> Regions { get; } = new(StringComparer.Ordinal);

        public Dictionary<string, SentList> Lists { get; } = new(StringComparer.Ordinal);
    }

    /// <summary>A list as last sent: its keys in order, each row's HTML and the version it was rendered from.</summary>
    private sealed record SentList(List<string> Order, Dictionary<string, (string Html, string? Version)> Items);

    /// <summary>One event's worth of changes.</summary>
    private sealed class Update(SentState sent)
    {
        private readonly Dictionary<string, string> _regions = new(StringComparer.Ordinal);
        private readonly Dictionary<string, (List<string>? Order, List<(string Key, string Html)> Items)> _lists = new(StringComparer.Ordinal);

        public void Region(string name, string html)
        {
            if (!sent.Regions.TryGetValue(name, out var before) || before != html)
            {
                sent.Regions[name] = html;
                _regions[name] = html;
            }
        }

        /// <summary>
        /// Updates a keyed list: rows whose version is null or differs from the one last sent are
        /// rendered again by <paramref name="render"/> (given their indexes) and sent when their HTML changed.
        /// </summary>
        public async Task ListAsync(string name, List<string> keys, List<string?> versions, Func<List<int>, Task<List<string>>> render)
        {
            var before = sent.Lists.GetValueOrDefault(name) ?? new SentList([], new(StringComparer.Ordinal));
            var stale = new List<int>();
            for (var i = 0; i < keys.Count; i++)
            {
                if (versions[i] is null || !before.Items.TryGetValue(keys[i], out var item) || item.Version != versions[i])
                {
                    stale.Add(i);
                }
            }

            var rendered = stale.Count == 0 ? [] : await render(stale).ConfigureAwait(false);
            var items = new Dictionary<string, (string Html, string? Version)>(keys.Count, StringComparer.Ordinal);
            foreach (var key in keys)
            {
                if (before.Items.TryGetValue(key, out var kept))
                {
                    items[key] = kept;
                }
            }

            var changed = new List<(string, string)>();
            for (var j = 0; j < stale.Count; j++)
            {
                var key = keys[stale[j]];
                if (!before.Items.TryGetValue(key, out var old) || old.Html != rendered[j])
                {
                    changed.Add((key, rendered[j]));
                }

                items[key] = (rendered[j], versions[stale[j]]);
            }

            var orderChanged = !before.Order.SequenceEqual(keys, StringComparer.Ordinal);
            sent.Lists[name] = new SentList(keys, items);
            if (orderChanged || changed.Count > 0)
            {
                _lists[name] = (orderChanged ? keys : null, changed);
            }
        }

        /// <summary>Writes an <c>update</c> event when anything changed; false when nothing did.</summary>
        public bool WriteTo(IBufferWriter<byte> output)
        {
            if (_regions.Count == 0 && _lists.Count == 0)
            {
                return false;
            }

            output.Write("event: update\ndata: "u8);
            using (var json = new Utf8JsonWriter(output, WriterOptions))
            {
                json.WriteStartObject();
                json.WriteStartObject("regions");
                foreach (var (name, html) in _regions)
                {
                    json.WriteString(name, html);
                }

                json.WriteEndObject();
                json.WriteStartObject("lists");
                foreach (var (name, (order, items)) in _lists)
                {
                    json.WriteStartObject(name);
                    if (order is not null)
                    {
                        json.WriteStartArray("order");
                        foreach (var key in order)
                        {
                            json.WriteStringValue(key);
                        }

                        json.WriteEndArray();
                    }

                    json.WriteStartObject("items");
                    foreach (var (key, html) in items)
                    {
                        json.WriteString(key, html);
                    }

                    json.WriteEndObject();
                    json.WriteEndObject();
                }

                json.WriteEndObject();
                json.WriteEndObject();
            }

            output.Write("\n\n"u8);
            return true;
        }
    }

    /// <summary>Renders components to HTML outside a page (one renderer per update, so nothing accumulates).</summary>
    private sealed class Fragments(IServiceProvider services, ILoggerFactory loggers) : IAsyncDisposable
    {
        private readonly HtmlRenderer _renderer = new(services, loggers);

        public Task<string> RenderAsync<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(Dictionary<string, object?> parameters)
            where T : IComponent =>
            _renderer.Dispatcher.InvokeAsync(async () =>
                (await _renderer.RenderComponentAsync<T>(ParameterView.FromDictionary(parameters)).ConfigureAwait(false)).ToHtmlString());

        public Task<List<string>> RenderAllAsync<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.All)] T>(List<Dictionary<string, object?>> parameters)
            where T : IComponent =>
            _renderer.Dispatcher.InvokeAsync(async () =>
            {
                var html = new List<string>(parameters.Count);
                foreach (var p in parameters)
                {
                    html.Add((await _renderer.RenderComponentAsync<T>(ParameterView.FromDictionary(p)).ConfigureAwait(false)).ToHtmlString());
                }

                return html;
            });

        public ValueTask DisposeAsync() => _renderer.DisposeAsync();
    }
}

/// <summary>Which page a live stream is for, read from the query string.</summary>
internal sealed class LiveView
{
    public const string Overview = "overview";
    public const string Nodes = "nodes";
    public const string Node = "node";
    public const string Jobs = "jobs";
    public const string Job = "job";
    public const string Alerts = "alerts";
    public const string Services = "services"; // services (docs/service-health.md)
    public const string Service = "service";

    public required string Kind { get; init; }

    /// <summary>The node id (view=node).</summary>
    public string? Id { get; init; }

    /// <summary>The job id (view=job).</summary>
    public long JobId { get; init; }

    /// <summary>The job state filter (view=jobs).</summary>
    public JobState? State { get; init; }

    /// <summary>The chart range (view=node).</summary>
    public ChartRange Range { get; init; } = ChartRange.Default;

    /// <summary>How often the node page's charts are drawn again: about once per 1/100 of the range, at least every 10 s.</summary>
    public TimeSpan ChartRefresh => TimeSpan.FromSeconds(Math.Max(10, Range.Span.TotalSeconds / 100));

    /// <summary>The last log chunk the page has (view=job); advances as chunks are sent.</summary>
    public long LogsAfter { get; set; }

    /// <summary>The view the query asks for; null with a problem response naming what is wrong.</summary>
    public static LiveView? Parse(HttpRequest request, out IResult? error)
    {
        var query = request.Query;
        var kind = query["view"].ToString();
        switch (kind)
        {
            case Overview or Nodes or Alerts or Services:
                error = null;
                return new LiveView { Kind = kind };

            case Node:
                var id = query["id"].ToString();
                if (id.Length == 0)
                {
                    error = Problems.Invalid("id", "is required with view=node");
                    return null;
                }

                if (!ChartRange.TryParse(query["range"], out var range, out var rangeError))
                {
                    error = Problems.Invalid("range", rangeError!);
                    return null;
                }

                error = null;
                return new LiveView { Kind = kind, Id = id, Range = range };

            case Jobs:
                return Query.TryEnum<JobState>(request, "state", out var state, out error) ? new LiveView { Kind = kind, State = state } : null;

            case Job:
                if (!Query.TryLong(request, "id", out var jobId, out error) || !Query.TryLong(request, "after", out var after, out error))
                {
                    return null;
                }

                if (jobId is null)
                {
                    error = Problems.Invalid("id", "is required with view=job");
                    return null;
                }

                return new LiveView { Kind = kind, JobId = jobId.Value, LogsAfter = after ?? 0 };

            case Service: // services (docs/service-health.md)
                if (!Query.TryLong(request, "id", out var serviceId, out error))
                {
                    return null;
                }

                if (serviceId is null)
                {
                    error = Problems.Invalid("id", "is required with view=service");
                    return null;
                }

                return new LiveView { Kind = kind, JobId = serviceId.Value };

            default:
                error = Problems.Invalid("view", $"must be one of overview, nodes, node, jobs, job, alerts, services, service; got '{kind}'");
                return null;
        }
    }
}
