using Gantry.Testing;
using Microsoft.Playwright;

namespace Gantry.Browser.Tests;

/// <summary>Full-page PNGs of the pages the tests visit, kept in <c>artifacts/screenshots/</c> (CI keeps <c>artifacts/</c>).</summary>
internal static class Screenshots
{
    public static string Directory { get; } = System.IO.Directory.CreateDirectory(Path.Combine(Tools.RepositoryRoot, "artifacts", "screenshots")).FullName;

    /// <summary>Saves <paramref name="page"/> as <c>artifacts/screenshots/NAME.png</c> and returns the path.</summary>
    public static async Task<string> SaveAsync(IPage page, string name)
    {
        var path = Path.Combine(Directory, name + ".png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = path, FullPage = true });
        return path;
    }
}
