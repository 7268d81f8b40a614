using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Audit;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Audit;

/// <summary>
/// The audit log through the real API, on the store the tests run with (SQLite, or PostgreSQL with
/// <c>GANTRY_TEST_STORE=postgres</c>): each change is recorded once with its caller, address, target and
/// outcome; refused ones too; heartbeats are not; the filters; every mutating route is accounted for.
/// </summary>
public sealed class AuditTests
{
    private static readonly string[] Mutating = [HttpMethods.Post, HttpMethods.Put, HttpMethods.Patch, HttpMethods.Delete];

    private static async Task<IReadOnlyList<AuditEntry>> AuditAsync(ServerHarness server, string query = "")
    {
        var page = await server.Admin.GetFromJsonAsync("/api/v1/audit" + query, GantryJson.Default.PageAuditEntry);
        return page!.Items;
    }

    private static AuditEntry Single(IReadOnlyList<AuditEntry> entries, string action) =>
        Assert.Single(entries, e => e.Action == action);

    [Fact]
    public async Task Changes_EachRecordedOnce_WithActorAddressTargetAndOutcome()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("box", 2);
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = new NodeSummary { SampledAt = DateTimeOffset.UnixEpoch } }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        var jobId = (await server.SubmitAsync(new JobSubmission { Command = ["true"] }))[0];
        (await server.Admin.PostAsync($"/api/v1/jobs/{jobId}/cancel", null)).EnsureSuccessStatusCode();
        (await server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/drain", null)).EnsureSuccessStatusCode();
        (await server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/cordon", null)).EnsureSuccessStatusCode();
        (await server.Admin.PostAsJsonAsync("/api/v1/alerts/rules", new AddAlertRulesRequest { Yaml = "groups:\n  - name: team\n    rules:\n      - alert: Busy\n        expr: gantry_gpu_utilization_ratio > 0.9\n" }, GantryJson.Default.AddAlertRulesRequest)).EnsureSuccessStatusCode();
        (await server.Admin.PutAsJsonAsync($"/api/v1/nodes/{nodeId}/power-cap", new PowerCapRequest { GpuWatts = 250 }, GantryJson.Default.PowerCapRequest)).EnsureSuccessStatusCode();

        var entries = await AuditAsync(server);
        Assert.Equal(["power.cap", "alert.rule.create", "node.cordon", "node.drain", "job.cancel", "job.submit", "node.register"], entries.Select(e => e.Action));
        Assert.DoesNotContain(entries, e => e.Action.Contains("heartbeat", StringComparison.Ordinal));

        var register = Single(entries, "node.register");
        Assert.Equal(("join-token", null, nodeId, 200, "ok"), (register.Actor, register.Role, register.Target, register.Status, register.Outcome));
        foreach (var entry in entries.Where(e => e.Action != "node.register"))
        {
            Assert.Equal("admin", entry.Actor);
            Assert.Equal("admin", entry.Role);
            Assert.Equal("ok", entry.Outcome);
        }

        Assert.All(entries, e => Assert.Equal("127.0.0.1", e.Address));
        Assert.Equal((jobId.ToString(System.Globalization.CultureInfo.InvariantCulture), 201), (Single(entries, "job.submit").Target, Single(entries, "job.submit").Status));
        Assert.Equal(jobId.ToString(System.Globalization.CultureInfo.InvariantCulture), Single(entries, "job.cancel").Target);
        Assert.Equal(nodeId, Single(entries, "node.drain").Target);
        Assert.Equal(nodeId, Single(entries, "node.cordon").Target);
        Assert.Equal(nodeId, Single(entries, "power.cap").Target);
        Assert.Equal("team", Single(entries, "alert.rule.create").Target);
        Assert.True(entries.Zip(entries.Skip(1)).All(p => p.First.Id > p.Second.Id && p.First.Time >= p.Second.Time), "newest first");

        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains("gantry_server_audit_records_pending 0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("gantry_server_audit_records_dropped_total 0\n", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RefusedChange_IsRecordedAsRefused_AnonymousOneIsNot()
    {
        await using var server = await ServerHarness.StartAsync();
        using (var missing = await server.Admin.PostAsync("/api/v1/jobs/999/cancel", null))
        {
            Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        }

        using (var invalid = await server.Admin.PostAsync("/api/v1/jobs", new StringContent("{\"command\": []}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, invalid.StatusCode);
        }

        // The join token is known, but not for this: refused, by nobody the audit can name.
        using (var forbidden = await server.Join.PostAsync("/api/v1/nodes/n1/drain", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, forbidden.StatusCode);
        }

        using (var anonymous = await server.Client("not-a-token").PostAsync("/api/v1/jobs/1/cancel", null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        var entries = await AuditAsync(server);
        Assert.Equal(3, entries.Count);
        var cancel = Single(entries, "job.cancel");
        Assert.Equal(("admin", "999", 404, "refused"), (cancel.Actor, cancel.Target, cancel.Status, cancel.Outcome));
        var submit = Single(entries, "job.submit");
        Assert.Equal((null, 400, "refused"), (submit.Target, submit.Status, submit.Outcome));
        var drain = Single(entries, "node.drain");
        Assert.Equal(("unknown", "n1", 403, "refused"), (drain.Actor, drain.Target, drain.Status, drain.Outcome));
    }

    [Fact]
    public async Task Filters_SelectByActorActionAndSince_PageNewestFirst()
    {
        var time = new Gantry.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time);
        var (nodeId, _) = await server.RegisterAsync("box", 0);
        time.Advance(TimeSpan.FromDays(10));
        for (var i = 0; i < 3; i++)
        {
            (await server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/drain", null)).EnsureSuccessStatusCode();
            (await server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/undrain", null)).EnsureSuccessStatusCode();
        }

        Assert.Equal(7, (await AuditAsync(server)).Count);
        Assert.Equal(3, (await AuditAsync(server, "?action=node.drain")).Count);
        Assert.Equal(6, (await AuditAsync(server, "?actor=admin")).Count);
        Assert.Equal("node.register", Assert.Single(await AuditAsync(server, "?actor=join-token")).Action);
        Assert.Equal(6, (await AuditAsync(server, "?since=7d")).Count);
        Assert.Empty(await AuditAsync(server, "?actor=alice"));
        Assert.Equal(3, (await AuditAsync(server, "?since=7d&actor=admin&action=node.undrain")).Count);

        var first = (await server.Admin.GetFromJsonAsync("/api/v1/audit?limit=4", GantryJson.Default.PageAuditEntry))!;
        Assert.Equal(4, first.Items.Count);
        var rest = (await server.Admin.GetFromJsonAsync($"/api/v1/audit?limit=4&cursor={first.NextCursor}", GantryJson.Default.PageAuditEntry))!;
        Assert.Equal(3, rest.Items.Count);
        Assert.Null(rest.NextCursor);
        Assert.True(first.Items[^1].Id > rest.Items[0].Id);
    }

    [Fact]
    public async Task Retention_PurgesRecordsOlderThanIt()
    {
        var time = new Gantry.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time, configure: o => o.AuditRetention = TimeSpan.FromDays(30));
        var (nodeId, _) = await server.RegisterAsync("box", 0);
        Assert.Equal("node.register", Assert.Single(await AuditAsync(server)).Action);

        time.Advance(TimeSpan.FromDays(31));
        (await server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/drain", null)).EnsureSuccessStatusCode();
        await server.App.Services.GetRequiredService<AuditRetentionWorker>().PurgeAsync(CancellationToken.None);
        Assert.Equal("node.drain", Assert.Single(await AuditAsync(server)).Action);
    }

    [Theory]
    [InlineData("since=soon", "since")]
    [InlineData("since=-1d", "since")]
    [InlineData("actor=a%20b", "actor")]
    [InlineData("action=Job.Cancel", "action")]
    [InlineData("limit=0", "limit")]
    [InlineData("cursor=x", "cursor")]
    public async Task Query_BadValue_Is400NamingTheParameter(string query, string parameter)
    {
        await using var server = await ServerHarness.StartAsync();
        using var response = await server.Admin.GetAsync("/api/v1/audit?" + query);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(parameter, out _), problem.RootElement.ToString());
    }

    [Fact]
    public async Task Audit_NeedsTheAdminToken()
    {
        await using var server = await ServerHarness.StartAsync();
        using var response = await server.Anonymous.GetAsync("/api/v1/audit");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task EveryMutatingRoute_IsAuditedOrSaysWhyNot()
    {
        await using var server = await ServerHarness.StartAsync();
        var endpoints = server.App.Services.GetRequiredService<EndpointDataSource>().Endpoints.OfType<RouteEndpoint>().ToList();
        var mutating = endpoints
            .Where(e => e.Metadata.GetMetadata<IHttpMethodMetadata>()?.HttpMethods.Any(m => Mutating.Contains(m, StringComparer.OrdinalIgnoreCase)) == true)
            .ToList();
        Assert.True(mutating.Count >= 20, $"only {mutating.Count} mutating routes found");
        var unaccounted = mutating
            .Where(e => (e.Metadata.GetMetadata<AuditedAction>() is null) == (e.Metadata.GetMetadata<NotAudited>() is null))
            .Select(e => $"{string.Join(",", e.Metadata.GetMetadata<IHttpMethodMetadata>()!.HttpMethods)} {e.RoutePattern.RawText}")
            .ToList();
        Assert.True(unaccounted.Count == 0, "mutating routes with neither .Audited(…) nor .NotAudited(…), or both: " + string.Join("; ", unaccounted));

        // What agents send on their own credentials is no person's change.
        var notAudited = mutating.Where(e => e.Metadata.GetMetadata<NotAudited>() is not null).Select(e => e.RoutePattern.RawText).ToHashSet();
        Assert.Contains("/api/v1/nodes/{nodeId}/heartbeat", notAudited);
        Assert.Contains("/api/v1/jobs/{jobId:long}/attempts/{attempt:int}/events", notAudited);

        // Action names are lower-case words joined by dots, and a target names a route value the route has.
        foreach (var endpoint in mutating)
        {
            if (endpoint.Metadata.GetMetadata<AuditedAction>() is { } action)
            {
                Assert.Matches("^[a-z]+(\\.[a-z-]+)+$", action.Name);
                if (action.Target is { } target)
                {
                    Assert.NotNull(endpoint.RoutePattern.GetParameter(target));
                }
            }
        }
    }
}
