using System.Reflection;

namespace Gantry.Testing;

/// <summary>
/// Finds log messages (<c>[LoggerMessage]</c> methods) that share an event id, in an assembly and the Gantry
/// assemblies it references, so that a log filter or an alert on an event id means one thing.
/// </summary>
public static class LogEventIds
{
    /// <summary>How many log messages with an event id were found, and each clash as "ID: first and second".</summary>
    public static (int Count, List<string> Clashes) Scan(Assembly root)
    {
        var assemblies = new[] { root }
            .Concat(root.GetReferencedAssemblies().Where(a => a.Name!.StartsWith("Gantry.", StringComparison.Ordinal)).Select(Assembly.Load))
            .Distinct()
            .ToList();
        var seen = new Dictionary<int, string>();
        var clashes = new List<string>();
        var count = 0;
        foreach (var type in assemblies.SelectMany(a => a.GetTypes()))
        {
            foreach (var method in type.GetMethods(BindingFlags.Static | BindingFlags.Instance | BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.DeclaredOnly))
            {
                if (EventId(method) is not { } id || id == 0)
                {
                    continue;
                }

                count++;
                var name = $"{type.FullName}.{method.Name}";
                if (!seen.TryAdd(id, name))
                {
                    clashes.Add($"{id}: {seen[id]} and {name}");
                }
            }
        }

        return (count, clashes);
    }

    // Read by name, so that this library needs no logging package: EventId = N, or the constructor's first int.
    private static int? EventId(MethodInfo method)
    {
        var data = method.GetCustomAttributesData().FirstOrDefault(a => a.AttributeType.FullName == "Microsoft.Extensions.Logging.LoggerMessageAttribute");
        if (data is null)
        {
            return null;
        }

        foreach (var named in data.NamedArguments)
        {
            if (named.MemberName == "EventId")
            {
                return (int)named.TypedValue.Value!;
            }
        }

        return data.ConstructorArguments.FirstOrDefault(a => a.ArgumentType == typeof(int)).Value as int?;
    }
}
