using System.Buffers;
using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gantry.Core.Protocol;
using Gantry.Server.Anomalies;
using Gantry.Telemetry.Exposition;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Anomalies;

/// <summary><c>GET /api/v1/anomalies</c>, the <c>/metrics</c> family and the node page through a real server: heartbeats in, scores out.</summary>
public sealed partial class AnomalyEndpointTests
{
    // The current minute: the dashboard's session cookie expires by the fake clock, the test's cookie jar by the real one.
    private static readonly DateTimeOffset Start = new(DateTimeOffset.UtcNow.UtcTicks / TimeSpan.TicksPerMinute * TimeSpan.TicksPerMinute, TimeSpan.Zero);

    private static async Task HeartbeatAsync(HttpClient node, string nodeId, NodeSummary summary)
    {
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Eight busy GPUs, GPU 3 twelve degrees hotter than the others, heartbeats a minute apart.</summary>
    private static async Task<(string NodeId, ServerHarness Server)> HotGpuAsync(FakeTimeProvider clock, int minutes)
    {
        var server = await ServerHarness.StartAsync(clock, configure: o => o.AnomalyHistory = AnomalyHistory.All);
        var (nodeId, node) = await server.RegisterAsync("hot", 8);
        for (var minute = 0; minute < minutes; minute++)
        {
            if (minute > 0)
            {
                clock.Advance(TimeSpan.FromMinutes(1));
            }

            var gpus = Enumerable.Range(0, 8).Select(i => (0.9, i == 3 ? 72.0 : 60 + (0.1 * i), 650.0)).ToArray();
            await HeartbeatAsync(node, nodeId, AnomalyRegistryTests.Summary(clock.GetUtcNow(), 0.3, 6000, gpus));
        }

        return (nodeId, server);
    }

    [Fact]
    public async Task Anomalies_HeartbeatsAMinuteApart_ListsThePeerScoreWithTheNodeName()
    {
        var clock = new FakeTimeProvider(Start);
        var (nodeId, server) = await HotGpuAsync(clock, minutes: 7);
        await using var _ = server;

        // The writer scores in the background: wait for the sixth minute's scores.
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        AnomaliesResponse answer;
        while (true)
        {
            answer = (await server.Admin.GetFromJsonAsync($"/api/v1/anomalies?node={nodeId}&min=0", GantryJson.Default.AnomaliesResponse))!;
            if (answer.Anomalies.Any(a => a.Minute == Start.AddMinutes(5)))
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "the sixth minute was not scored within 30s");
            await Task.Delay(20);
        }

        var top = answer.Anomalies[0];
        Assert.Equal((nodeId, "hot", 3, "peer_temperature_celsius", (string?)null), (top.NodeId, top.NodeName, top.Gpu, top.Metric, top.Term));
        Assert.True(top.Score >= 0.9, $"GPU 3 against its peers: {top.Score}");
        Assert.Equal(Start.AddMinutes(5), top.Minute);
        Assert.True(answer.Anomalies.Skip(1).All(a => a.Score < 0.1), "only GPU 3 stands out");

        // Per node 2 series, per GPU 4: all scored.
        Assert.Equal(2 + (8 * 4), answer.Total);
        Assert.Equal(answer.Total, answer.Anomalies.Count);
        Assert.Equal(answer.Anomalies.OrderByDescending(a => a.Score).Select(a => a.Score), answer.Anomalies.Select(a => a.Score));

        // The default: alarms only, of every node; limit cuts the list, total still counts them.
        var alarms = (await server.Admin.GetFromJsonAsync("/api/v1/anomalies", GantryJson.Default.AnomaliesResponse))!;
        Assert.Equal(3, Assert.Single(alarms.Anomalies).Gpu);
        var limited = (await server.Admin.GetFromJsonAsync("/api/v1/anomalies?min=0&limit=5", GantryJson.Default.AnomaliesResponse))!;
        Assert.Equal(5, limited.Anomalies.Count);
        Assert.Equal(2 + (8 * 4), limited.Total);
    }

    [Fact]
    public async Task Metrics_AnomalyFamily_OnlyScoresAboveZeroAndPassesPromtool()
    {
        var promtool = Tools.Require("promtool", "prometheus");
        var clock = new FakeTimeProvider(Start);
        var (nodeId, server) = await HotGpuAsync(clock, minutes: 7);
        await using var _ = server;
        var registry = server.App.Services.GetRequiredService<AnomalyRegistry>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (registry.ScoresOf(nodeId)?.Minute != Start.AddMinutes(5))
        {
            Assert.True(DateTime.UtcNow < deadline, "the sixth minute was not scored within 30s");
            await Task.Delay(20);
        }

        var buffer = new ArrayBufferWriter<byte>();
        AnomalyMetrics.Render(new PrometheusTextWriter(buffer), registry, server.Nodes);
        var text = Encoding.UTF8.GetString(buffer.WrittenSpan);

        Assert.Contains($"gantry_server_anomaly_score{{node=\"hot\",node_id=\"{nodeId}\",gpu=\"3\",metric=\"peer_temperature_celsius\"}} 1\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("} 0\n", text, StringComparison.Ordinal);
        using var process = Process.Start(new ProcessStartInfo(promtool, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        var lint = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, lint);
    }

    [Fact]
    public async Task NodePage_HotGpu_ShowsItsHighestAnomaly()
    {
        var clock = new FakeTimeProvider(Start);
        var (nodeId, server) = await HotGpuAsync(clock, minutes: 7);
        await using var _ = server;
        var registry = server.App.Services.GetRequiredService<AnomalyRegistry>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (registry.ScoresOf(nodeId)?.Minute != Start.AddMinutes(5))
        {
            Assert.True(DateTime.UtcNow < deadline, "the sixth minute was not scored within 30s");
            await Task.Delay(20);
        }

        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = server.Address };
        var login = CsrfField().Match(await browser.GetStringAsync("/login"));
        Assert.True(login.Success, "the login page has a form token");
        using (var loggedIn = await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = server.AdminToken, ["_csrf"] = WebUtility.HtmlDecode(login.Groups[1].Value) })))
        {
            Assert.Equal(HttpStatusCode.Redirect, loggedIn.StatusCode);
        }

        var html = await browser.GetStringAsync($"/nodes/{nodeId}");

        Assert.Matches("<p class=\"health-note\" data-gpu=\"3\"><strong>GPU 3</strong>\\s*<span data-field=\"anomaly\">anomaly 1.00 \\(temperature vs peers\\)</span>", html);
        Assert.Single(Regex.Matches(html, "data-field=\"anomaly\""));
    }

    [GeneratedRegex("name=\"_csrf\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();

    [Fact]
    public async Task Anomalies_BadInput_ProblemNamingTheParameter()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("bad", 1);
        (string Query, HttpStatusCode Status, string? Parameter, string Message)[] cases =
        [
            ("min=abc", HttpStatusCode.BadRequest, "min", "from 0 to 1"),
            ("min=1.5", HttpStatusCode.BadRequest, "min", "from 0 to 1"),
            ("min=-0.1", HttpStatusCode.BadRequest, "min", "from 0 to 1"),
            ("min=NaN", HttpStatusCode.BadRequest, "min", "from 0 to 1"),
            ("node=Not_An_Id", HttpStatusCode.BadRequest, "node", "node id"),
            ("limit=0", HttpStatusCode.BadRequest, "limit", "1 to 1000"),
            ("node=nowhere", HttpStatusCode.NotFound, null, "nowhere"),
        ];

        foreach (var (query, status, parameter, message) in cases)
        {
            using var response = await server.Admin.GetAsync("/api/v1/anomalies?" + query);
            Assert.True(status == response.StatusCode, $"{query}: {response.StatusCode}");
            Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
            using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
            var detail = problem.RootElement.GetProperty("detail").GetString()!;
            Assert.Contains(message, detail, StringComparison.Ordinal);
            if (parameter is not null)
            {
                Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(parameter, out _), $"{query}: the problem names {parameter}: {detail}");
            }
        }

        // A known node without scores yet, and the edges of min: empty lists.
        foreach (var query in new[] { $"node={nodeId}", "min=0", "min=1", "min=0.5&limit=1000" })
        {
            var answer = (await server.Admin.GetFromJsonAsync("/api/v1/anomalies?" + query, GantryJson.Default.AnomaliesResponse))!;
            Assert.Empty(answer.Anomalies);
            Assert.Equal(0, answer.Total);
        }

        using var anonymous = await server.Anonymous.GetAsync("/api/v1/anomalies");
        using var asNode = await node.GetAsync("/api/v1/anomalies");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, asNode.StatusCode);
    }
}
