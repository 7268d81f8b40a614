namespace Gantry.Testing;

/// <summary>
/// Debian's Chromium, the browser the dashboard tests drive through Playwright (no browser download is
/// possible here, so Playwright is pointed at this executable). scripts/test.sh installs it when missing.
/// </summary>
public static class Chromium
{
    /// <summary>Where Debian's <c>chromium</c> package puts the browser.</summary>
    public const string ExecutablePath = "/usr/bin/chromium";

    /// <summary>
    /// Command-line switches for a headless run as root in a container with no GPU: no sandbox (root),
    /// no GPU process, and no background requests to Google (there is no network).
    /// </summary>
    public static IReadOnlyList<string> Arguments { get; } = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"];

    /// <summary>True when the browser is installed.</summary>
    public static bool IsInstalled => File.Exists(ExecutablePath);

    /// <summary>
    /// Why a browser test is skipped: null when Chromium is installed, and also when <c>CI=true</c>, where a
    /// missing browser must fail the test (<see cref="Require"/> says how to install it) rather than skip it.
    /// </summary>
    public static string? SkipReason =>
        IsInstalled || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? null
            : $"{ExecutablePath} is missing: run scripts/test.sh (it installs it) or 'apt-get install chromium'";

    /// <summary>The browser's path; throws, naming the package, when it is not installed.</summary>
    public static string Require() =>
        IsInstalled
            ? ExecutablePath
            : throw new InvalidOperationException($"'{ExecutablePath}' is not installed: run scripts/test.sh (it installs it) or 'apt-get install chromium'.");
}
