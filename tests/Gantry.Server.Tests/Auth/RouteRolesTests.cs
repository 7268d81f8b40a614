using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.RegularExpressions;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Auth;

/// <summary>
/// Every route of the server, taken from its <see cref="EndpointDataSource"/>, has a decision in
/// <see cref="Expected"/> (a new route without one fails), and each role's token gets that decision's
/// answer: 403 below the route's role, never 401 or 403 at or above it.
/// </summary>
public sealed partial class RouteRolesTests : IAsyncLifetime
{
    private const string Public = "public";
    private const string Join = "join";
    private const string Node = "node";

    /// <summary>"METHOD pattern" → who may call it: public, join, node, or the lowest role (dashboard pages take the session's role).</summary>
    private static readonly Dictionary<string, string> Expected = new(StringComparer.Ordinal)
    {
        ["GET /healthz"] = Public,
        ["GET /readyz"] = Public,
        ["GET /api/v1/tls/ca"] = Public,
        ["GET /metrics"] = "viewer",
        ["GET /status"] = "viewer",

        ["POST /api/v1/nodes/register"] = Join,
        ["POST /api/v1/nodes/{nodeId}/heartbeat"] = Node,
        ["GET /api/v1/nodes/{nodeId}/assignments"] = Node,
        ["POST /api/v1/jobs/{jobId:long}/attempts/{attempt:int}/events"] = Node,
        ["POST /api/v1/jobs/{jobId:long}/attempts/{attempt:int}/logs"] = Node,

        ["GET /api/v1/nodes/"] = "viewer",
        ["GET /api/v1/nodes/{nodeId}"] = "viewer",
        ["POST /api/v1/nodes/{nodeId}/drain"] = "operator",
        ["POST /api/v1/nodes/{nodeId}/undrain"] = "operator",
        ["POST /api/v1/nodes/{nodeId}/cordon"] = "operator",
        ["POST /api/v1/nodes/{nodeId}/uncordon"] = "operator",
        ["PUT /api/v1/nodes/{nodeId}/power-cap"] = "operator",
        ["DELETE /api/v1/nodes/{nodeId}/power-cap"] = "operator",
        ["GET /api/v1/power"] = "viewer",
        ["GET /api/v1/prometheus/targets"] = "viewer",
        ["GET /api/v1/anomalies"] = "viewer",
        ["GET /api/v1/carbon"] = "viewer",
        ["GET /api/v1/telemetry/query"] = "viewer",
        ["GET /api/v1/reports/energy"] = "viewer",
        ["GET /api/v1/cluster/events"] = "viewer",

        ["POST /api/v1/jobs/"] = "user",
        ["GET /api/v1/jobs/"] = "viewer",
        ["GET /api/v1/jobs/{jobId:long}"] = "viewer",
        ["POST /api/v1/jobs/{jobId:long}/cancel"] = "user",
        ["GET /api/v1/jobs/{jobId:long}/logs"] = "viewer",
        ["GET /api/v1/services"] = "viewer", // services (docs/services.md): submitted and stopped as jobs

        ["GET /api/v1/alerts/"] = "viewer",
        ["GET /api/v1/alerts/rules"] = "viewer",
        ["GET /api/v1/alerts/rules/export"] = "viewer",
        ["POST /api/v1/alerts/rules"] = "operator",
        ["DELETE /api/v1/alerts/rules/{group}"] = "operator",
        ["GET /api/v1/alerts/silences"] = "viewer",
        ["GET /api/v1/alerts/silences/{id}"] = "viewer",
        ["POST /api/v1/alerts/silences"] = "operator",
        ["DELETE /api/v1/alerts/silences/{id}"] = "operator",

        ["GET /api/v1/tokens/"] = "admin",
        ["POST /api/v1/tokens/"] = "admin",
        ["DELETE /api/v1/tokens/{name}"] = "admin",
        ["GET /api/v1/fair-share"] = "viewer",
        ["GET /api/v1/audit"] = "operator",

        // The dashboard: a session cookie whose role is checked by policy.
        ["GET /login"] = Public,
        ["POST /login"] = Public,
        ["POST /logout"] = Public,
        ["GET /ui/assets/{name}"] = Public,
        ["GET /ui/events"] = "viewer",
        ["GET /"] = "viewer",
        ["GET /nodes"] = "viewer",
        ["GET /nodes/{nodeId}"] = "viewer",
        ["POST /nodes/{nodeId}/drain"] = "operator",
        ["POST /nodes/{nodeId}/undrain"] = "operator",
        ["GET /jobs"] = "viewer",
        ["POST /jobs"] = "user",
        ["GET /jobs/{jobId}"] = "viewer",
        ["POST /jobs/{jobId:long}/cancel"] = "user",
        ["GET /alerts"] = "viewer",
        ["GET /services"] = "viewer", // services (docs/service-health.md)
        ["GET /services/{jobId}"] = "viewer",
        ["POST /alerts/silences"] = "operator",
        ["POST /alerts/silences/{silenceId}/expire"] = "operator",
        ["GET /tokens"] = "admin",
        ["GET /audit"] = "operator",
        ["POST /tokens"] = "admin",
        ["POST /tokens/{name}/revoke"] = "admin",
    };

    private ServerHarness _server = null!;
    private readonly Dictionary<Role, HttpClient> _people = [];

    public async Task InitializeAsync()
    {
        _server = await ServerHarness.StartAsync();
        foreach (var role in Enum.GetValues<Role>())
        {
            _people[role] = _server.Client(await TokenApiTests.CreateTokenAsync(_server, "p-" + role.Name(), role));
        }
    }

    public async Task DisposeAsync()
    {
        foreach (var client in _people.Values)
        {
            client.Dispose();
        }

        await _server.DisposeAsync();
    }

    [Fact]
    public void EveryRoute_HasADecision_AndTheDecisionsAreRoutes()
    {
        var routes = Routes();
        var missing = routes.Select(static r => r.Key).Where(static k => !Expected.ContainsKey(k)).ToList();
        Assert.True(missing.Count == 0, "routes without a role decision in RouteRolesTests.Expected: " + string.Join(", ", missing));
        var stale = Expected.Keys.Where(k => routes.All(r => r.Key != k)).ToList();
        Assert.True(stale.Count == 0, "decisions for routes that do not exist: " + string.Join(", ", stale));
    }

    [Fact]
    public void EveryRoute_CarriesItsDecisionAsMetadata()
    {
        foreach (var route in Routes())
        {
            var expected = Expected[route.Key];
            var role = route.Endpoint.Metadata.GetMetadata<RoleRequirement>();
            var credential = route.Endpoint.Metadata.GetMetadata<CredentialRequirement>();
            switch (expected)
            {
                case Public:
                    Assert.True(role is null && credential is null, $"{route.Key} should be public");
                    Assert.Null(route.Endpoint.Metadata.GetMetadata<IAuthorizeData>());
                    break;
                case Join or Node:
                    Assert.Equal(expected, credential?.Kind);
                    break;
                default:
                    Assert.True(role is not null, $"{route.Key} takes no role");
                    Assert.Equal(expected, role.Minimum.Name());
                    if (route.Endpoint.Metadata.GetMetadata<IAuthorizeData>() is { } authorize)
                    {
                        Assert.Equal(expected, authorize.Policy);
                    }

                    break;
            }
        }
    }

    [Fact]
    public async Task EveryApiRoute_EachRole_403BelowItsRoleAndNever401Or403AtOrAbove()
    {
        var failures = new List<string>();
        foreach (var route in Routes())
        {
            var expected = Expected[route.Key];
            if (IsDashboard(route))
            {
                continue; // checked by their policy (EveryRoute_CarriesItsDecisionAsMetadata) and DashboardRolesTests
            }

            var path = Fill(route.Endpoint.RoutePattern.RawText!);
            using (var anonymous = await SendAsync(_server.Anonymous, route.Method, path))
            {
                var status = (int)anonymous.StatusCode;
                if (expected == Public ? status is 401 or 403 : status != 401)
                {
                    failures.Add($"{route.Key} without a token: {status}");
                }
            }

            if (expected is Public)
            {
                continue;
            }

            foreach (var (role, client) in _people)
            {
                using var answer = await SendAsync(client, route.Method, path);
                var status = (int)answer.StatusCode;
                var allowed = expected is not (Join or Node) && Roles.TryParse(expected, out var minimum) && role >= minimum;
                if (allowed ? status is 401 or 403 : status != 403)
                {
                    failures.Add($"{route.Key} as {role.Name()}: {status} {await answer.Content.ReadAsStringAsync()}");
                }
            }
        }

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public async Task Forbidden_NamesTheRoleNeededAndTheCallersRole()
    {
        using var answer = await _people[Role.Viewer].PostAsync("/api/v1/nodes/some-node/drain", null);

        Assert.Equal(HttpStatusCode.Forbidden, answer.StatusCode);
        var problem = await answer.Content.ReadFromJsonAsync<Dictionary<string, object>>();
        Assert.Equal("operator", problem!["requiredRole"].ToString());
        Assert.Equal("viewer", problem["role"].ToString());
        Assert.Contains("needs the operator role", problem["detail"].ToString(), StringComparison.Ordinal);
    }

    private static bool IsDashboard(Route route) =>
        !route.Pattern.StartsWith("/api/", StringComparison.Ordinal) && route.Pattern is not ("/metrics" or "/status" or "/healthz" or "/readyz");

    private List<Route> Routes()
    {
        var routes = new List<Route>();
        foreach (var endpoint in _server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>())
        {
            var methods = endpoint.Metadata.GetMetadata<HttpMethodMetadata>()?.HttpMethods ?? ["ANY"];
            foreach (var method in methods)
            {
                routes.Add(new Route(method, endpoint.RoutePattern.RawText!, endpoint));
            }
        }

        return routes;
    }

    private static async Task<HttpResponseMessage> SendAsync(HttpClient client, string method, string path)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (method is "POST" or "PUT")
        {
            // An empty object: refused as invalid, or ignored; never a change.
            request.Content = new StringContent("{}", Encoding.UTF8, "application/json");
        }

        // Streams (cluster events) answer their headers first and then keep going: the headers are enough.
        return await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
    }

    /// <summary>A path for a pattern, with values that name nothing (the answer is then 404 or 400, never a change).</summary>
    private static string Fill(string pattern) => Parameter().Replace(pattern, static m => m.Groups[1].Value switch
    {
        "jobId" => "999999",
        "attempt" => "1",
        _ => "no-such-" + m.Groups[1].Value.ToLowerInvariant(),
    });

    [GeneratedRegex(@"\{(\w+)(?::\w+)?\}")]
    private static partial Regex Parameter();

    private sealed record Route(string Method, string Pattern, RouteEndpoint Endpoint)
    {
        public string Key => Method + " " + Pattern;
    }
}
