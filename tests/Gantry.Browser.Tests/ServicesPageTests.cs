using System.Text.RegularExpressions;
using Gantry.Core.Protocol;
using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>The Services page and a service's page against a server whose node reports one vLLM-shaped service.</summary>
public sealed class ServicesPageTests(BrowserFixture browser, ServicesFixture fixture) : IClassFixture<BrowserFixture>, IClassFixture<ServicesFixture>
{
    [BrowserFact]
    public async Task Services_OneService_RowWithHealthAddressAndFiguresThatFollowLive()
    {
        var page = await browser.NewPageAsync(fixture.Url);
        await Dashboard.LoginAsync(page, fixture.AdminToken, "/services");
        await Dashboard.WaitLiveAsync(page);
        await Dashboard.MarkDocumentAsync(page);
        await Expect(page.Locator("nav a[href=\"/services\"]")).ToHaveAttributeAsync("aria-current", "page");

        var row = page.Locator($"table#services tr[data-service=\"{fixture.JobId}\"]");
        await Expect(row).ToHaveCountAsync(1);
        await Expect(row.Locator("a.service-link")).ToHaveTextAsync(Dashboard.Word("chat"));
        await Expect(row.Locator("a.service-link")).ToHaveAttributeAsync("href", $"/services/{fixture.JobId}");
        await Expect(row.Locator("td[data-field=\"address\"]")).ToHaveTextAsync(Dashboard.Word($"{ServicesFixture.NodeHost}:8000"));
        await Expect(row).ToContainTextAsync(fixture.NodeName);
        await Expect(row.Locator("td[data-field=\"restarts\"]")).ToHaveTextAsync(Dashboard.Word("0"));
        await Expect(row.Locator("td[data-field=\"running\"]")).ToHaveTextAsync(Dashboard.Word("3"));
        await Expect(row.Locator("td[data-field=\"waiting\"]")).ToHaveTextAsync(Dashboard.Word("1"));

        // Rates need two heartbeats: about 120 tokens/s at about 300 W, 0.4 tokens per joule.
        await Expect(row.Locator("td[data-field=\"tokens-per-second\"]")).ToHaveTextAsync(new Regex(@"^\s*1[0-4]\d(\.\d+)?\s*$"));
        await Expect(row.Locator("td[data-field=\"power\"]")).ToHaveTextAsync(new Regex(@"^\s*(2[89]\d|3[01]\d)(\.\d+)?\s*W\s*$"));
        await Expect(row.Locator("td[data-field=\"tokens-per-joule\"]")).ToHaveTextAsync(new Regex(@"^\s*0\.\d+\s*$"));

        // Health follows the agent's reports without a reload, coloured as a state.
        fixture.Health = ServiceHealth.Healthy;
        await Expect(row.Locator("td[data-field=\"health\"] span.state-healthy")).ToHaveTextAsync(Dashboard.Word("healthy"));
        await Screenshots.SaveAsync(page, "services");
        fixture.Health = ServiceHealth.Unhealthy;
        await Expect(row.Locator("td[data-field=\"health\"] span.state-unhealthy")).ToHaveTextAsync(Dashboard.Word("unhealthy"));
        await Expect(row.Locator("td[data-field=\"health\"] span")).ToHaveAttributeAsync("title", new Regex("503"));
        fixture.Health = ServiceHealth.Healthy;
        await Expect(row.Locator("td[data-field=\"health\"]")).ToHaveTextAsync(Dashboard.Word("healthy"));
        await Dashboard.AssertNotReloadedAsync(page);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task ServicePage_FromTheList_StatusAndHistoryCharts()
    {
        var page = await browser.NewPageAsync(fixture.Url);
        await Dashboard.LoginAsync(page, fixture.AdminToken, "/services");
        await page.Locator($"table#services tr[data-service=\"{fixture.JobId}\"] a.service-link").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/services/{fixture.JobId}");
        await Dashboard.WaitLiveAsync(page);

        await Expect(page.Locator("h1")).ToHaveTextAsync(Dashboard.Word("chat"));
        var status = page.Locator("#service-status");
        await Expect(status.Locator("[data-field=\"address\"]")).ToHaveTextAsync(Dashboard.Word($"{ServicesFixture.NodeHost}:8000"));
        await Expect(status.Locator("[data-field=\"metrics\"]")).ToContainTextAsync($"http://{ServicesFixture.NodeHost}:8000/metrics");
        await Expect(status.Locator("[data-field=\"tokens-per-second\"]")).Not.ToHaveTextAsync(Dashboard.Word("–"));

        // The history: points accumulate a heartbeat at a time and the charts are drawn again live.
        foreach (var chart in new[] { "service-tokens", "service-power", "service-tokens-per-joule" })
        {
            await Expect(page.Locator($"#service-charts svg[data-chart=\"{chart}\"]")).ToBeVisibleAsync();
        }

        await Expect(page.Locator("#service-charts svg[data-chart=\"service-tokens\"]")).ToHaveAttributeAsync("data-points", new Regex(@"^([2-9]|\d{2,})$"));
        await Expect(page.Locator("#service-charts svg[data-chart=\"service-tokens\"] path.series").First).ToHaveAttributeAsync("d", new Regex("L"));
        await Screenshots.SaveAsync(page, "service");

        // An unknown service: the not-found page, with a way back.
        var missing = await page.GotoAsync("/services/999999");
        Assert.Equal(404, missing!.Status);
        await page.Context.CloseAsync();
    }
}
