using System.Security.Claims;
using Gantry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Audit;

/// <summary>
/// Endpoint metadata: a route that changes something is recorded as <see cref="Name"/>; its target is
/// the route value <see cref="Target"/> names unless the handler sets one (<see cref="AuditConventions.AuditTarget"/>).
/// <see cref="Actor"/> names the caller of a route whose credential is no person (registration's join token).
/// </summary>
internal sealed record AuditedAction(string Name, string? Target, string? Actor);

/// <summary>Endpoint metadata: a mutating route that is no person's change (an agent's heartbeat), with why.</summary>
internal sealed record NotAudited(string Reason);

/// <summary>
/// <c>.Audited("job.cancel", target: "jobId")</c> on a route, and the middleware that records each request
/// to such a route once it has been answered, refused ones included. The cost per request is a metadata
/// lookup and, for audited routes, one record put on <see cref="AuditLog"/>'s queue.
/// </summary>
internal static class AuditConventions
{
    private static readonly object TargetKey = new();

    /// <summary>Records every request to the route as <paramref name="action"/> (docs/audit.md lists the names).</summary>
    public static TBuilder Audited<TBuilder>(this TBuilder builder, string action, string? target = null, string? actor = null)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new AuditedAction(action, target, actor));

    /// <summary>Marks a mutating route as no person's change, so that it is not recorded.</summary>
    public static TBuilder NotAudited<TBuilder>(this TBuilder builder, string reason)
        where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new NotAudited(reason));

    /// <summary>The target of this request's record, when the route values do not hold it (a new job's id).</summary>
    public static void AuditTarget(this HttpContext http, string target)
    {
        ArgumentNullException.ThrowIfNull(http);
        http.Items[TargetKey] = target;
    }

    /// <summary>Records requests to audited routes after they were answered (and when they threw).</summary>
    public static void UseAudit(this IApplicationBuilder app) => app.Use(static async (context, next) =>
    {
        if (context.GetEndpoint()?.Metadata.GetMetadata<AuditedAction>() is not { } action)
        {
            await next(context).ConfigureAwait(false);
            return;
        }

        try
        {
            await next(context).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Record(context, action, StoreUnavailableException.Covers(ex) ? StatusCodes.Status503ServiceUnavailable : StatusCodes.Status500InternalServerError);
            throw;
        }

        Record(context, action, context.Response.StatusCode);
    });

    private static void Record(HttpContext context, AuditedAction action, int status)
    {
        string actor;
        if (context.User.Identity is { IsAuthenticated: true, Name: { } name })
        {
            actor = name;
        }
        else if (status == StatusCodes.Status403Forbidden)
        {
            // A token the server knows, for something else (the join token on a person's route).
            actor = "unknown";
        }
        else if (action.Actor is not null && status is not (StatusCodes.Status401Unauthorized or StatusCodes.Status429TooManyRequests))
        {
            actor = action.Actor;
        }
        else
        {
            // Nobody the server knows: a missing or bad token (counted by the failed-token limiter), or a
            // dashboard form sent without a session (sent to the login page).
            return;
        }

        var target = context.Items.TryGetValue(TargetKey, out var set) ? set as string
            : action.Target is { } key && context.Request.RouteValues.TryGetValue(key, out var value) ? value?.ToString()
            : null;
        var address = context.Connection.RemoteIpAddress is { } ip ? (ip.IsIPv4MappedToIPv6 ? ip.MapToIPv4() : ip).ToString() : null;
        var log = context.RequestServices.GetRequiredService<AuditLog>();
        log.Record(new AuditRecord(log.Now, actor, context.User.FindFirst(ClaimTypes.Role)?.Value, address, action.Name, target, status));
    }
}
