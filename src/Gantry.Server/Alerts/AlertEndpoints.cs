using Gantry.Server.Audit;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Alerts.Silences;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Alerts;

/// <summary>
/// The alerting API (admin token): <c>GET /api/v1/alerts</c>; rules (<c>GET|POST /api/v1/alerts/rules</c>,
/// <c>DELETE /api/v1/alerts/rules/{group}</c>, <c>GET /api/v1/alerts/rules/export</c> as a Prometheus rule
/// file); silences (<c>GET|POST /api/v1/alerts/silences</c>, <c>GET|DELETE /api/v1/alerts/silences/{id}</c>,
/// the delete expiring it).
/// </summary>
internal static class AlertEndpoints
{
    public static void MapAlertEndpoints(this IEndpointRouteBuilder app)
    {
        var alerts = app.MapGroup("/api/v1/alerts");
        alerts.MapGet("", (HttpContext http, AlertEngine engine) => ListAlerts(http, engine)).RequireRole(Role.Viewer);
        alerts.MapGet("/rules", (AlertEngine engine) => TypedResults.Json(engine.ListRules(), GantryJson.Default.AlertRulesResponse)).RequireRole(Role.Viewer);
        alerts.MapGet("/rules/export", (AlertEngine engine) => TypedResults.Text(engine.Export(), "application/yaml; charset=utf-8")).RequireRole(Role.Viewer);
        alerts.MapPost("/rules", AddRulesAsync).RequireRole(Role.Operator).Audited("alert.rule.create");
        alerts.MapDelete("/rules/{group}", (string group, AlertEngine engine) => RemoveRules(group, engine)).RequireRole(Role.Operator).Audited("alert.rule.delete", target: "group");
        alerts.MapGet("/silences", (SilenceBook silences) => TypedResults.Json(silences.List(), GantryJson.Default.SilencesResponse)).RequireRole(Role.Viewer);
        alerts.MapGet("/silences/{id}", (string id, SilenceBook silences) =>
            silences.Get(id) is { } silence ? TypedResults.Json(silence, GantryJson.Default.SilenceInfo) : Problems.NotFound($"no silence with id {id}")).RequireRole(Role.Viewer);
        alerts.MapPost("/silences", CreateSilenceAsync).RequireRole(Role.Operator).Audited("alert.silence.create");
        alerts.MapDelete("/silences/{id}", (string id, SilenceBook silences) =>
            silences.Expire(id) is { } silence ? TypedResults.Json(silence, GantryJson.Default.SilenceInfo) : Problems.NotFound($"no silence with id {id}")).RequireRole(Role.Operator).Audited("alert.silence.expire", target: "id");
    }

    private static IResult ListAlerts(HttpContext http, AlertEngine engine)
    {
        var response = engine.ListAlerts();
        if (http.Request.Query["state"] is { Count: > 0 } states)
        {
            var wanted = new HashSet<AlertState>();
            foreach (var text in states.SelectMany(s => (s ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)))
            {
                if (!Enum.TryParse<AlertState>(text, ignoreCase: true, out var state) || !Enum.IsDefined(state) || int.TryParse(text, out _))
                {
                    return Problems.Invalid("state", $"'{text}' is not a state: pending, firing or resolved");
                }

                wanted.Add(state);
            }

            response = response with { Alerts = [.. response.Alerts.Where(a => wanted.Contains(a.State))] };
        }

        return TypedResults.Json(response, GantryJson.Default.AlertsResponse);
    }

    private static async Task<IResult> AddRulesAsync(HttpContext http, AlertEngine engine, ServerOptions options, CancellationToken ct)
    {
        var (request, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.AddAlertRulesRequest, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        if (string.IsNullOrWhiteSpace(request!.Yaml))
        {
            return Problems.Invalid("yaml", "must hold a rule file: groups: [{name: …, rules: [{alert: …, expr: …}]}]");
        }

        if (request.Yaml.Contains('\0', StringComparison.Ordinal))
        {
            return Problems.Invalid("yaml", "must not contain NUL characters");
        }

        try
        {
            var groups = engine.Rules.Add(request.Yaml);
            http.AuditTarget(string.Join(",", groups));
            return TypedResults.Json(new AddAlertRulesResponse { Groups = groups }, GantryJson.Default.AddAlertRulesResponse, statusCode: StatusCodes.Status201Created);
        }
        catch (AlertRuleException ex)
        {
            return Problems.Invalid("yaml", ex.Message);
        }
    }

    private static IResult RemoveRules(string group, AlertEngine engine)
    {
        if (engine.Rules.Remove(group))
        {
            return TypedResults.NoContent();
        }

        return engine.Rules.OriginOf(group) switch
        {
            "built-in" => Problems.Conflict($"group {group} holds the built-in rules: switch rules off with the server's --disable-rule"),
            "file" => Problems.Conflict($"group {group} comes from the rules file ({engine.Rules.FilePath}): edit the file"),
            _ => Problems.NotFound($"no rule group named {group} was added through the API"),
        };
    }

    private static async Task<IResult> CreateSilenceAsync(HttpContext http, SilenceBook silences, ServerOptions options, CancellationToken ct)
    {
        var (request, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.CreateSilenceRequest, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
        if (error is not null)
        {
            return error;
        }

        if (silences.Create(request!, out var errors) is { } silence)
        {
            http.AuditTarget(silence.Id);
            return TypedResults.Json(silence, GantryJson.Default.SilenceInfo, statusCode: StatusCodes.Status201Created);
        }

        return Problems.Invalid(errors!);
    }
}
