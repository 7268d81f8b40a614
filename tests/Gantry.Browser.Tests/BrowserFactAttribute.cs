using Gantry.Testing;

namespace Gantry.Browser.Tests;

/// <summary>
/// A test that needs Chromium: skipped where the browser is missing, except with <c>CI=true</c>, where it
/// runs and fails (the browser fixture says how to install it), as every missing dependency does there.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class BrowserFactAttribute : FactAttribute
{
    public BrowserFactAttribute()
    {
        Skip = Chromium.SkipReason;
    }
}
