using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Audit;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Auth;

/// <summary><c>/api/v1/tokens</c>: people's API tokens, for admins (docs/api.md, docs/people.md).</summary>
internal static class TokenEndpoints
{
    public static void MapTokenEndpoints(this IEndpointRouteBuilder app)
    {
        var tokens = app.MapGroup("/api/v1/tokens");

        tokens.MapGet("/", (TokenStore store, TimeProvider time) => TypedResults.Json(List(store, time), GantryJson.Default.TokensResponse))
            .RequireRole(Role.Admin);

        tokens.MapPost("/", async (HttpContext http, TokenStore store, ServerOptions options, TimeProvider time, CancellationToken ct) =>
        {
            var (request, error) = await RequestBody.ReadAsync(http.Request, GantryJson.Default.CreateTokenRequest, options.MaxRequestBodyBytes, ct).ConfigureAwait(false);
            if (request?.Name is { Length: > 0 } name)
            {
                http.AuditTarget(name);
            }

            return error ?? Create(store, request!, time);
        }).RequireRole(Role.Admin).Audited("token.create");

        tokens.MapDelete("/{name}", (string name, TokenStore store, TimeProvider time) => Revoke(store, name, time))
            .RequireRole(Role.Admin).Audited("token.revoke", target: "name");
    }

    /// <summary>Every token, the admin token first (shared with the dashboard's Tokens page).</summary>
    internal static TokensResponse List(TokenStore store, TimeProvider time)
    {
        var now = time.GetUtcNow();
        var people = store.List();
        var items = new TokenInfo[people.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = people[i].ToInfo(now);
        }

        return new TokensResponse { Items = items };
    }

    /// <summary>Validates and makes a token: 201 with the secret, 400 naming the wrong field, 409 for a name in use.</summary>
    internal static IResult Create(TokenStore store, CreateTokenRequest request, TimeProvider time)
    {
        if (TokenValidation.Check(request) is { } errors)
        {
            return Problems.Invalid(errors);
        }

        var (secret, person, conflict) = store.Create(request);
        return conflict is not null
            ? Problems.Conflict(conflict)
            : TypedResults.Created($"/api/v1/tokens/{person!.Name}", new CreateTokenResponse { Token = secret!, Info = person.ToInfo(time.GetUtcNow()) });
    }

    /// <summary>Revokes a token: 200 with what it is now, 404 when unknown, 409 for the admin token.</summary>
    internal static IResult Revoke(TokenStore store, string name, TimeProvider time)
    {
        if (name == Person.AdminName)
        {
            return Problems.Conflict("the admin token from <data-dir>/admin.token cannot be revoked");
        }

        return store.Revoke(name) is { } person
            ? TypedResults.Json(person.ToInfo(time.GetUtcNow()), GantryJson.Default.TokenInfo)
            : Problems.NotFound($"no token named {name}");
    }
}
