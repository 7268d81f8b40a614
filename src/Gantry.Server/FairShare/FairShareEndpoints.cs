using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.FairShare;

/// <summary><c>GET /api/v1/fair-share</c>: accounts' decayed GPU-hours, GPUs held, pending jobs and limits (docs/fair-share.md).</summary>
internal static class FairShareEndpoints
{
    public static void MapFairShareEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/fair-share", (JobQueue jobs) => TypedResults.Json(jobs.FairShareReport(), GantryJson.Default.FairShareInfo)).RequireRole(Role.Viewer);
}
