using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Pages;
using Gantry.Server.Dashboard.Views;
using Gantry.Server.Services;
using Microsoft.AspNetCore.Antiforgery;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Server.Dashboard.Services;

/// <summary>The dashboard's Services page and a service's page (docs/service-health.md); their live parts are in <see cref="Live.DashboardLive"/>.</summary>
internal static class ServicePages
{
    public static void MapServicePages(this WebApplication app)
    {
        app.MapGet("/services", (HttpContext http, ServicesData data, IAntiforgery antiforgery) =>
            DashboardEndpoints.Page<ServicesPage>(http, StatusCodes.Status200OK, new()
            {
                ["Frame"] = DashboardEndpoints.Frame(http, antiforgery, "Services", Section.Services, "/ui/events?view=services"),
                ["Rows"] = data.Rows(),
            })).RequireDashboardRole(Role.Viewer);

        app.MapGet("/services/{jobId}", (string jobId, HttpContext http, ServicesData data, ServiceMetricsRegistry registry, IAntiforgery antiforgery) =>
        {
            if (!long.TryParse(jobId, NumberStyles.None, CultureInfo.InvariantCulture, out var id) || data.Row(id) is not { } row)
            {
                return DashboardEndpoints.NotFound(http, antiforgery, Section.Services, $"No service is job {jobId}.", "/services", "All services");
            }

            return DashboardEndpoints.Page<ServicePage>(http, StatusCodes.Status200OK, new()
            {
                ["Frame"] = DashboardEndpoints.Frame(http, antiforgery, row.Name, Section.Services, $"/ui/events?view=service&id={row.Id}"),
                ["Row"] = row,
                ["Charts"] = data.Charts(id, registry.History(id)),
            });
        }).RequireDashboardRole(Role.Viewer);
    }
}
