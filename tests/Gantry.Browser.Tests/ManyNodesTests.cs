using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>The dashboard with 500 nodes of eight GPUs: every row renders and a heartbeat shows up live.</summary>
public sealed class ManyNodesTests(BrowserFixture browser, ManyNodesFixture fleet) : IClassFixture<BrowserFixture>, IClassFixture<ManyNodesFixture>
{
    [BrowserFact]
    public async Task Nodes_500Nodes_EveryRowRendersAndAHeartbeatShowsUpLive()
    {
        var page = await browser.NewPageAsync(fleet.Url);
        await Dashboard.LoginAsync(page, fleet.AdminToken, "/nodes");
        Assert.Equal("/nodes", Dashboard.PathOf(page));

        await Expect(page.Locator("table#nodes tr[data-node]")).ToHaveCountAsync(ManyNodesFixture.NodeCount);
        await Expect(page.Locator("table#nodes [data-gpu] [data-field=\"util\"]")).ToHaveCountAsync(ManyNodesFixture.NodeCount * ManyNodesFixture.GpusPerNode);
        await Dashboard.WaitLiveAsync(page);
        await Dashboard.MarkDocumentAsync(page);
        await Screenshots.SaveAsync(page, "nodes-500", fullPage: false);

        // A node far down the table: 77 % is a figure the changing rounds give no GPU of this node
        // ((7r + 13·321 + 29g) mod 100 = 77 would need g and r to line up; the pin makes it certain).
        const int index = 321;
        var id = fleet.Nodes.NodeIds[index];
        var row = page.Locator($"table#nodes tr[data-node=\"{id}\"]");
        await Expect(row.Locator("a.node-link")).ToHaveTextAsync(Dashboard.Word(Gantry.Testing.SyntheticNodes.NameOf(index)));
        fleet.Nodes.Pin(index, 0.77);
        await fleet.Nodes.HeartbeatAsync(index, round: 0, CancellationToken.None);

        for (var gpu = 0; gpu < ManyNodesFixture.GpusPerNode; gpu++)
        {
            await Expect(row.Locator($"[data-gpu=\"{gpu}\"] [data-field=\"util\"]")).ToHaveTextAsync(Dashboard.Percent(77));
        }

        await Dashboard.AssertNotReloadedAsync(page);
        fleet.Nodes.Pin(index, null);

        // And the overview counts them all.
        await page.GotoAsync("/");
        await Expect(page.Locator("[data-stat=\"nodes-total\"]")).ToHaveTextAsync(Dashboard.Count(500));
        await Expect(page.Locator("[data-stat=\"gpus-total\"]")).ToHaveTextAsync(Dashboard.Count(4000));
        await page.Context.CloseAsync();
    }
}
