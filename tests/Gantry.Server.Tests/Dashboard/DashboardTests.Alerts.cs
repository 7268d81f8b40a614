using System.Net;
using System.Text.Json;
using Gantry.Server.Alerts.Silences;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The alerts page over HTTP: the silence form and the expire button (PRG), their checks, and its live stream.</summary>
public sealed partial class DashboardTests
{
    private SilenceBook Silences => _server.App.Services.GetRequiredService<SilenceBook>();

    [Fact]
    public async Task AlertsPage_SilenceFormThenExpire_EachRedirectsBackToThePage()
    {
        using var browser = Browser();
        await LogInAsync(browser, returnUrl: "/alerts");

        using var added = await PostFormAsync(browser, "/alerts", "/alerts/silences", new()
        {
            ["matchers"] = "alertname=GantryGpuHot\nnode=~\"gpu-0[1-4]\"",
            ["duration"] = "2h",
            ["comment"] = "fan swap",
        });
        Assert.Equal(HttpStatusCode.Redirect, added.StatusCode);
        Assert.Equal("/alerts", added.Headers.Location!.OriginalString);
        var silence = Assert.Single(Silences.List().Silences);
        Assert.Equal(["alertname=\"GantryGpuHot\"", "node=~\"gpu-0[1-4]\""], silence.Matchers);
        Assert.Equal("admin", silence.Author); // the signed-in person
        Assert.Equal(TimeSpan.FromHours(2), silence.EndsAt - silence.StartsAt);

        using var page = await browser.GetAsync("/alerts");
        var html = await page.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, page.StatusCode);
        Assert.Contains($"data-silence=\"{silence.Id}\"", html, StringComparison.Ordinal);
        Assert.Contains($"action=\"/alerts/silences/{silence.Id}/expire\"", html, StringComparison.Ordinal);
        Assert.Contains("id=\"rules\"", html, StringComparison.Ordinal);

        using var expired = await PostFormAsync(browser, "/alerts", $"/alerts/silences/{silence.Id}/expire", []);
        Assert.Equal(HttpStatusCode.Redirect, expired.StatusCode);
        Assert.Equal("expired", Silences.Get(silence.Id)!.Status);
        using var unknown = await PostFormAsync(browser, "/alerts", "/alerts/silences/0000000000000000/expire", []);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
    }

    [Theory]
    [InlineData("node~gpu-01", "1h", "Matchers: ", "matchers")]
    [InlineData("alertname=X", "soon", "Duration: must be a duration", "duration")]
    [InlineData("", "1h", "Matchers: enter at least one", "matchers")]
    [InlineData("a=~\".*\"", "1h", "Matchers: at least one matcher must not match an empty label", "matchers")]
    public async Task AlertsPage_BadSilence_FormAgainWithTheErrorAndWhatWasTyped(string matchers, string duration, string error, string field)
    {
        using var browser = Browser();
        await LogInAsync(browser, returnUrl: "/alerts");

        using var response = await PostFormAsync(browser, "/alerts", "/alerts/silences", new() { ["matchers"] = matchers, ["duration"] = duration, ["comment"] = "keep me" });

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        var html = WebUtility.HtmlDecode(await response.Content.ReadAsStringAsync());
        Assert.Contains(error, html, StringComparison.Ordinal);
        Assert.Contains("value=\"keep me\"", html, StringComparison.Ordinal);
        Assert.Matches($"id=\"{(field == "matchers" ? "matchers" : "duration")}\"[^>]*aria-invalid=\"true\"", html);
        Assert.Empty(Silences.List().Silences);
    }

    [Fact]
    public async Task AlertsPage_FormWithoutToken_Refused()
    {
        using var browser = Browser();
        await LogInAsync(browser);

        using var response = await browser.PostAsync("/alerts/silences", new FormUrlEncodedContent(new Dictionary<string, string> { ["matchers"] = "alertname=X", ["duration"] = "1h", ["comment"] = "c" }));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Empty(Silences.List().Silences);
    }

    [Fact]
    public async Task LiveStream_AlertsView_SendsTheAlertsSilencesRulesAndNavigationRegions()
    {
        using var browser = Browser();
        await LogInAsync(browser);

        using var response = await browser.GetAsync("/ui/events?view=alerts", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var (name, data) = await NextEventAsync(reader);

        Assert.Equal("update", name);
        using var update = JsonDocument.Parse(data);
        var regions = update.RootElement.GetProperty("regions");
        foreach (var region in new[] { "alert-count", "alerts", "silences", "rules", "nav-alerts" })
        {
            Assert.True(regions.TryGetProperty(region, out _), region);
        }

        Assert.Contains("GantryGpuHot", regions.GetProperty("rules").GetString(), StringComparison.Ordinal);
    }
}
