using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>The Tokens page and a person's session: an admin makes a viewer's token, the viewer sees their name and role and no forms.</summary>
public sealed class TokensPageTests(BrowserFixture browser, DevServerFixture dev) : IClassFixture<BrowserFixture>, IClassFixture<DevServerFixture>
{
    [BrowserFact]
    public async Task Admin_MakesAViewerToken_TheViewerSeesWhoTheyAreAndNoSubmitForm()
    {
        var admin = await browser.NewPageAsync(dev.Url);
        await Dashboard.LoginAsync(admin, dev.AdminToken, "/tokens");
        await Expect(admin.Locator("#whoami-role")).ToHaveTextAsync("admin");
        await admin.Locator("#token-name").FillAsync("browser-viewer");
        await admin.Locator("#token-role").SelectOptionAsync("viewer");
        await admin.Locator("#create-token").ClickAsync();
        var secret = admin.Locator("#token-secret");
        await Expect(secret).ToContainTextAsync("gtok_");
        var token = (await secret.TextContentAsync())!.Trim();
        await Expect(admin.Locator("tr[data-key=browser-viewer]")).ToContainTextAsync("viewer");
        await Screenshots.SaveAsync(admin, "tokens");
        await admin.Context.CloseAsync();

        var viewer = await browser.NewPageAsync(dev.Url);
        await Dashboard.LoginAsync(viewer, token, "/jobs");
        await Expect(viewer.Locator("#whoami")).ToContainTextAsync("browser-viewer");
        await Expect(viewer.Locator("#whoami-role")).ToHaveTextAsync("viewer");
        await Expect(viewer.Locator("form#submit-form")).ToHaveCountAsync(0);
        await Expect(viewer.Locator("nav a[href='/tokens']")).ToHaveCountAsync(0);
        await viewer.Context.CloseAsync();
    }
}
