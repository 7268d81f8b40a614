using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>What the tests do on every dashboard page: log in through the form, wait for the live stream, check for reloads.</summary>
internal static partial class Dashboard
{
    /// <summary>Logs in through <c>form#login-form</c> with <paramref name="token"/> and waits to leave the login page.</summary>
    public static async Task LoginAsync(IPage page, string token, string returnPath = "/")
    {
        await page.GotoAsync("/login?returnUrl=" + Uri.EscapeDataString(returnPath));
        await page.Locator("input#token").FillAsync(token);
        await page.Locator("button#login-submit").ClickAsync();
        await page.WaitForURLAsync(url => !new Uri(url).AbsolutePath.StartsWith("/login", StringComparison.Ordinal));
    }

    /// <summary>Waits until the page's SSE stream is connected (<c>&lt;html data-live="open"&gt;</c>).</summary>
    public static Task WaitLiveAsync(IPage page) =>
        Expect(page.Locator("html")).ToHaveAttributeAsync("data-live", "open");

    /// <summary>Marks the loaded document; <see cref="AssertNotReloadedAsync"/> fails when the page was loaded again since.</summary>
    public static Task MarkDocumentAsync(IPage page) => page.EvaluateAsync("() => { window.__gantryTestMark = 'kept'; }");

    /// <summary>Fails when the document marked by <see cref="MarkDocumentAsync"/> was replaced (a reload or a navigation).</summary>
    public static async Task AssertNotReloadedAsync(IPage page) =>
        Assert.Equal("kept", await page.EvaluateAsync<string?>("() => window.__gantryTestMark ?? null"));

    /// <summary>Matches a state word, ignoring surrounding white space and case.</summary>
    public static Regex Word(string word) => new($@"^\s*{Regex.Escape(word)}\s*$", RegexOptions.IgnoreCase);

    /// <summary>Matches a count as a stat tile writes it, with or without thousands separators ("4,000", "4000").</summary>
    public static Regex Count(int value) =>
        new($@"^\s*{value.ToString("N0", System.Globalization.CultureInfo.InvariantCulture).Replace(",", @"[,.'\s]?", StringComparison.Ordinal)}\s*$");

    /// <summary>Matches a whole percentage as the dashboard writes it ("37 %", any space or none before the sign).</summary>
    public static Regex Percent(int value) => new($@"^\s*{value}\s*%\s*$");

    /// <summary>The path of the page's URL.</summary>
    public static string PathOf(IPage page) => new Uri(page.Url).AbsolutePath;

    /// <summary>Matches a URL whose path is <c>/jobs/ID</c>.</summary>
    [GeneratedRegex(@"/jobs/\d+$")]
    public static partial Regex JobPage();
}
