namespace Gantry.Agent.Tests.Jobs;

/// <summary>
/// A test that needs root (it makes Unix users and runs jobs as them): skipped otherwise, except with
/// <c>CI=true</c>, where it runs and fails, as every missing dependency does there.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        Skip = SkipReason;
    }

    /// <summary>Null when the tests run as root on Linux, or with <c>CI=true</c>.</summary>
    public static string? SkipReason =>
        (OperatingSystem.IsLinux() && Environment.IsPrivilegedProcess) || string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
            ? null
            : "needs root on Linux to make a Unix user and run jobs as it (CI=true makes it run and fail instead)";
}
