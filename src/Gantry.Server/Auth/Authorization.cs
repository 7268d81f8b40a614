using System.Security.Claims;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Auth;

/// <summary>
/// Who may call what: endpoint filters for people's tokens by role (<see cref="RequireRole"/>), the join
/// token and node credentials. Every route takes one of them, or is public on purpose (a test checks each
/// route against its table: tests/Gantry.Server.Tests/Auth/RouteRolesTests.cs).
/// </summary>
internal static class Authorization
{
    private const string NodeKey = "gantry.node";
    private const string PersonKey = "gantry.person";

    /// <summary>The claim type of a dashboard session's token (<see cref="TokenStore.Prefix"/>).</summary>
    public const string TokenClaim = "gantry:token";

    /// <summary>
    /// People and tools: a person's token whose role is <paramref name="minimum"/> or above. The caller
    /// becomes <c>HttpContext.User</c> (name and role claims) and <see cref="CallerPerson"/>. An expired or
    /// revoked token is refused with 401 saying so; a token of a lower role with 403 naming the role needed.
    /// </summary>
    public static TBuilder RequireRole<TBuilder>(this TBuilder builder, Role minimum) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new RoleRequirement(minimum)).AddEndpointFilter(async (context, next) =>
        {
            var http = context.HttpContext;
            if (Presented(http.Request) is not { } hash)
            {
                return Missing();
            }

            var tokens = http.RequestServices.GetRequiredService<TokenStore>();
            var (check, person) = tokens.Authenticate(hash);
            switch (check)
            {
                case TokenCheck.Valid:
                    if (person!.Role < minimum)
                    {
                        return NeedsRole(minimum, person);
                    }

                    http.User = Caller(person);
                    http.Items[PersonKey] = person;
                    return await next(context).ConfigureAwait(false);
                case TokenCheck.Expired:
                    return Problems.Unauthorized($"the token of {person!.Name} expired at {person.ExpiresAt:u}; ask an admin for a new one ('gantry tokens create')");
                case TokenCheck.Revoked:
                    return Problems.Unauthorized($"the token of {person!.Name} was revoked at {person.RevokedAt:u}; ask an admin for a new one ('gantry tokens create')");
                default:
                    var nodes = http.RequestServices.GetRequiredService<NodeRegistry>();
                    return tokens.IsJoin(hash) || nodes.NodeForCredential(hash) is not null
                        ? Problems.Forbidden("this endpoint needs a person's API token, not the join token or a node credential")
                        : Wrong();
            }
        });

    /// <summary>The admin role: <see cref="RequireRole"/> with <see cref="Role.Admin"/>.</summary>
    public static TBuilder RequireAdmin<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.RequireRole(Role.Admin);

    /// <summary>403 naming the role an action needs and the role the caller has.</summary>
    public static IResult NeedsRole(Role minimum, Person person)
    {
        ArgumentNullException.ThrowIfNull(person);
        return TypedResults.Problem(
            $"this needs the {minimum.Name()} role; the token of {person.Name} has the {person.Role.Name()} role",
            statusCode: StatusCodes.Status403Forbidden,
            title: "Forbidden",
            extensions: new Dictionary<string, object?> { ["requiredRole"] = minimum.Name(), ["role"] = person.Role.Name() });
    }

    /// <summary>Registration: the join token.</summary>
    public static TBuilder RequireJoin<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new CredentialRequirement("join")).AddEndpointFilter(static async (context, next) =>
        {
            var http = context.HttpContext;
            if (Presented(http.Request) is not { } hash)
            {
                return Missing();
            }

            var tokens = http.RequestServices.GetRequiredService<TokenStore>();
            var nodes = http.RequestServices.GetRequiredService<NodeRegistry>();
            if (tokens.IsJoin(hash))
            {
                return await next(context).ConfigureAwait(false);
            }

            return tokens.Authenticate(hash).Check != TokenCheck.Unknown || nodes.NodeForCredential(hash) is not null
                ? Problems.Forbidden("registration needs the join token")
                : Wrong();
        });

    /// <summary>Agents: a node credential; when the route has a node <c>{id}</c>, it must be the credential's node.</summary>
    public static TBuilder RequireNode<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.WithMetadata(new CredentialRequirement("node")).AddEndpointFilter(static async (context, next) =>
        {
            var http = context.HttpContext;
            if (Presented(http.Request) is not { } hash)
            {
                return Missing();
            }

            var tokens = http.RequestServices.GetRequiredService<TokenStore>();
            var nodes = http.RequestServices.GetRequiredService<NodeRegistry>();
            if (nodes.NodeForCredential(hash) is not { } nodeId)
            {
                return tokens.Authenticate(hash).Check != TokenCheck.Unknown || tokens.IsJoin(hash)
                    ? Problems.Forbidden("this endpoint needs a node credential (returned by registration)")
                    : Problems.Unauthorized("the node credential is not known; register again with the join token");
            }

            if (http.Request.RouteValues.TryGetValue("nodeId", out var routeNode) && routeNode as string != nodeId)
            {
                return Problems.Forbidden($"the credential belongs to node {nodeId}");
            }

            http.Items[NodeKey] = nodeId;
            return await next(context).ConfigureAwait(false);
        });

    /// <summary>The node id the credential of this request belongs to (set by <see cref="RequireNode"/>).</summary>
    public static string CallerNode(this HttpContext context) => (string)context.Items[NodeKey]!;

    /// <summary>The person whose token made this request (set by <see cref="RequireRole"/>).</summary>
    public static Person CallerPerson(this HttpContext context) => (Person)context.Items[PersonKey]!;

    /// <summary>
    /// The caller of a request as <c>HttpContext.User</c>: the token's person as the name claim, its role as
    /// the role claim. What records who did something (the audit log, a job's owner) reads it from there.
    /// </summary>
    public static ClaimsPrincipal Caller(Person person, string authenticationType = "gantry-token", string? tokenPrefix = null)
    {
        ArgumentNullException.ThrowIfNull(person);
        var claims = new List<Claim> { new(ClaimTypes.Name, person.Name), new(ClaimTypes.Role, person.Role.Name()) };
        if (tokenPrefix is not null)
        {
            claims.Add(new Claim(TokenClaim, tokenPrefix));
        }

        return new(new ClaimsIdentity(claims, authenticationType));
    }

    /// <summary>The role of a principal made by <see cref="Caller"/>; null for anyone else.</summary>
    public static Role? RoleOf(ClaimsPrincipal user) =>
        user.FindFirst(ClaimTypes.Role)?.Value is { } name && Roles.TryParse(name, out var role) ? role : null;

    internal static byte[]? Presented(HttpRequest request)
    {
        var header = request.Headers.Authorization.ToString();
        const string Bearer = "Bearer ";
        if (!header.StartsWith(Bearer, StringComparison.OrdinalIgnoreCase) || header.Length == Bearer.Length)
        {
            return null;
        }

        return Tokens.Hash(header[Bearer.Length..].Trim());
    }

    private static IResult Missing() =>
        Problems.Unauthorized("send a token as 'Authorization: Bearer <token>' (the admin token is in <data-dir>/admin.token; 'gantry tokens create' makes one per person)");

    private static IResult Wrong() => Problems.Unauthorized("the token is not valid");
}

/// <summary>Endpoint metadata: the lowest role a person's token needs for the route (<see cref="Authorization.RequireRole"/>).</summary>
internal sealed record RoleRequirement(Role Minimum);

/// <summary>Endpoint metadata: the route takes the <c>join</c> token or a <c>node</c> credential, not a person's token.</summary>
internal sealed record CredentialRequirement(string Kind);
