using Gantry.Testing;

namespace Gantry.Agent.Tests.Hosting;

/// <summary>Every log message of the agent (and of the libraries it carries) has its own event id.</summary>
public sealed class LogEventIdTests
{
    [Fact]
    public void LoggerMessages_EventIds_AreUniqueAcrossTheAgent()
    {
        var (count, clashes) = LogEventIds.Scan(typeof(AgentHost).Assembly);

        Assert.True(count > 30, $"only {count} log messages found: the scan no longer sees them");
        Assert.True(clashes.Count == 0, "event ids used twice:\n" + string.Join('\n', clashes));
    }
}
