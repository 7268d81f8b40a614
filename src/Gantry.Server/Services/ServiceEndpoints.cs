using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Services;

/// <summary>
/// <c>GET /api/v1/services</c>: the live services, newest first, each a job with its <see cref="ServiceStatus"/>
/// (docs/services.md). A service is submitted, shown and stopped as a job: <c>POST /api/v1/jobs</c> with
/// kind <c>service</c>, <c>GET /api/v1/jobs/{id}</c>, <c>POST /api/v1/jobs/{id}/cancel</c>; ended services are
/// listed by <c>GET /api/v1/jobs?kind=service</c>.
/// </summary>
internal static class ServiceEndpoints
{
    public static void MapServiceEndpoints(IEndpointRouteBuilder app)
    {
        ArgumentNullException.ThrowIfNull(app);
        app.MapGet("/api/v1/services", (HttpContext http, JobQueue queue, IServiceMetrics metrics) =>
        {
            if (!Query.TryLimit(http.Request, out var limit, out var error)
                || !Query.TryLong(http.Request, "cursor", out var cursor, out error))
            {
                return error!;
            }

            // ?name=NAME: the live service of that name, or an empty page.
            var name = http.Request.Query["name"].ToString();
            var page = queue.ListServices(cursor, limit, name.Length == 0 ? null : name);
            return TypedResults.Json(ServiceViews.WithMetrics(page, metrics), GantryJson.Default.PageJobInfo);
        }).RequireRole(Role.Viewer);
    }
}
