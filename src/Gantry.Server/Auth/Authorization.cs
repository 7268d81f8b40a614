using System.Security.Claims;
using Gantry.Server.Api;
using Gantry.Server.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Auth;

/// <summary>Who may call what: endpoint filters for the admin token, the join token and node credentials.</summary>
internal static class Authorization
{
    private const string NodeKey = "gantry.node";

    /// <summary>People and tools: the admin token.</summary>
    public static TBuilder RequireAdmin<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(static async (context, next) =>
        {
            var http = context.HttpContext;
            if (Presented(http.Request) is not { } hash)
            {
                return Missing();
            }

            var tokens = http.RequestServices.GetRequiredService<TokenStore>();
            var nodes = http.RequestServices.GetRequiredService<NodeRegistry>();
            if (tokens.IsAdmin(hash))
            {
                http.User = Caller("admin", "admin");
                return await next(context).ConfigureAwait(false);
            }

            return tokens.IsJoin(hash) || nodes.NodeForCredential(hash) is not null
                ? Problems.Forbidden("this endpoint needs the admin token")
                : Wrong();
        });

    /// <summary>Registration: the join token.</summary>
    public static TBuilder RequireJoin<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(static async (context, next) =>
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

            return tokens.IsAdmin(hash) || nodes.NodeForCredential(hash) is not null
                ? Problems.Forbidden("registration needs the join token")
                : Wrong();
        });

    /// <summary>Agents: a node credential; when the route has a node <c>{id}</c>, it must be the credential's node.</summary>
    public static TBuilder RequireNode<TBuilder>(this TBuilder builder) where TBuilder : IEndpointConventionBuilder =>
        builder.AddEndpointFilter(static async (context, next) =>
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
                return tokens.IsAdmin(hash) || tokens.IsJoin(hash)
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

    /// <summary>
    /// The caller of a request as <c>HttpContext.User</c>: the token's person as the name claim, its role as
    /// the role claim. What records who did something (the audit log, a job's owner) reads it from there.
    /// </summary>
    private static ClaimsPrincipal Caller(string name, string role) =>
        new(new ClaimsIdentity([new Claim(ClaimTypes.Name, name), new Claim(ClaimTypes.Role, role)], authenticationType: "gantry-token"));

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
        Problems.Unauthorized("send a token as 'Authorization: Bearer <token>' (the admin token is in <data-dir>/admin.token)");

    private static IResult Wrong() => Problems.Unauthorized("the token is not valid");
}
