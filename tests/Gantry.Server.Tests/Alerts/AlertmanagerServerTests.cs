using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Alerts;

/// <summary>A running server delivering to a real Alertmanager 0.25: firing, silenced, resolved, and after a restart.</summary>
public sealed class AlertmanagerServerTests
{
    private const string Rules = """
        groups:
          - name: am-test
            rules:
              - alert: NoGpu99
                expr: absent(gantry_gpu_temperature_celsius{gpu="99"})
                labels:
                  severity: page
                annotations:
                  summary: "nobody has a GPU 99"
              - alert: QuietOne
                expr: absent(gantry_gpu_power_watts{gpu="99"})
        """;

    private static async Task AddRulesAsync(ServerHarness server, string yaml)
    {
        using var response = await server.Admin.PostAsJsonAsync("/api/v1/alerts/rules", new AddAlertRulesRequest { Yaml = yaml }, GantryJson.Default.AddAlertRulesRequest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
    }

    private static JsonElement? Find(JsonElement alerts, string name)
    {
        foreach (var alert in alerts.EnumerateArray())
        {
            if (alert.GetProperty("labels").TryGetProperty("alertname", out var n) && n.GetString() == name)
            {
                return alert;
            }
        }

        return null;
    }

    private static async Task<JsonElement> WaitAsync(Alertmanager am, Func<JsonElement, bool> until, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var alerts = await am.GetAlertsAsync();
            if (until(alerts))
            {
                return alerts;
            }

            Assert.True(DateTime.UtcNow < deadline, $"{what} within 30 s; Alertmanager holds {alerts}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task RuleFires_AlertmanagerHoldsItWithItsLabels_SilencedOneNeverArrives_ResolveEndsIt()
    {
        await using var am = await Alertmanager.StartAsync();
        await using var server = await ServerHarness.StartAsync(configure: o =>
        {
            o.Alertmanagers = [am.Url];
            o.AlertInterval = TimeSpan.FromSeconds(1);
            o.DisabledRules = ["all"];
            o.ExternalUrl = "http://dashboard.example:7070";
        });
        using (var silence = await server.Admin.PostAsJsonAsync(
            "/api/v1/alerts/silences",
            new CreateSilenceRequest { Matchers = ["alertname=QuietOne"], EndsAt = DateTimeOffset.UtcNow.AddHours(1), Author = "test", Comment = "keep it quiet" },
            GantryJson.Default.CreateSilenceRequest))
        {
            Assert.Equal(HttpStatusCode.Created, silence.StatusCode);
        }

        await AddRulesAsync(server, Rules);
        var alerts = await WaitAsync(am, a => Find(a, "NoGpu99") is not null, "NoGpu99 reaches Alertmanager");
        var alert = Find(alerts, "NoGpu99")!.Value;
        Assert.Equal("99", alert.GetProperty("labels").GetProperty("gpu").GetString());
        Assert.Equal("page", alert.GetProperty("labels").GetProperty("severity").GetString());
        Assert.Equal("nobody has a GPU 99", alert.GetProperty("annotations").GetProperty("summary").GetString());
        Assert.Equal("http://dashboard.example:7070/alerts?rule=NoGpu99", alert.GetProperty("generatorURL").GetString());
        Assert.Equal("active", alert.GetProperty("status").GetProperty("state").GetString());

        // Several evaluations later the silenced alert has still not been delivered, though it fires.
        var engine = server.App.Services.GetRequiredService<AlertEngine>();
        var evaluations = engine.Evaluations;
        while (engine.Evaluations < evaluations + 3)
        {
            await Task.Delay(100);
        }

        Assert.Null(Find(await am.GetAlertsAsync(), "QuietOne"));
        var quiet = Assert.Single(engine.ListAlerts().Alerts, a => a.Name == "QuietOne");
        Assert.Equal(AlertState.Firing, quiet.State);
        Assert.NotEmpty(quiet.SilencedBy);

        // Removing the rule resolves its alert: Alertmanager gets endsAt = now and stops listing it.
        using (var removed = await server.Admin.DeleteAsync("/api/v1/alerts/rules/am-test"))
        {
            Assert.Equal(HttpStatusCode.NoContent, removed.StatusCode);
        }

        await WaitAsync(am, a => Find(a, "NoGpu99") is null, "NoGpu99 resolves in Alertmanager");
        Assert.Contains("alertmanager_alerts_received_total{status=\"resolved\",version=\"v2\"}", await am.GetMetricsAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_NotificationsQueuedWhileAlertmanagerWasDown_DeliveredByTheNextRun()
    {
        var port = Tools.FreePort();
        var dataDir = Directory.CreateTempSubdirectory("gantry-alert-restart-").FullName;
        await using var store = await TestStore.CreateAsync();
        void Configure(Gantry.Server.Configuration.ServerOptions o)
        {
            o.Alertmanagers = [new Uri($"http://127.0.0.1:{port}")];
            o.DisabledRules = ["all"];
        }

        // First run: the rule fires (its for: 10m passes on a fake clock) while nothing listens.
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using (var first = await ServerHarness.StartAsync(time, dataDir, Configure, store))
        {
            await AddRulesAsync(first, Rules.Replace("severity: page", "severity: page\n        for: 10m", StringComparison.Ordinal));
            var engine = first.App.Services.GetRequiredService<AlertEngine>();
            engine.Evaluate();
            time.Advance(TimeSpan.FromMinutes(10));
            engine.Evaluate();
            var listed = engine.ListAlerts().Alerts;
            Assert.True(listed.Any(a => a.Name == "NoGpu99" && a.State == AlertState.Firing), string.Join("; ", listed.Select(a => $"{a.Name} {a.State} {a.ActiveAt:O}")) + " at " + time.GetUtcNow().ToString("O"));
            var metrics = await first.Admin.GetStringAsync("/metrics");
            Assert.Matches(@"(?m)^gantry_server_alert_notifications_queued [1-9]", metrics);
        }

        // Second run, Alertmanager up: the rule is pending again (for: 10m), so only the stored notification can bring it.
        await using var am = await Alertmanager.StartAsync(port);
        await using var second = await ServerHarness.StartAsync(dataDir: dataDir, configure: Configure, store: store);
        var alerts = await WaitAsync(am, a => Find(a, "NoGpu99") is not null, "the stored notification reaches Alertmanager");
        Assert.Equal("page", Find(alerts, "NoGpu99")!.Value.GetProperty("labels").GetProperty("severity").GetString());
        Assert.Equal(AlertState.Pending, second.App.Services.GetRequiredService<AlertEngine>().ListAlerts().Alerts.Single(a => a.Name == "NoGpu99").State);
    }
}
