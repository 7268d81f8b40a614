using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Server.Tests.Carbon;

/// <summary>The carbon feature in a real server: /api/v1/carbon, /metrics (through promtool), /status and the dashboard's overview.</summary>
public sealed partial class CarbonServerTests
{
    [Fact]
    public async Task StaticSource_NodeInAZone_ShowsInTheApiAndOnMetrics()
    {
        await using var server = await ServerHarness.StartAsync(configure: o => o.CarbonSource = "static:212.5");
        var (nodeId, node) = await server.RegisterAsync("box", 1, labels: new Dictionary<string, string> { ["zone"] = "GB" });
        var summary = new NodeSummary { SampledAt = DateTimeOffset.UtcNow, PowerWatts = 500, Gpus = [new GpuSummary { Index = 0, PowerWatts = 300, EnergyJoules = 1000 }] };
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        using var carbon = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/carbon"));
        var root = carbon.RootElement;
        Assert.True(root.GetProperty("configured").GetBoolean());
        Assert.Equal("static 212.5 g/kWh", root.GetProperty("source").GetString());
        var gb = Assert.Single(root.GetProperty("locations").EnumerateArray());
        Assert.Equal("GB", gb.GetProperty("location").GetString());
        Assert.Equal("fresh", gb.GetProperty("state").GetString());
        Assert.Equal(212.5, gb.GetProperty("gramsPerKwh").GetDouble());
        Assert.True(gb.GetProperty("horizon").GetDateTimeOffset() > DateTimeOffset.UtcNow.AddHours(23));
        Assert.Equal(JsonValueKind.Null, gb.GetProperty("warning").ValueKind);
        Assert.Empty(root.GetProperty("warnings").EnumerateArray());

        using var one = await server.Admin.GetAsync("/api/v1/carbon?location=GB");
        Assert.Equal(HttpStatusCode.OK, one.StatusCode);
        using var unknown = await server.Admin.GetAsync("/api/v1/carbon?location=FR");
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
        Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType!.MediaType);
        using var bad = await server.Admin.GetAsync("/api/v1/carbon?location=a%20b");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
        Assert.Contains("location", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var anonymous = await server.Anonymous.GetAsync("/api/v1/carbon");
        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);

        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains("gantry_server_carbon_intensity_grams_per_kwh{location=\"GB\"} 212.5\n", metrics, StringComparison.Ordinal);
        Assert.Contains("gantry_server_carbon_source_failing{location=\"GB\"} 0\n", metrics, StringComparison.Ordinal);
        var promtool = Tools.Require("promtool", "prometheus");
        using var process = Process.Start(new ProcessStartInfo(promtool, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.StandardInput.WriteAsync(metrics);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, output);
    }

    [Fact]
    public async Task NoSource_ApiSaysNotConfigured()
    {
        await using var server = await ServerHarness.StartAsync();

        using var carbon = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/carbon"));
        using var status = JsonDocument.Parse(await server.Admin.GetStringAsync("/status"));

        Assert.False(carbon.RootElement.GetProperty("configured").GetBoolean());
        Assert.Empty(carbon.RootElement.GetProperty("locations").EnumerateArray());
        Assert.False(status.RootElement.GetProperty("carbon").GetProperty("configured").GetBoolean());
        Assert.Empty(status.RootElement.GetProperty("warnings").EnumerateArray());
        Assert.DoesNotContain("gantry_server_carbon_", await server.Admin.GetStringAsync("/metrics"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task FailingSource_WarnsInStatusAndOnTheOverview_AndJobsStillRun()
    {
        await using var api = await FakeCarbonApi.StartAsync();
        api.Answer("/v3/carbon-intensity/forecast", 500, """{"status": "error", "message": "upstream down"}""");
        await using var server = await ServerHarness.StartAsync(configure: o =>
        {
            o.CarbonSource = "electricitymaps:" + api.Url;
            o.CarbonSecret = "token";
            o.CarbonLocation = "DE";
        });

        // The leader's worker fetches DE at once (it is --carbon-location) and fails.
        string[] warnings = [];
        for (var i = 0; i < 300 && warnings.Length == 0; i++)
        {
            using var status = JsonDocument.Parse(await server.Admin.GetStringAsync("/status"));
            Assert.True(status.RootElement.GetProperty("leader").GetBoolean());
            warnings = [.. status.RootElement.GetProperty("warnings").EnumerateArray().Select(w => w.GetString()!)];
            if (warnings.Length == 0)
            {
                await Task.Delay(100);
            }
        }

        var warning = Assert.Single(warnings);
        Assert.Contains("no usable forecast for DE (none fetched yet)", warning, StringComparison.Ordinal);
        Assert.Contains("500 Internal Server Error: upstream down", warning, StringComparison.Ordinal);
        Assert.Contains(api.Requests, r => r.Path == "/v3/carbon-intensity/forecast" && r.Headers["auth-token"] == "token");

        using var carbon = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/carbon?location=DE"));
        var de = Assert.Single(carbon.RootElement.GetProperty("locations").EnumerateArray());
        Assert.Equal("expired", de.GetProperty("state").GetString());
        Assert.Equal(JsonValueKind.Null, de.GetProperty("gramsPerKwh").ValueKind);
        Assert.Contains("gantry_server_carbon_source_failing{location=\"DE\"} 1\n", await server.Admin.GetStringAsync("/metrics"), StringComparison.Ordinal);

        // The overview shows it.
        using var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        using (var form = await browser.GetAsync("/login"))
        {
            var token = CsrfField().Match(await form.Content.ReadAsStringAsync());
            using var login = await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = server.AdminToken, ["returnUrl"] = "/", ["_csrf"] = WebUtility.HtmlDecode(token.Groups[1].Value) }));
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        }

        var overview = await browser.GetStringAsync("/");
        Assert.Contains("id=\"carbon-warnings\"", overview, StringComparison.Ordinal);
        Assert.Contains(WebUtility.HtmlEncode("no usable forecast for DE"), overview, StringComparison.Ordinal);

        // And its live updates carry them (the first update holds every region).
        using (var events = await browser.GetAsync("/ui/events?view=overview", HttpCompletionOption.ResponseHeadersRead))
        {
            Assert.Equal(HttpStatusCode.OK, events.StatusCode);
            using var reader = new StreamReader(await events.Content.ReadAsStreamAsync());
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? data = null;
            while (data is null && await reader.ReadLineAsync(timeout.Token) is { } line)
            {
                data = line.StartsWith("data: ", StringComparison.Ordinal) ? line : null;
            }

            Assert.NotNull(data);
            Assert.Contains("\"carbon-warnings\":", data, StringComparison.Ordinal);
            Assert.Contains("no usable forecast for DE", data, StringComparison.Ordinal);
        }

        // The queue does not stall: a job on a node in DE is placed as ever.
        var (nodeId, _) = await server.RegisterAsync("box", 1, labels: new Dictionary<string, string> { ["zone"] = "DE" });
        var ids = await server.SubmitAsync(new JobSubmission { Command = ["true"], Resources = new() { Gpus = 1 } });
        var job = await server.WaitForJobAsync(ids[0], j => j.NodeId is not null);
        Assert.Equal(nodeId, job.NodeId);
    }

    [Fact]
    public async Task NodeInANewZone_FirstHeartbeat_MakesTheLeaderFetchThatZone()
    {
        await using var api = await FakeCarbonApi.StartAsync();
        var hour = DateTimeOffset.UtcNow;
        hour = new DateTimeOffset(hour.Year, hour.Month, hour.Day, hour.Hour, 0, 0, TimeSpan.Zero);
        api.Answer("/v3/carbon-intensity/forecast", 200, $$"""{"zone": "FR", "forecast": [{"carbonIntensity": 41, "datetime": "{{hour:yyyy-MM-ddTHH:mm:ss}}Z"}, {"carbonIntensity": 44, "datetime": "{{hour.AddHours(1):yyyy-MM-ddTHH:mm:ss}}Z"}]}""");
        await using var server = await ServerHarness.StartAsync(configure: o =>
        {
            o.CarbonSource = "electricitymaps:" + api.Url;
            o.CarbonSecret = "token";
        });
        var (nodeId, node) = await server.RegisterAsync("paris", 1, labels: new Dictionary<string, string> { ["zone"] = "FR" });
        Assert.Empty(api.Requests);

        var summary = new NodeSummary { SampledAt = DateTimeOffset.UtcNow, PowerWatts = 400 };
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        JsonElement fr = default;
        for (var i = 0; i < 300; i++)
        {
            using var carbon = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/carbon"));
            fr = carbon.RootElement.GetProperty("locations").EnumerateArray().Single().Clone();
            if (fr.GetProperty("state").GetString() == "fresh")
            {
                break;
            }

            await Task.Delay(100);
        }

        Assert.Equal("FR", fr.GetProperty("location").GetString());
        Assert.Equal("fresh", fr.GetProperty("state").GetString());
        Assert.Equal(41, fr.GetProperty("gramsPerKwh").GetDouble());
        Assert.Equal("FR", Assert.Single(api.Requests).Query["zone"]);
    }

    [GeneratedRegex("name=\"_csrf\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();
}
