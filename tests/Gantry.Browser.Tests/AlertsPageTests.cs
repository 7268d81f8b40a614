using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Gantry.Core.Protocol;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>The alerts page against gantry dev (rules evaluated every second): alerts, silences through the page's forms, rules.</summary>
public sealed class AlertsPageTests(BrowserFixture browser, DevServerFixture dev) : IClassFixture<BrowserFixture>, IClassFixture<DevServerFixture>
{
    private async Task<IPage> AlertsPageAsync()
    {
        var page = await browser.NewPageAsync(dev.Url);
        await Dashboard.LoginAsync(page, dev.AdminToken, "/alerts");
        Assert.Equal("/alerts", Dashboard.PathOf(page));
        return page;
    }

    /// <summary>Adds a rule group through the API whose alert fires at the first evaluation: no node has a GPU 99.</summary>
    private async Task AddFiringRuleAsync(string group, string alert)
    {
        var yaml = $$"""
            groups:
              - name: {{group}}
                rules:
                  - alert: {{alert}}
                    expr: absent(gantry_gpu_temperature_celsius{gpu="99"})
                    for: 0s
                    labels:
                      severity: warning
                      team: ml-platform
                    annotations:
                      summary: "GPU 99 reports no temperature"
                      description: "Added by the browser tests."
            """;
        using var response = await dev.Api.PostAsJsonAsync("/api/v1/alerts/rules", new AddAlertRulesRequest { Yaml = yaml }, GantryJson.Default.AddAlertRulesRequest);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
    }

    [BrowserFact]
    public async Task AlertsPage_FiringRule_ListedThenSilencedAndExpiredThroughThePage()
    {
        await AddFiringRuleAsync("browser-firing", "BrowserGpu99Missing");
        var page = await AlertsPageAsync();
        await Dashboard.WaitLiveAsync(page);

        // Listed as firing with its labels; live, should the first evaluation come after the page loaded.
        var row = page.Locator("table#alerts tr[data-alert=\"BrowserGpu99Missing\"]");
        await Expect(row.Locator("td[data-field=\"state\"] .state")).ToHaveTextAsync(Dashboard.Word("firing"));
        await Expect(row.Locator("[data-label=\"severity\"]")).ToHaveTextAsync("severity=warning");
        await Expect(row.Locator("[data-label=\"team\"]")).ToHaveTextAsync("team=ml-platform");
        await Expect(row.Locator("[data-label=\"alertname\"]")).ToHaveCountAsync(0);
        await Expect(row.Locator("td[data-field=\"summary\"]")).ToContainTextAsync("GPU 99 reports no temperature");
        await Expect(row.Locator("td[data-field=\"value\"]")).ToHaveTextAsync(Dashboard.Word("1"));
        await Expect(row.Locator("td[data-field=\"since\"] time")).ToHaveTextAsync(new Regex(@"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$"));
        await Expect(row.Locator("[data-field=\"silenced\"]")).ToHaveCountAsync(0);
        await Expect(page.Locator("nav a[href=\"/alerts\"] [data-field=\"firing-alerts\"]")).ToHaveTextAsync(new Regex(@"^\s*[1-9]\d*\s*$"));
        var rule = page.Locator("table#rules tr[data-group=\"browser-firing\"][data-rule=\"BrowserGpu99Missing\"]");
        await Expect(rule.Locator("[data-field=\"origin\"]")).ToHaveTextAsync("api");
        await Expect(rule.Locator("[data-field=\"expr\"]")).ToContainTextAsync("absent(");
        await Expect(rule.Locator("[data-field=\"firing\"]")).ToHaveTextAsync(Dashboard.Word("1"));

        // Silenced through the form: the page comes back (PRG) with the alert marked and the silence listed.
        await page.Locator("textarea#matchers").FillAsync("alertname=BrowserGpu99Missing\nteam=~\"ml-.*\"");
        await page.Locator("input#duration").FillAsync("1h");
        await page.Locator("input#comment").FillAsync("browser test");
        await page.Locator("button#add-silence").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/alerts");
        await Expect(row.Locator("[data-field=\"silenced\"]")).ToBeVisibleAsync();
        var id = await row.Locator("code.silence-id").First.GetAttributeAsync("data-silence");
        Assert.Matches("^[0-9a-f]{16}$", id);
        var silence = page.Locator($"table#silences tr[data-silence=\"{id}\"]");
        await Expect(silence.Locator("[data-field=\"status\"]")).ToHaveTextAsync(Dashboard.Word("active"));
        await Expect(silence.Locator("[data-field=\"author\"]")).ToHaveTextAsync(Dashboard.Word("admin"));
        await Expect(silence.Locator("[data-field=\"comment\"]")).ToHaveTextAsync(Dashboard.Word("browser test"));
        await Expect(silence.Locator("[data-field=\"matchers\"] .label")).ToHaveTextAsync(["alertname=\"BrowserGpu99Missing\"", "team=~\"ml-.*\""]);
        await Dashboard.WaitLiveAsync(page);
        await Screenshots.SaveAsync(page, "alerts");

        // Expired through its button: listed as expired, with no button, and the alert is no longer silenced.
        await silence.Locator("button[data-action=\"expire\"]").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/alerts");
        await Expect(silence.Locator("[data-field=\"status\"]")).ToHaveTextAsync(Dashboard.Word("expired"));
        await Expect(silence.Locator("button[data-action=\"expire\"]")).ToHaveCountAsync(0);
        await Expect(row.Locator("[data-field=\"silenced\"]")).ToHaveCountAsync(0);
        await Expect(row.Locator("td[data-field=\"state\"] .state")).ToHaveTextAsync(Dashboard.Word("firing"));
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task SilenceForm_BadMatcher_ShowsTheErrorAndKeepsWhatWasTyped()
    {
        var page = await AlertsPageAsync();
        await page.Locator("textarea#matchers").FillAsync("alertname=GantryGpuHot\nnode~gpu-01");
        await page.Locator("input#duration").FillAsync("90m");
        await page.Locator("input#comment").FillAsync("keep this comment");
        await page.Locator("button#add-silence").ClickAsync();

        var error = page.Locator("form#silence-form .error[role=alert]");
        await Expect(error).ToBeVisibleAsync();
        await Expect(error).ToContainTextAsync("Matchers:");
        await Expect(error).ToContainTextAsync("node~gpu-01");
        await Expect(page.Locator("textarea#matchers")).ToHaveValueAsync("alertname=GantryGpuHot\nnode~gpu-01");
        await Expect(page.Locator("textarea#matchers")).ToHaveAttributeAsync("aria-invalid", "true");
        await Expect(page.Locator("input#duration")).ToHaveValueAsync("90m");
        await Expect(page.Locator("input#comment")).ToHaveValueAsync("keep this comment");
        await Expect(page.Locator("table#silences tr[data-silence]")).ToHaveCountAsync(0);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task SilenceLink_FiringAlert_FillsTheFormWithItsLabels()
    {
        await AddFiringRuleAsync("browser-link", "BrowserLinkMissing");
        var page = await AlertsPageAsync();
        var row = page.Locator("table#alerts tr[data-alert=\"BrowserLinkMissing\"]");
        await Expect(row).ToHaveCountAsync(1);

        await row.Locator("a.silence-link").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("matchers=", StringComparison.Ordinal));
        var matchers = await page.Locator("textarea#matchers").InputValueAsync();
        Assert.StartsWith("alertname=BrowserLinkMissing\n", matchers, StringComparison.Ordinal);
        Assert.Contains("\nseverity=warning", matchers, StringComparison.Ordinal);
        Assert.Contains("\nteam=ml-platform", matchers, StringComparison.Ordinal);
        await page.Context.CloseAsync();
    }
}
