using System.Globalization;
using Gantry.Server.Audit;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Power;

/// <summary>
/// Power caps for people (docs/power.md): <c>PUT</c> and <c>DELETE /api/v1/nodes/{id}/power-cap</c> set and
/// lift a node's cap by hand, <c>GET /api/v1/power</c> shows the fleet budget. A node's caps, wanted and
/// enforced, are in <c>GET /api/v1/nodes/{id}</c> under <c>power</c>.
/// </summary>
internal static class PowerEndpoints
{
    public static void MapPowerEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapPut("/api/v1/nodes/{nodeId}/power-cap", async (string nodeId, HttpContext http, PowerCaps caps, ServerOptions options, CancellationToken ct) =>
        {
            var (request, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.PowerCapRequest, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (error is not null)
            {
                return error;
            }

            var watts = request!.GpuWatts;
            if (!(watts >= 1 && watts <= PowerCaps.MaxWatts))
            {
                return Problems.Invalid("gpuWatts", string.Create(CultureInfo.InvariantCulture, $"must be between 1 and {PowerCaps.MaxWatts} watts, got {watts}"));
            }

            return caps.SetManual(nodeId, watts) is { } info
                ? TypedResults.Json(info, GantryJson.Default.NodePowerInfo)
                : Problems.NotFound($"no node with id {nodeId}");
        }).RequireRole(Role.Operator).Audited("power.cap", target: "nodeId");

        app.MapDelete("/api/v1/nodes/{nodeId}/power-cap", (string nodeId, PowerCaps caps) =>
            caps.SetManual(nodeId, null) is { } info
                ? TypedResults.Json(info, GantryJson.Default.NodePowerInfo)
                : Problems.NotFound($"no node with id {nodeId}")).RequireRole(Role.Operator).Audited("power.uncap", target: "nodeId");

        app.MapGet("/api/v1/power", (PowerCaps caps, ServerOptions options) =>
        {
            var budget = caps.Snapshot().Budget;
            return TypedResults.Json(
                new PowerBudgetInfo
                {
                    BudgetWatts = options.PowerBudgetWatts,
                    AllocatedWatts = budget?.Figures.AllocatedWatts,
                    UsedWatts = budget?.Figures.MeasuredWatts,
                    Insufficient = budget?.Figures.Insufficient ?? false,
                    Gpus = budget?.Figures.Gpus ?? 0,
                    BusyGpus = budget?.Figures.BusyGpus ?? 0,
                    DividedAt = budget?.DividedAt,
                },
                GantryJson.Default.PowerBudgetInfo);
        }).RequireRole(Role.Viewer);
    }
}
