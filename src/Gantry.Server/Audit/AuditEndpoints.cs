using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Core.Text;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Audit;

/// <summary>
/// <c>GET /api/v1/audit?since=7d&amp;actor=alice&amp;action=job.cancel&amp;limit=100&amp;cursor=ID</c>: the
/// audit log newest first, a page at a time (<see cref="Page{T}"/>; <c>nextCursor</c> is the id to pass as
/// <c>cursor</c>).
/// </summary>
internal static class AuditEndpoints
{
    /// <summary>The longest actor or action a filter takes.</summary>
    private const int MaxFilterLength = 200;

    public static void MapAuditEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/audit", async (HttpContext http, AuditLog log, CancellationToken ct) =>
        {
            if (!TryParse(http.Request, log.Now, out var query, out var error))
            {
                return error!;
            }

            var entries = await log.ReadAsync(query!, ct).ConfigureAwait(false);
            return TypedResults.Json(
                new Page<AuditEntry>
                {
                    Items = entries,
                    NextCursor = entries.Count == query!.Limit ? entries[^1].Id.ToString(CultureInfo.InvariantCulture) : null,
                },
                GantryJson.Default.PageAuditEntry);
        }).RequireRole(Role.Operator);
    }

    /// <summary>The query's filters (limit and cursor as the API takes them), or a 400 that names the parameter that is wrong.</summary>
    internal static bool TryParse(HttpRequest request, DateTimeOffset now, out AuditQuery? query, out IResult? error)
    {
        query = null;
        if (!Query.TryLimit(request, out var limit, out error) || !Query.TryLong(request, "cursor", out var cursor, out error))
        {
            return false;
        }

        if (TryFilters(request.Query, now, out var filters) is { } problem)
        {
            error = Problems.Invalid(problem.Parameter, problem.Message);
            return false;
        }

        query = filters! with { Before = cursor, Limit = limit };
        return true;
    }

    /// <summary>
    /// Reads <c>since</c>, <c>actor</c> and <c>action</c> into <paramref name="filters"/> (a query of 100,
    /// from the newest); returns what is wrong, naming the parameter, or null.
    /// </summary>
    internal static (string Parameter, string Message)? TryFilters(IQueryCollection parameters, DateTimeOffset now, out AuditQuery? filters)
    {
        ArgumentNullException.ThrowIfNull(parameters);
        filters = null;
        DateTimeOffset? since = null;
        if (parameters["since"].ToString() is { Length: > 0 } sinceText)
        {
            if (Durations.TryParse(sinceText, out var ago) && ago > TimeSpan.Zero)
            {
                since = now - ago;
            }
            else if (sinceText.Contains('T', StringComparison.Ordinal) && DateTimeOffset.TryParse(sinceText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal, out var at))
            {
                since = at;
            }
            else
            {
                return ("since", $"must be a duration such as 7d, 24h or 30m, or a time such as 2026-01-31T12:00:00Z, got '{sinceText}'");
            }
        }

        if (Name(parameters, "actor", static c => c > ' ' && c != 0x7F, "printable characters without spaces", out var actor) is { } actorProblem)
        {
            return actorProblem;
        }

        if (Name(parameters, "action", static c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c is '.' or '-', "lower-case letters, digits, '.' and '-' (e.g. job.cancel)", out var action) is { } actionProblem)
        {
            return actionProblem;
        }

        filters = new AuditQuery(since, actor, action, null, 100);
        return null;
    }

    private static (string Parameter, string Message)? Name(IQueryCollection parameters, string name, Func<char, bool> allowed, string what, out string? value)
    {
        value = null;
        if (parameters[name].ToString() is not { Length: > 0 } text)
        {
            return null;
        }

        if (text.Length > MaxFilterLength || !text.All(allowed))
        {
            return (name, $"must be up to {MaxFilterLength} {what}, got '{(text.Length > 40 ? text[..40] + "…" : text)}'");
        }

        value = text;
        return null;
    }
}
