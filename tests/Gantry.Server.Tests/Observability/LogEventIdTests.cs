using System.Reflection;
using Microsoft.Extensions.Logging;

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
        var assemblies = new[] { typeof(ServerHost).Assembly }
            .Concat(typeof(ServerHost).Assembly.GetReferencedAssemblies().Where(a => a.Name!.StartsWith("Gantry.", StringComparison.Ordinal)).Select(Assembly.Load))
            .Distinct()
            .ToList();
        var seen = new Dictionary<int, string>();
        var clashes = new List<string>();
        var count = 0;
        foreach (var assembly in assemblies)
        {
            foreach (var type in assembly.GetTypes())
            {
                foreach (var method in type.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
                {
                    if (method.GetCustomAttribute<LoggerMessageAttribute>() is not { } attribute || attribute.EventId == 0)
                    {
                        continue;
                    }

                    count++;
                    var name = $"{type.FullName}.{method.Name}";
                    if (!seen.TryAdd(attribute.EventId, name))
                    {
                        clashes.Add($"{attribute.EventId}: {seen[attribute.EventId]} and {name}");
                    }
                }
            }
        }

        Assert.True(count > 50, $"only {count} log messages found: the scan no longer sees them");
        Assert.True(clashes.Count == 0, "event ids used twice:\n" + string.Join('\n', clashes));
    }
}
