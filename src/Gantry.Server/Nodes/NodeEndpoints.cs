using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Audit;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Health;
using Gantry.Server.Jobs;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Hosting;

namespace Gantry.Server.Nodes;

/// <summary>Node endpoints: registration, heartbeats and assignments for agents; list, show and drain for people.</summary>
internal static class NodeEndpoints
{
    private static readonly TimeSpan MaxWait = TimeSpan.FromSeconds(60);

    public static void MapNodeEndpoints(this IEndpointRouteBuilder app)
    {
        var nodes = app.MapGroup("/api/v1/nodes");

        nodes.MapPost("/register", async (HttpContext http, NodeRegistry registry, JobQueue jobs, ServerOptions options, CancellationToken ct) =>
        {
            var (request, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.RegisterNodeRequest, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            if (Validation.Check(request!) is { } errors)
            {
                return Problems.Invalid(errors);
            }

            var response = registry.Register(request!, out var orphaned);
            http.AuditTarget(response.NodeId);
            jobs.LoseAttempts(orphaned, "the node's agent restarted and no longer runs it");
            return TypedResults.Json(response, GantryJson.Default.RegisterNodeResponse);
        }).RequireJoin().Audited("node.register", actor: "join-token");

        nodes.MapPost("/{nodeId}/heartbeat", async (string nodeId, HttpContext http, NodeRegistry registry, GpuHealthRegistry health, JobQueue jobs, ServerOptions options, CancellationToken ct) =>
        {
            var (request, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.HeartbeatRequest, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            if (Validation.Check(request!) is { } errors)
            {
                return Problems.Invalid(errors);
            }

            if (registry.Heartbeat(nodeId, request!) is not { } response)
            {
                return Problems.NotFound($"node {nodeId} is not known to this server; register again");
            }

            // Job energy: running attempts' figures, kept in memory (written to the store periodically).
            if (request!.AttemptEnergy is { Count: > 0 } energy)
            {
                jobs.ObserveEnergy(nodeId, energy);
            }

            // Services (docs/services.md, docs/service-health.md): each service attempt's health into the job
            // queue and its counters into the metrics registry, with this heartbeat's energy; O(reports).
            Services.ServiceHealthFeature.ObserveHeartbeat(http.RequestServices, nodeId, request!);

            // After the lease: a health decision that stops a job or writes its history never delays the
            // renewal. The answer then says what it made of the node (draining, for a reboot-class fault).
            if (request!.Health is { } report && health.Observe(nodeId, report) && registry.StateOf(nodeId) is { } state)
            {
                response = response with { State = state };
            }

            return TypedResults.Json(response, GantryJson.Default.HeartbeatResponse);
        }).RequireNode().NotAudited("an agent renews its lease and reports what it sees");

        nodes.MapGet("/{nodeId}/assignments", async (string nodeId, HttpContext http, NodeRegistry registry, TimeProvider time, IHostApplicationLifetime lifetime, CancellationToken ct) =>
        {
            if (!Query.TryLong(http.Request, "index", out var index, out var error) || !Query.TryWait(http.Request, MaxWait, out var wait, out error))
            {
                return error!;
            }

            if (registry.Assignments(nodeId) is not { } current)
            {
                return Problems.NotFound($"node {nodeId} is not known to this server; register again");
            }

            // A blocking query: hold the request while nothing changed since the agent's index.
            if (index == current.Response.Index)
            {
                // A server that stops (a leader stepping down, a restart) lets go of its agents at once:
                // held to the shutdown timeout, their polls would miss the new leader's first assignments.
                using var waiting = CancellationTokenSource.CreateLinkedTokenSource(ct, lifetime.ApplicationStopping);
                var delay = Task.Delay(wait, time, waiting.Token);
                await Task.WhenAny(current.Changed, delay).ConfigureAwait(false);
                if (ct.IsCancellationRequested)
                {
                    return Results.Empty;
                }

                if (lifetime.ApplicationStopping.IsCancellationRequested)
                {
                    http.Response.Headers.RetryAfter = "1";
                    return Problems.Unavailable("this server is stopping; ask another replica or try again");
                }

                current = registry.Assignments(nodeId) ?? current;
            }

            http.Response.Headers["X-Gantry-Index"] = current.Response.Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            return TypedResults.Json(current.Response, GantryJson.Default.AssignmentsResponse);
        }).RequireNode();

        nodes.MapGet("/", (HttpContext http, NodeRegistry registry) =>
        {
            if (!Query.TryEnum<NodeState>(http.Request, "state", out var state, out var error) || !Query.TryLimit(http.Request, out var limit, out error))
            {
                return error!;
            }

            var cursor = http.Request.Query["cursor"].ToString();
            return TypedResults.Json(registry.ListNodes(state, cursor.Length == 0 ? null : cursor, limit), GantryJson.Default.PageNodeInfo);
        }).RequireRole(Role.Viewer);

        nodes.MapGet("/{nodeId}", (string nodeId, NodeRegistry registry, GpuHealthRegistry health) =>
            registry.GetNode(nodeId) is { } node
                ? TypedResults.Json(node with { HealthHistory = health.History(nodeId), Power = registry.Power?.Info(nodeId) }, GantryJson.Default.NodeInfo)
                : Problems.NotFound($"no node with id {nodeId}")).RequireRole(Role.Viewer);

        nodes.MapPost("/{nodeId}/drain", (string nodeId, NodeRegistry registry) => Drain(registry, nodeId, true)).RequireRole(Role.Operator).Audited("node.drain", target: "nodeId");
        nodes.MapPost("/{nodeId}/undrain", (string nodeId, NodeRegistry registry) => Drain(registry, nodeId, false)).RequireRole(Role.Operator).Audited("node.undrain", target: "nodeId");
    }

    private static IResult Drain(NodeRegistry registry, string nodeId, bool drain) =>
        registry.Drain(nodeId, drain) is { } node
            ? TypedResults.Json(node, GantryJson.Default.NodeInfo)
            : Problems.NotFound($"no node with id {nodeId}");
}
