using Gantry.Testing;

namespace Gantry.Server.Tests.Observability;

/// <summary>
/// Every log message of the server (and of the libraries it carries: Core, Hosting, Telemetry) has its own
/// event id, so that a log filter or an alert on an event id means one thing.
/// </summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void LoggerMessages_EventIds_AreUniqueAcrossTheServer()
    {
        var (count, clashes) = LogEventIds.Scan(typeof(ServerHost).Assembly);

        Assert.True(count > 50, $"only {count} log messages found: the scan no longer sees them");
        Assert.True(clashes.Count == 0, "event ids used twice:\n" + string.Join('\n', clashes));
    }
}
