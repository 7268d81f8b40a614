using Gantry.Testing;
using Microsoft.Playwright;

namespace Gantry.Browser.Tests;

/// <summary>Full-page PNGs of the pages the tests visit, kept in <c>artifacts/screenshots/</c> (CI keeps <c>artifacts/</c>).</summary>
internal static class Screenshots
{
    public static string Directory { get; } = System.IO.Directory.CreateDirectory(Path.Combine(Tools.RepositoryRoot, "artifacts", "screenshots")).FullName;

    /// <summary>Saves <paramref name="page"/> as <c>artifacts/screenshots/NAME.png</c> and returns the path.</summary>
    /// <remarks>
    /// <paramref name="fullPage"/> false keeps the viewport only: a page thousands of rows tall that updates live
    /// (500 nodes, 4,000 GPUs) took past Playwright's 60 s to capture whole on a loaded CI machine.
    /// </remarks>
    public static async Task<string> SaveAsync(IPage page, string name, bool fullPage = true)
    {
        var path = Path.Combine(Directory, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = fullPage });
        return path;
    }
}
