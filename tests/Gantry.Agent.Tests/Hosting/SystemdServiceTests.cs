using Gantry.Hosting;

namespace Gantry.Agent.Tests.Hosting;

/// <summary>How the agent and the server read systemd's watchdog settings (deploy/systemd).</summary>
public sealed class SystemdServiceTests
{
    [Fact]
    public void WatchdogInterval_ReadsSystemdsVariables()
    {
        Assert.Equal(TimeSpan.FromSeconds(30), SystemdService.WatchdogInterval("30000000", null, 42));
        Assert.Equal(TimeSpan.FromSeconds(30), SystemdService.WatchdogInterval("30000000", "42", 42));
        Assert.Null(SystemdService.WatchdogInterval("30000000", "43", 42)); // another process' watchdog
        Assert.Null(SystemdService.WatchdogInterval(null, null, 42));
        Assert.Null(SystemdService.WatchdogInterval("0", null, 42));
        Assert.Null(SystemdService.WatchdogInterval("soon", null, 42));
    }
}
