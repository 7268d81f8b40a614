using System.Net;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Auth;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The dashboard over real HTTP on Kestrel: login, sessions, forms and their checks, the live stream. (The browser tests drive it in Chromium.)</summary>
public sealed partial class DashboardTests : IAsyncLifetime
{
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Theory]
    [InlineData("/")]
    [InlineData("/nodes")]
    [InlineData("/nodes/n1")]
    [InlineData("/jobs")]
    [InlineData("/jobs/1")]
    [InlineData("/alerts")]
    public async Task Page_WithoutSession_RedirectsToLogin(string path)
    {
        using var browser = Browser();
        using var response = await browser.GetAsync(path);
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/login", response.Headers.Location!.AbsolutePath);
        Assert.Contains("returnUrl=" + Uri.EscapeDataString(path), response.Headers.Location.Query, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Login_WrongToken_ShowsErrorAndGivesNoSession()
    {
        using var browser = Browser();
        using var response = await PostFormAsync(browser, "/login", "/login", new() { ["token"] = "gadm_not-the-token" });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Contains("the token is not valid", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var after = await browser.GetAsync("/");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
    }

    [Fact]
    public async Task Login_JoinToken_IsRefused()
    {
        using var browser = Browser();
        using var response = await PostFormAsync(browser, "/login", "/login", new() { ["token"] = _server.JoinToken });
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Login_AdminToken_OpensEveryPageUntilLogout()
    {
        using var browser = Browser();
        await LogInAsync(browser, returnUrl: "/nodes");
        var (nodeId, _) = await _server.RegisterAsync("gpu-a", gpus: 2);

        foreach (var (path, marker) in new[] { ("/", "data-stat=\"gpus-total\">2<"), ("/nodes", $"data-node=\"{nodeId}\""), ($"/nodes/{nodeId}", "data-chart=\"utilization\""), ("/jobs", "id=\"submit-form\"") })
        {
            using var page = await browser.GetAsync(path);
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            Assert.Equal("text/html", page.Content.Headers.ContentType!.MediaType);
            Assert.Contains(marker, await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal("DENY", page.Headers.GetValues("X-Frame-Options").Single());
        }

        using var logout = await PostFormAsync(browser, "/", "/logout", []);
        Assert.Equal(HttpStatusCode.Redirect, logout.StatusCode);
        using var after = await browser.GetAsync("/");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
    }

    [Fact]
    public async Task NodePage_CordonedGpu_ShowsItsHealthAndTheHistory()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (nodeId, node) = await _server.RegisterAsync("gpu-a", gpus: 2);
        await _server.RegisterAsync("gpu-b", gpus: 2);
        var health = new NodeHealthReport
        {
            Gpus =
            [
                new GpuHealthReport { Index = 0, ThermalSlowdown = true },
                new GpuHealthReport { Index = 1, Xids = [new XidEvent { Xid = 48, At = DateTimeOffset.UtcNow, Source = XidEventSource.Nvml }] },
            ],
        };
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Health = health }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        var html = await browser.GetStringAsync($"/nodes/{nodeId}");

        Assert.Matches("class=\"gpu gpu-degraded\" data-gpu=\"0\">.*?<span class=\"gpu-health\" data-field=\"health\" title=\"thermal slowdown\">degraded</span>", html);
        Assert.Matches("class=\"gpu gpu-cordoned\" data-gpu=\"1\">.*?data-field=\"health\" title=\"XID 48 \\(double-bit ECC error\\): reset the GPU\">cordoned until reset</span>", html);
        Assert.Contains("id=\"health-history\"", html, StringComparison.Ordinal);
        Assert.Contains("<td>cordoned</td>", html, StringComparison.Ordinal);
        Assert.Contains("XID 48 at ", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Overview_Heartbeats_ShowPowerAndTokensPerJoule()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (nodeId, node) = await _server.RegisterAsync("gpu-a", gpus: 2);
        var summary = new NodeSummary
        {
            SampledAt = DateTimeOffset.UtcNow,
            PowerWatts = 1500,
            GeneratedTokensPerSecond = 300,
            Gpus = [new GpuSummary { Index = 0, PowerWatts = 400 }, new GpuSummary { Index = 1, PowerWatts = 200 }],
        };
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        using var page = await browser.GetAsync("/");
        var html = await page.Content.ReadAsStringAsync();
        Assert.Contains("data-stat=\"power-watts\">1.5 kW<", html, StringComparison.Ordinal);
        // 300 generated tokens/s over the 600 W of the GPUs that served them.
        Assert.Contains("data-stat=\"tokens-per-joule\">0.50<", html, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OneTimeLink_LogsInOnce()
    {
        var code = _server.App.Services.GetRequiredService<LoginLinks>().Create();
        using var first = Browser();
        using var ok = await first.GetAsync($"/login?once={Uri.EscapeDataString(code)}");
        Assert.Equal(HttpStatusCode.Redirect, ok.StatusCode);
        using var overview = await first.GetAsync("/");
        Assert.Equal(HttpStatusCode.OK, overview.StatusCode);

        using var second = Browser();
        using var again = await second.GetAsync($"/login?once={Uri.EscapeDataString(code)}");
        Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
        Assert.Contains("already used or has expired", await again.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Login_ReturnUrlOffSite_GoesHomeInstead()
    {
        using var browser = Browser();
        using var response = await PostFormAsync(browser, "/login", "/login", new() { ["token"] = _server.AdminToken, ["returnUrl"] = "//evil.example/" });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal("/", response.Headers.Location!.OriginalString);
    }

    [Fact]
    public async Task Drain_WithoutFormToken_IsRefusedAndChangesNothing()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (nodeId, _) = await _server.RegisterAsync("gpu-a", gpus: 1);
        using var forged = await browser.PostAsync($"/nodes/{nodeId}/drain", new FormUrlEncodedContent([]));
        Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        Assert.False(_server.Nodes.GetNode(nodeId)!.Drain);

        using var drained = await PostFormAsync(browser, $"/nodes/{nodeId}", $"/nodes/{nodeId}/drain", []);
        Assert.Equal(HttpStatusCode.Redirect, drained.StatusCode);
        Assert.True(_server.Nodes.GetNode(nodeId)!.Drain);
        using var undrained = await PostFormAsync(browser, $"/nodes/{nodeId}", $"/nodes/{nodeId}/undrain", []);
        Assert.False(_server.Nodes.GetNode(nodeId)!.Drain);
    }

    [Theory]
    [InlineData("", "0", "50", "", "Command:")]
    [InlineData("echo hi", "two", "50", "", "GPUs: must be a whole number")]
    [InlineData("echo hi", "65", "50", "", "GPUs: must be between 0 and 64")]
    [InlineData("echo hi", "0", "101", "", "Priority:")]
    [InlineData("echo hi", "0", "50", "soon", "Max run time:")]
    public async Task SubmitForm_BadField_ShowsErrorAndStoresNothing(string command, string gpus, string priority, string maxRuntime, string error)
    {
        using var browser = Browser();
        await LogInAsync(browser);
        using var response = await PostFormAsync(browser, "/jobs", "/jobs", new() { ["command"] = command, ["gpus"] = gpus, ["priority"] = priority, ["maxRuntime"] = maxRuntime });
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var html = await response.Content.ReadAsStringAsync();
        Assert.Contains("role=\"alert\"", html, StringComparison.Ordinal);
        Assert.Contains(WebUtility.HtmlEncode(error), html, StringComparison.Ordinal);
        Assert.Empty(_server.Jobs.ListJobs(null, null, 10).Items);
    }

    [Fact]
    public async Task SubmitForm_Valid_QueuesShellJobAndCancelWorks()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        using var response = await PostFormAsync(browser, "/jobs", "/jobs", new() { ["command"] = "echo one && sleep 60", ["name"] = "from-form", ["gpus"] = "1", ["priority"] = "70", ["maxRuntime"] = "10m", ["retries"] = "2" });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        var id = long.Parse(response.Headers.Location!.OriginalString["/jobs/".Length..], System.Globalization.CultureInfo.InvariantCulture);
        var job = await _server.JobAsync(id);
        Assert.Equal(["echo one && sleep 60"], job.Command);
        Assert.True(job.Shell);
        Assert.Equal(("from-form", 1, 70, 600.0, 2), (job.Name, job.Resources.Gpus, job.Priority, job.MaxRuntimeSeconds, job.Retries));

        using var page = await browser.GetAsync($"/jobs/{id}");
        Assert.Contains("id=\"cancel\"", await page.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        using var cancel = await PostFormAsync(browser, $"/jobs/{id}", $"/jobs/{id}/cancel", []);
        Assert.Equal(HttpStatusCode.Redirect, cancel.StatusCode);
        Assert.Equal(JobState.Cancelled, (await _server.JobAsync(id)).State);
    }

    [Theory]
    [InlineData("/jobs/999", HttpStatusCode.NotFound)]
    [InlineData("/jobs/abc", HttpStatusCode.NotFound)]
    [InlineData("/nodes/nope", HttpStatusCode.NotFound)]
    [InlineData("/jobs?state=sleeping", HttpStatusCode.BadRequest)]
    [InlineData("/jobs?before=x", HttpStatusCode.BadRequest)]
    public async Task Page_BadAddress_ExplainsInAPage(string path, HttpStatusCode status)
    {
        using var browser = Browser();
        await LogInAsync(browser);
        using var response = await browser.GetAsync(path);
        Assert.Equal(status, response.StatusCode);
        Assert.Contains("class=\"error\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task NodePage_UnknownRange_Is400()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (nodeId, _) = await _server.RegisterAsync("gpu-a", gpus: 1);
        using var response = await browser.GetAsync($"/nodes/{nodeId}?range=2y");
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("15m, 1h, 6h, 24h, 7d, 30d", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiveEvents_WithoutSession_Is401()
    {
        using var browser = Browser();
        using var response = await browser.GetAsync("/ui/events?view=nodes");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
    }

    [Theory]
    [InlineData("/ui/events", "view")]
    [InlineData("/ui/events?view=node", "id")]
    [InlineData("/ui/events?view=node&id=n1&range=1y", "range")]
    [InlineData("/ui/events?view=job&id=x", "id")]
    [InlineData("/ui/events?view=job&id=1&after=-1", "after")]
    [InlineData("/ui/events?view=jobs&state=2", "state")]
    public async Task LiveEvents_BadQuery_Is400NamingIt(string path, string field)
    {
        using var browser = Browser();
        await LogInAsync(browser);
        using var response = await browser.GetAsync(path);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains($"\"{field}\"", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task LiveEvents_Nodes_SendsRowsThenOnlyChanges()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (first, _) = await _server.RegisterAsync("gpu-a", gpus: 2);
        using var response = await browser.GetAsync("/ui/events?view=nodes", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());

        var initial = await NextEventAsync(reader);
        Assert.Equal("update", initial.Event);
        Assert.Contains($"\"order\":[\"{first}\"]", initial.Data, StringComparison.Ordinal);
        Assert.Contains($"data-node=\\\"{first}\\\"", initial.Data, StringComparison.Ordinal);

        var (second, _) = await _server.RegisterAsync("gpu-b", gpus: 1);
        var next = await NextEventAsync(reader);
        Assert.Contains($"data-node=\\\"{second}\\\"", next.Data, StringComparison.Ordinal);
        Assert.DoesNotContain($"data-node=\\\"{first}\\\"", next.Data, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Assets_AreServedWithTheirHash()
    {
        using var browser = Browser();
        using var login = await browser.GetAsync("/login");
        var html = await login.Content.ReadAsStringAsync();
        var css = CssLink().Match(html);
        Assert.True(css.Success, html);
        using var response = await browser.GetAsync(WebUtility.HtmlDecode(css.Groups[1].Value));
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/css", response.Content.Headers.ContentType!.MediaType);
        Assert.Contains("immutable", response.Headers.CacheControl!.ToString(), StringComparison.Ordinal);
        using var missing = await browser.GetAsync("/ui/assets/other.js");
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
    }

    // Power caps (docs/power.md).
    [Fact]
    public async Task NodePage_PowerCaps_ShowsTheEnforcedLimitTheCapAndARefusal()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (nodeId, node) = await _server.RegisterAsync("gpu-p", gpus: 2);
        using (var set = await _server.Admin.PutAsJsonAsync($"/api/v1/nodes/{nodeId}/power-cap", new PowerCapRequest { GpuWatts = 300 }, GantryJson.Default.PowerCapRequest))
        {
            Assert.Equal(HttpStatusCode.OK, set.StatusCode);
        }

        var report = new NodePowerReport
        {
            AppliedVersion = long.MaxValue,
            Gpus =
            [
                new GpuPowerState { Index = 0, LimitWatts = 300, MinWatts = 200, MaxWatts = 700, CapWatts = 300, WantedWatts = 300, PreviousWatts = 700, Source = PowerCapSource.Manual },
                new GpuPowerState { Index = 1, LimitWatts = 700, MinWatts = 200, MaxWatts = 700, WantedWatts = 300, Source = PowerCapSource.Manual, Error = "refused: NVML_ERROR_NO_PERMISSION (4)" },
            ],
        };
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Power = report }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        var html = await browser.GetStringAsync($"/nodes/{nodeId}");

        Assert.Contains("id=\"power-caps\"", html, StringComparison.Ordinal);
        Assert.Contains("By hand: 300 W per GPU", html, StringComparison.Ordinal);
        Assert.Matches("(?s)data-gpu=\"0\" data-refused=\"false\">.*?data-field=\"limit\">300 W</td>", html);
        Assert.Matches("(?s)data-gpu=\"1\" data-refused=\"true\">.*?data-field=\"error\">refused: NVML_ERROR_NO_PERMISSION \\(4\\)</td>", html);
    }

    private HttpClient Browser() =>
        new(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() })
        {
            BaseAddress = _server.Address,
            Timeout = TimeSpan.FromSeconds(60),
        };

    private async Task LogInAsync(HttpClient browser, string returnUrl = "/")
    {
        using var response = await PostFormAsync(browser, "/login", "/login", new() { ["token"] = _server.AdminToken, ["returnUrl"] = returnUrl });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        Assert.Equal(returnUrl, response.Headers.Location!.OriginalString);
    }

    /// <summary>Loads <paramref name="page"/> for its form token, then posts <paramref name="fields"/> with it, as a browser would.</summary>
    internal static async Task<HttpResponseMessage> PostFormAsync(HttpClient browser, string page, string action, Dictionary<string, string> fields)
    {
        using var form = await browser.GetAsync(page);
        var token = CsrfField().Match(await form.Content.ReadAsStringAsync());
        Assert.True(token.Success, $"{page} has no form token");
        fields["_csrf"] = WebUtility.HtmlDecode(token.Groups[1].Value);
        return await browser.PostAsync(action, new FormUrlEncodedContent(fields));
    }

    private static async Task<(string Event, string Data)> NextEventAsync(StreamReader reader)
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        string? name = null;
        string? data = null;
        while (await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                name = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                data = line["data: ".Length..];
            }
            else if (line.Length == 0 && name is not null && data is not null)
            {
                return (name, data);
            }
        }

        throw new InvalidOperationException("the event stream ended");
    }

    [GeneratedRegex("name=\"_csrf\" value=\"([^\"]+)\"")]
    private static partial Regex CsrfField();

    [GeneratedRegex("<link rel=\"stylesheet\" href=\"([^\"]+)\"")]
    private static partial Regex CssLink();
}
