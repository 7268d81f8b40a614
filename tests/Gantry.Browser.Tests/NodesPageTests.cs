using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>The overview, the nodes table and a node's page against gantry dev's node with two simulated GPUs.</summary>
public sealed class NodesPageTests(BrowserFixture browser, DevServerFixture dev) : IClassFixture<BrowserFixture>, IClassFixture<DevServerFixture>
{
    private static readonly string[] Stats = ["nodes-total", "nodes-ready", "gpus-total", "gpus-busy", "jobs-running", "jobs-pending", "power-watts", "energy-today", "tokens-per-joule"];
    private static readonly string[] Charts = ["utilization", "temperature", "power", "memory"];
    private static readonly string[] Ranges = ["15m", "1h", "6h", "24h", "7d", "30d"];

    private async Task<IPage> LoggedInAsync()
    {
        var page = await browser.NewPageAsync(dev.Url);
        await Dashboard.LoginAsync(page, dev.AdminToken);
        return page;
    }

    [BrowserFact]
    public async Task Overview_ShowsEveryStatWithTheDevNodeCounted()
    {
        var page = await LoggedInAsync();
        await Dashboard.WaitLiveAsync(page);

        foreach (var stat in Stats)
        {
            await Expect(page.Locator($"[data-stat=\"{stat}\"]")).ToBeVisibleAsync();
        }

        await Expect(page.Locator("[data-stat=\"nodes-total\"]")).ToHaveTextAsync(Dashboard.Count(1));
        await Expect(page.Locator("[data-stat=\"nodes-ready\"]")).ToHaveTextAsync(Dashboard.Count(1));
        await Expect(page.Locator("[data-stat=\"gpus-total\"]")).ToHaveTextAsync(Dashboard.Count(2));
        await Expect(page.Locator("[data-stat=\"tokens-per-joule\"]")).ToHaveTextAsync(Dashboard.Word("–"));
        foreach (var href in new[] { "/", "/nodes", "/jobs" })
        {
            await Expect(page.Locator($"header a[href=\"{href}\"], nav a[href=\"{href}\"]").First).ToBeVisibleAsync();
        }

        await Screenshots.SaveAsync(page, "overview");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task Nodes_SimulatedNode_AppearsWithBadgeAndItsGpuFiguresChangeLive()
    {
        var page = await LoggedInAsync();
        await page.GotoAsync("/nodes");
        await Dashboard.WaitLiveAsync(page);
        await Dashboard.MarkDocumentAsync(page);

        var row = page.Locator($"table#nodes tr[data-node=\"{dev.Node.Id}\"]");
        await Expect(row).ToHaveCountAsync(1);
        await Expect(row.Locator("a.node-link")).ToHaveTextAsync(Dashboard.Word(dev.Node.Name));
        await Expect(row.Locator("a.node-link")).ToHaveAttributeAsync("href", $"/nodes/{dev.Node.Id}");
        await Expect(row.Locator("td[data-field=\"state\"]")).ToHaveTextAsync(Dashboard.Word("ready"));
        await Expect(row.Locator(".badge-simulated").First).ToContainTextAsync("simulated");
        foreach (var gpu in new[] { 0, 1 })
        {
            var cell = row.Locator($"[data-gpu=\"{gpu}\"]");
            await Expect(cell.Locator("[data-field=\"util\"]")).ToHaveTextAsync(new Regex(@"^\s*\d+\s*%\s*$"));
            await Expect(cell.Locator("[data-field=\"temp\"]")).ToHaveTextAsync(new Regex(@"^\s*\d+\s*°C\s*$"));
            await Expect(cell.Locator("[data-field=\"power\"]")).ToHaveTextAsync(new Regex(@"^\s*\d+\s*W\s*$"));
            await Expect(cell.Locator("[data-field=\"mem\"]")).Not.ToBeEmptyAsync();
        }

        await Screenshots.SaveAsync(page, "nodes");

        // The simulated GPUs move every sample; the row must follow without a reload.
        var before = await GpuFiguresAsync(row);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        string after;
        do
        {
            await Task.Delay(500);
            after = await GpuFiguresAsync(row);
            Assert.True(DateTime.UtcNow < deadline, $"the GPU figures of {dev.Node.Name} did not change in 90 s: {before}");
        }
        while (after == before);

        await Dashboard.AssertNotReloadedAsync(page);
        await page.Context.CloseAsync();
    }

    private static async Task<string> GpuFiguresAsync(ILocator row) =>
        string.Join(" | ", await row.Locator("[data-gpu] [data-field]").AllInnerTextsAsync());

    [BrowserFact]
    public async Task NodePage_ShowsFourChartsAndRangeLinksSwitchTheRange()
    {
        var page = await LoggedInAsync();
        await page.GotoAsync("/nodes");
        await page.Locator($"table#nodes a.node-link[href=\"/nodes/{dev.Node.Id}\"]").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/nodes/{dev.Node.Id}");

        await Expect(page.Locator("h1")).ToHaveTextAsync(Dashboard.Word(dev.Node.Name));
        await Expect(page.Locator("#node-state")).ToHaveTextAsync(Dashboard.Word("ready"));
        foreach (var chart in Charts)
        {
            await Expect(page.Locator($"svg[data-chart=\"{chart}\"]")).ToBeVisibleAsync();
        }

        foreach (var range in Ranges)
        {
            await Expect(page.Locator($"a[data-range=\"{range}\"]")).ToBeVisibleAsync();
        }

        await Expect(page.Locator("a[data-range=\"1h\"]")).ToHaveAttributeAsync("aria-current", "page");
        await Screenshots.SaveAsync(page, "node");

        await page.Locator("a[data-range=\"6h\"]").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("range=6h", StringComparison.Ordinal));
        await Expect(page.Locator("a[data-range=\"6h\"]")).ToHaveAttributeAsync("aria-current", "page");
        await Expect(page.Locator("a[data-range=\"1h\"]")).Not.ToHaveAttributeAsync("aria-current", "page");
        foreach (var chart in Charts)
        {
            await Expect(page.Locator($"svg[data-chart=\"{chart}\"]")).ToBeVisibleAsync();
        }

        await page.Locator("a[data-range=\"15m\"]").ClickAsync();
        await page.WaitForURLAsync(url => url.Contains("range=15m", StringComparison.Ordinal));
        await Expect(page.Locator("a[data-range=\"15m\"]")).ToHaveAttributeAsync("aria-current", "page");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task NodePage_UnknownId_ShowsNotFound()
    {
        var page = await LoggedInAsync();
        var response = await page.GotoAsync("/nodes/no-such-node");

        Assert.Equal(404, response!.Status);
        await Expect(page.Locator(".error").First).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task NodePage_DrainThenUndrain_StateFollows()
    {
        var page = await LoggedInAsync();
        await page.GotoAsync($"/nodes/{dev.Node.Id}");
        await Expect(page.Locator("#node-state")).ToHaveTextAsync(Dashboard.Word("ready"));

        await page.Locator("button#drain").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/nodes/{dev.Node.Id}");
        await Expect(page.Locator("#node-state")).ToHaveTextAsync(new Regex(@"^\s*(draining|drained)\s*$"));
        await Expect(page.Locator("button#undrain")).ToBeVisibleAsync();
        await Expect(page.Locator("button#drain")).ToHaveCountAsync(0);
        await Screenshots.SaveAsync(page, "node-drained");

        await page.GotoAsync("/nodes");
        await Expect(page.Locator($"tr[data-node=\"{dev.Node.Id}\"] td[data-field=\"state\"]")).ToHaveTextAsync(new Regex(@"^\s*(draining|drained)\s*$"));

        await page.GotoAsync($"/nodes/{dev.Node.Id}");
        await page.Locator("button#undrain").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/nodes/{dev.Node.Id}");
        await Expect(page.Locator("#node-state")).ToHaveTextAsync(Dashboard.Word("ready"));
        await Expect(page.Locator("button#drain")).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task NodePage_CordonedGpu_ShownWithItsCauseAndHistoryAndLiftedLive()
    {
        using (var cordon = await dev.Api.PostAsync($"/api/v1/nodes/{dev.Node.Id}/cordon", new StringContent("{\"gpu\":1,\"reason\":\"fan noise\"}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.True(cordon.IsSuccessStatusCode, await cordon.Content.ReadAsStringAsync());
        }

        var page = await LoggedInAsync();
        await page.GotoAsync($"/nodes/{dev.Node.Id}");
        await Dashboard.WaitLiveAsync(page);
        await Dashboard.MarkDocumentAsync(page);

        var chip = page.Locator(".gpu-grid [data-gpu=\"1\"]");
        await Expect(chip).ToHaveClassAsync(new Regex(@"\bgpu-cordoned\b"));
        await Expect(chip.Locator("[data-field=\"health\"]")).ToHaveTextAsync(Dashboard.Word("cordoned by a person"));
        await Expect(chip.Locator("[data-field=\"health\"]")).ToHaveAttributeAsync("title", "fan noise");
        await Expect(page.Locator(".gpu-grid [data-gpu=\"0\"] [data-field=\"health\"]")).ToHaveCountAsync(0);
        var entry = page.Locator("#health-history tbody tr").First;
        await Expect(entry.Locator("td").Nth(2)).ToHaveTextAsync(Dashboard.Word("cordoned"));
        await Expect(entry.Locator("td").Nth(3)).ToHaveTextAsync(Dashboard.Word("a person"));
        await Expect(entry.Locator("td").Nth(4)).ToContainTextAsync("fan noise");
        await Screenshots.SaveAsync(page, "node-gpu-cordoned");

        // Lifted through the API: the page follows without a reload.
        using (var uncordon = await dev.Api.PostAsync($"/api/v1/nodes/{dev.Node.Id}/uncordon", new StringContent("{\"gpu\":1}", System.Text.Encoding.UTF8, "application/json")))
        {
            Assert.True(uncordon.IsSuccessStatusCode, await uncordon.Content.ReadAsStringAsync());
        }

        await Expect(chip.Locator("[data-field=\"health\"]")).ToHaveCountAsync(0);
        await Expect(chip).Not.ToHaveClassAsync(new Regex(@"\bgpu-cordoned\b"));
        await Dashboard.AssertNotReloadedAsync(page);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task ThemeToggle_SwitchesDataThemeAndRemembersIt()
    {
        var page = await LoggedInAsync();
        var html = page.Locator("html");
        var before = await html.GetAttributeAsync("data-theme");
        var expected = before == "dark" ? "light" : "dark";

        await page.Locator("button#theme-toggle").ClickAsync();
        await Expect(html).ToHaveAttributeAsync("data-theme", expected);
        await Screenshots.SaveAsync(page, $"overview-{expected}");

        await page.ReloadAsync();
        await Expect(html).ToHaveAttributeAsync("data-theme", expected);

        await page.Locator("button#theme-toggle").ClickAsync();
        await Expect(html).ToHaveAttributeAsync("data-theme", expected == "dark" ? "light" : "dark");
        await page.Context.CloseAsync();
    }
}
