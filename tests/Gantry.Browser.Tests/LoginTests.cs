using System.Web;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>Logging in to the dashboard: the form, the cookie, the one-time link from gantry dev, logging out.</summary>
public sealed class LoginTests(BrowserFixture browser, DevServerFixture dev) : IClassFixture<BrowserFixture>, IClassFixture<DevServerFixture>
{
    [BrowserFact]
    public async Task Root_WithoutSession_RedirectsToLogin()
    {
        var page = await browser.NewPageAsync(dev.Url);
        var response = await page.GotoAsync("/");

        Assert.Equal("/login", Dashboard.PathOf(page));
        Assert.Equal("/", HttpUtility.ParseQueryString(new Uri(page.Url).Query)["returnUrl"]);
        Assert.NotNull(response);
        Assert.Equal(200, response.Status);
        Assert.Equal(302, (await response.Request.RedirectedFrom!.ResponseAsync())!.Status);
        await Expect(page.Locator("form#login-form")).ToBeVisibleAsync();
        await Expect(page.Locator("input#token")).ToHaveAttributeAsync("type", "password");
        await Screenshots.SaveAsync(page, "login");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task Pages_WithoutSession_ShowNothingButLogin()
    {
        var page = await browser.NewPageAsync(dev.Url);
        foreach (var path in new[] { "/nodes", $"/nodes/{dev.Node.Id}", "/jobs", "/jobs/1" })
        {
            await page.GotoAsync(path);
            Assert.Equal("/login", Dashboard.PathOf(page));
            Assert.Equal(path, HttpUtility.ParseQueryString(new Uri(page.Url).Query)["returnUrl"]);
            // The login form's hidden antiforgery token is random text that may contain the
            // node's (short) name by chance: it is left out of the check.
            var html = System.Text.RegularExpressions.Regex.Replace(await page.ContentAsync(), "<input[^>]*type=\"hidden\"[^>]*>", "");
            Assert.DoesNotContain(dev.Node.Name, html, StringComparison.Ordinal);
        }

        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task Login_WrongToken_ShowsErrorAndStaysOnLogin()
    {
        var page = await browser.NewPageAsync(dev.Url);
        await page.GotoAsync("/login");
        await page.Locator("input#token").FillAsync("gadm_not-the-token");
        await page.Locator("button#login-submit").ClickAsync();

        var error = page.Locator(".error[role=alert]");
        await Expect(error).ToBeVisibleAsync();
        await Expect(error).ToContainTextAsync("the token is not valid");
        Assert.Equal("/login", Dashboard.PathOf(page));
        Assert.DoesNotContain(await page.Context.CookiesAsync(), c => c.Name == "gantry_session");
        await Screenshots.SaveAsync(page, "login-error");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task Login_AdminToken_SetsStrictHttpOnlyCookieThenLogoutEndsTheSession()
    {
        var page = await browser.NewPageAsync(dev.Url);
        await Dashboard.LoginAsync(page, dev.AdminToken);

        Assert.Equal("/", Dashboard.PathOf(page));
        var cookie = Assert.Single(await page.Context.CookiesAsync(), c => c.Name == "gantry_session");
        Assert.True(cookie.HttpOnly);
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);

        await page.Locator("button#logout").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/login");
        await page.GotoAsync("/");
        Assert.Equal("/login", Dashboard.PathOf(page));
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task Login_WithReturnUrl_LandsOnThatPage()
    {
        var page = await browser.NewPageAsync(dev.Url);
        await page.GotoAsync("/jobs");
        Assert.Equal("/login", Dashboard.PathOf(page));
        await page.Locator("input#token").FillAsync(dev.AdminToken);
        await page.Locator("button#login-submit").ClickAsync();

        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == "/jobs");
        await Expect(page.Locator("table#jobs")).ToBeAttachedAsync();
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task OneTimeLink_WorksOnceThenShowsAnError()
    {
        var link = await dev.OneTimeLinkAsync();
        var first = await browser.NewPageAsync(dev.Url);
        await first.GotoAsync(link);
        Assert.Equal("/", Dashboard.PathOf(first));
        Assert.Contains(await first.Context.CookiesAsync(), c => c.Name == "gantry_session");
        await Expect(first.Locator("button#logout")).ToBeVisibleAsync();

        var second = await browser.NewPageAsync(dev.Url);
        await second.GotoAsync(link);
        await Expect(second.Locator(".error")).ToBeVisibleAsync();
        Assert.DoesNotContain(await second.Context.CookiesAsync(), c => c.Name == "gantry_session");
        await second.GotoAsync("/");
        Assert.Equal("/login", Dashboard.PathOf(second));

        await first.Context.CloseAsync();
        await second.Context.CloseAsync();
    }
}
