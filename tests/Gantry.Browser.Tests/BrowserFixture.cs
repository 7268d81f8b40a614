using Gantry.Testing;
using Microsoft.Playwright;

namespace Gantry.Browser.Tests;

/// <summary>One headless Chromium per test class; each test opens its own context (cookies, storage) with <see cref="NewPageAsync"/>.</summary>
public sealed class BrowserFixture : IAsyncLifetime
{
    private IPlaywright? _playwright;
    private IBrowser? _browser;

    static BrowserFixture()
    {
        // Generous: a page waits for a heartbeat or a job on a busy two-core machine.
        Assertions.SetDefaultExpectTimeout(60_000);
    }

    public async Task InitializeAsync()
    {
        if (Chromium.SkipReason is not null)
        {
            // Every test of the class is skipped; launch nothing.
            return;
        }

        _playwright = await Playwright.CreateAsync();
        _browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = Chromium.Require(),
            Headless = true,
            Args = Chromium.Arguments,
        });
    }

    /// <summary>A page in a fresh context (no cookies) whose relative URLs resolve against <paramref name="baseUrl"/>.</summary>
    public async Task<IPage> NewPageAsync(string baseUrl)
    {
        var context = await _browser!.NewContextAsync(new BrowserNewContextOptions
        {
            BaseURL = baseUrl,
            ViewportSize = new ViewportSize { Width = 1440, Height = 900 },
            ColorScheme = ColorScheme.Light,
        });
        context.SetDefaultTimeout(60_000);
        return await context.NewPageAsync();
    }

    public async Task DisposeAsync()
    {
        if (_browser is not null)
        {
            await _browser.DisposeAsync();
        }

        _playwright?.Dispose();
    }
}
