using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Alerts;

/// <summary>Alerting in a running server: built-in rules over heartbeats and node states, and the API's checks.</summary>
public sealed class AlertServerTests
{
    private static GpuSummary Gpu(int index, double celsius) => new() { Index = index, TemperatureCelsius = celsius, Utilization = 0.5, PowerWatts = 300 };

    private static async Task HeartbeatAsync(HttpClient node, string nodeId, DateTimeOffset at, params GpuSummary[] gpus)
    {
        var summary = new NodeSummary { SampledAt = at, PowerWatts = 900, PowerEnvelopeWatts = 800, Gpus = gpus };
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<AlertsResponse> AlertsAsync(ServerHarness server, string query = "") =>
        (await server.Admin.GetFromJsonAsync("/api/v1/alerts" + query, GantryJson.Default.AlertsResponse))!;

    [Fact]
    public async Task BuiltInRules_HotGpuAndPowerEnvelope_FireAfterTheirForWithTheSeriesLabels()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time, configure: o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMinutes(5);
            o.DownAfter = TimeSpan.FromMinutes(11);
        });
        var engine = server.App.Services.GetRequiredService<AlertEngine>();
        var (nodeId, node) = await server.RegisterAsync("a", 2);
        for (var minute = 0; minute <= 5; minute++)
        {
            await HeartbeatAsync(node, nodeId, time.GetUtcNow(), Gpu(0, 91), Gpu(1, 60));
            engine.Evaluate();
            if (minute < 5)
            {
                var pending = await AlertsAsync(server);
                Assert.All(pending.Alerts, a => Assert.Equal(AlertState.Pending, a.State));
                time.Advance(TimeSpan.FromMinutes(1));
            }
        }

        var firing = await AlertsAsync(server, "?state=firing");
        var hot = Assert.Single(firing.Alerts, a => a.Name == "GantryGpuHot");
        Assert.Equal("gantry-builtin", hot.Group);
        Assert.Equal("a", hot.Labels["node"]);
        Assert.Equal(nodeId, hot.Labels["node_id"]);
        Assert.Equal("0", hot.Labels["gpu"]);
        Assert.Equal("GPU-a-0", hot.Labels["uuid"]);
        Assert.Equal("true", hot.Labels["simulated"]);
        Assert.Equal("warning", hot.Labels["severity"]);
        Assert.Equal("GPU 0 of a is at 91 °C", hot.Annotations["summary"]);
        Assert.Single(firing.Alerts, a => a.Name == "GantryNodePowerAboveEnvelope");

        var rules = (await server.Admin.GetFromJsonAsync("/api/v1/alerts/rules", GantryJson.Default.AlertRulesResponse))!;
        Assert.Equal(1, rules.Groups.Single(g => g.Origin == "builtIn").Rules.Single(r => r.Name == "GantryGpuHot").Firing);

        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains("gantry_server_alerts_firing{alertname=\"GantryGpuHot\"} 1", metrics, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuiltInRules_GpuHotterThanItsPeers_FiresFromTheAnomalyScore()
    {
        var start = new DateTimeOffset(DateTimeOffset.UtcNow.UtcTicks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);
        var time = new FakeTimeProvider(start);
        await using var server = await ServerHarness.StartAsync(time, configure: o =>
        {
            o.HeartbeatInterval = TimeSpan.FromMinutes(5);
            o.DownAfter = TimeSpan.FromMinutes(11);
        });
        var engine = server.App.Services.GetRequiredService<AlertEngine>();
        var (nodeId, node) = await server.RegisterAsync("hot", 8);
        for (var minute = 0; minute <= 16; minute++)
        {
            if (minute > 0)
            {
                time.Advance(TimeSpan.FromMinutes(1));
            }

            // Eight busy GPUs; GPU 3 runs twelve degrees hotter than its siblings at the same load.
            var gpus = Enumerable.Range(0, 8).Select(i => (0.9, i == 3 ? 72.0 : 60 + (0.1 * i), 650.0)).ToArray();
            var summary = Anomalies.AnomalyRegistryTests.Summary(time.GetUtcNow(), 0.3, 6000, gpus);
            using (var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest))
            {
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            if (minute > 0)
            {
                // The telemetry writer scores the minute that just ended in the background.
                var scored = start.AddMinutes(minute - 1);
                var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
                while (!(await server.Admin.GetFromJsonAsync($"/api/v1/anomalies?node={nodeId}&min=0", GantryJson.Default.AnomaliesResponse))!.Anomalies.Any(a => a.Minute == scored))
                {
                    Assert.True(DateTime.UtcNow < deadline, $"minute {minute - 1} was not scored within 30 s");
                    await Task.Delay(20);
                }
            }

            engine.Evaluate();
        }

        var alert = Assert.Single((await AlertsAsync(server, "?state=firing")).Alerts, a => a.Name == "GantryGpuUnlikeItsPeers");
        Assert.Equal("3", alert.Labels["gpu"]);
        Assert.Equal("peer_temperature_celsius", alert.Labels["metric"]);
        Assert.Equal("GPU-hot-3", alert.Labels["uuid"]);
        Assert.True(alert.Value > 0.9, $"score {alert.Value}");
        Assert.StartsWith("GPU 3 of hot is off its peers (peer_temperature_celsius, score ", alert.Annotations["summary"], StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuiltInRules_NodeDown_Fires()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time);
        var engine = server.App.Services.GetRequiredService<AlertEngine>();
        var (nodeId, _) = await server.RegisterAsync("b", 1);
        time.Advance(TimeSpan.FromSeconds(6));
        server.SweepLiveness();
        engine.Evaluate();

        var down = Assert.Single((await AlertsAsync(server)).Alerts, a => a.Name == "GantryNodeDown");
        Assert.Equal(AlertState.Firing, down.State);
        Assert.Equal(nodeId, down.Labels["node_id"]);
        Assert.Equal("b is down", down.Annotations["summary"]);
    }

    [Fact]
    public async Task Api_BadInput_ProblemsNamingWhatIsWrong_StateUntouched()
    {
        await using var server = await ServerHarness.StartAsync();
        async Task<JsonElement> ProblemAsync(HttpResponseMessage response, HttpStatusCode status)
        {
            Assert.Equal(status, response.StatusCode);
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            return await response.Content.ReadFromJsonAsync<JsonElement>();
        }

        var bad = new AddAlertRulesRequest { Yaml = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up > 1 + 2\n" };
        using (var response = await server.Admin.PostAsJsonAsync("/api/v1/alerts/rules", bad, GantryJson.Default.AddAlertRulesRequest))
        {
            var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.StartsWith("line 5, column ", problem.GetProperty("errors").GetProperty("yaml")[0].GetString(), StringComparison.Ordinal);
        }

        using (var response = await server.Admin.PostAsJsonAsync("/api/v1/alerts/rules", new AddAlertRulesRequest { Yaml = "groups:\n  - name: gantry-builtin\n    rules: []\n" }, GantryJson.Default.AddAlertRulesRequest))
        {
            await ProblemAsync(response, HttpStatusCode.BadRequest);
        }

        using (var response = await server.Admin.DeleteAsync("/api/v1/alerts/rules/gantry-builtin"))
        {
            await ProblemAsync(response, HttpStatusCode.Conflict);
        }

        using (var response = await server.Admin.DeleteAsync("/api/v1/alerts/rules/nope"))
        {
            await ProblemAsync(response, HttpStatusCode.NotFound);
        }

        using (var response = await server.Admin.GetAsync("/api/v1/alerts?state=burning"))
        {
            var problem = await ProblemAsync(response, HttpStatusCode.BadRequest);
            Assert.Contains("burning", problem.GetProperty("errors").GetProperty("state")[0].GetString(), StringComparison.Ordinal);
        }

        var silence = new CreateSilenceRequest { Matchers = ["node=~.*", "gpu"], EndsAt = DateTimeOffset.UtcNow.AddMinutes(-1), Author = "", Comment = "c" };
        using (var response = await server.Admin.PostAsJsonAsync("/api/v1/alerts/silences", silence, GantryJson.Default.CreateSilenceRequest))
        {
            var errors = (await ProblemAsync(response, HttpStatusCode.BadRequest)).GetProperty("errors");
            Assert.Contains("'gpu' is not a matcher", errors.GetProperty("matchers")[0].GetString(), StringComparison.Ordinal);
            Assert.True(errors.TryGetProperty("endsAt", out _));
            Assert.True(errors.TryGetProperty("author", out _));
        }

        using (var response = await server.Anonymous.GetAsync("/api/v1/alerts"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        var rules = (await server.Admin.GetFromJsonAsync("/api/v1/alerts/rules", GantryJson.Default.AlertRulesResponse))!;
        Assert.Equal(["gantry-builtin"], rules.Groups.Select(g => g.Name));
        Assert.Empty((await server.Admin.GetFromJsonAsync("/api/v1/alerts/silences", GantryJson.Default.SilencesResponse))!.Silences);
    }

    [Fact]
    public async Task Api_RulesAndSilences_AddListExportExpireRemove()
    {
        await using var server = await ServerHarness.StartAsync();
        var yaml = "groups:\n  - name: team\n    rules:\n      - alert: Busy\n        expr: avg by (node) (gantry_gpu_utilization_ratio) > 0.9\n        for: 10m\n";
        using (var response = await server.Admin.PostAsJsonAsync("/api/v1/alerts/rules", new AddAlertRulesRequest { Yaml = yaml }, GantryJson.Default.AddAlertRulesRequest))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            Assert.Equal(["team"], (await response.Content.ReadFromJsonAsync(GantryJson.Default.AddAlertRulesResponse))!.Groups);
        }

        var export = await server.Admin.GetStringAsync("/api/v1/alerts/rules/export");
        Assert.Contains("name: \"team\"", export, StringComparison.Ordinal);
        Assert.Contains("GantryGpuHot", export, StringComparison.Ordinal);

        var request = new CreateSilenceRequest { Matchers = ["alertname=Busy", "node=\"a b\""], EndsAt = DateTimeOffset.UtcNow.AddHours(2), Author = "ops", Comment = "upgrade" };
        SilenceInfo created;
        using (var response = await server.Admin.PostAsJsonAsync("/api/v1/alerts/silences", request, GantryJson.Default.CreateSilenceRequest))
        {
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            created = (await response.Content.ReadFromJsonAsync(GantryJson.Default.SilenceInfo))!;
        }

        Assert.Equal("active", created.Status);
        Assert.Equal(["alertname=\"Busy\"", "node=\"a b\""], created.Matchers);
        using (var response = await server.Admin.DeleteAsync($"/api/v1/alerts/silences/{created.Id}"))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Equal("expired", (await response.Content.ReadFromJsonAsync(GantryJson.Default.SilenceInfo))!.Status);
        }

        Assert.Equal("expired", Assert.Single((await server.Admin.GetFromJsonAsync("/api/v1/alerts/silences", GantryJson.Default.SilencesResponse))!.Silences).Status);
        using (var response = await server.Admin.DeleteAsync("/api/v1/alerts/rules/team"))
        {
            Assert.Equal(HttpStatusCode.NoContent, response.StatusCode);
        }
    }
}
