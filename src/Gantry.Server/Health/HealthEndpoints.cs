using Gantry.Core.Protocol;
using Gantry.Server.Audit;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Health;

/// <summary>
/// <c>POST /api/v1/nodes/{id}/cordon</c> and <c>…/uncordon</c> (admin token): a person takes a GPU (or
/// every GPU of a node) out of placement, or puts it back. The body (<see cref="CordonRequest"/>) may be
/// left out: every GPU, with a default reason.
/// </summary>
internal static class HealthEndpoints
{
    public static void MapHealthEndpoints(this IEndpointRouteBuilder app)
    {
        var nodes = app.MapGroup("/api/v1/nodes");
        nodes.MapPost("/{nodeId}/cordon", (string nodeId, HttpContext http, GpuHealthRegistry health, ServerOptions options, CancellationToken ct) =>
            SetAsync(nodeId, http, health, options, cordon: true, ct)).RequireRole(Role.Operator).Audited("node.cordon", target: "nodeId");
        nodes.MapPost("/{nodeId}/uncordon", (string nodeId, HttpContext http, GpuHealthRegistry health, ServerOptions options, CancellationToken ct) =>
            SetAsync(nodeId, http, health, options, cordon: false, ct)).RequireRole(Role.Operator).Audited("node.uncordon", target: "nodeId");
    }

    private static async Task<IResult> SetAsync(string nodeId, HttpContext http, GpuHealthRegistry health, ServerOptions options, bool cordon, CancellationToken ct)
    {
        var request = new CordonRequest();
        if (http.Request.ContentType is not null || http.Request.ContentLength > 0)
        {
            var (read, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.CordonRequest, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            request = read!;
        }

        if (Validation.Check(request) is { } errors)
        {
            return Problems.Invalid(errors);
        }

        if (health.SetByPerson(nodeId, request.Gpu, cordon, request.Reason, out var gpuProblem) is { } node)
        {
            return TypedResults.Json(node with { HealthHistory = health.History(nodeId) }, GantryJson.Default.NodeInfo);
        }

        return gpuProblem is not null ? Problems.Invalid("gpu", gpuProblem) : Problems.NotFound($"no node with id {nodeId}");
    }
}
