using Gantry.Testing;
using Xunit.Abstractions;
using Xunit.Sdk;

namespace Gantry.Server.Tests.Storage;

/// <summary>
/// A fact of a contract (an abstract test class) that runs once for each class deriving from it: skipped
/// where the deriving class is marked <see cref="RequiresPostgresAttribute"/> and no PostgreSQL can be
/// had, failed for it under <c>CI=true</c> (as <see cref="PostgresFactAttribute"/> does). A plain fact's
/// skip reason is fixed where the base class declares it, which knows nothing of the store under test.
/// </summary>
[AttributeUsage(AttributeTargets.Method)]
[XunitTestCaseDiscoverer("Gantry.Server.Tests.Storage.ContractFactDiscoverer", "Gantry.Server.Tests")]
public sealed class ContractFactAttribute : FactAttribute;

/// <summary>The contract's facts in this class need PostgreSQL (<see cref="ContractFactAttribute"/>).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class RequiresPostgresAttribute : Attribute;

/// <summary>Finds <see cref="ContractFactAttribute"/> tests, skipping them as the deriving class requires.</summary>
public sealed class ContractFactDiscoverer(IMessageSink diagnosticMessageSink) : IXunitTestCaseDiscoverer
{
    public IEnumerable<IXunitTestCase> Discover(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute)
    {
        ArgumentNullException.ThrowIfNull(discoveryOptions);
        ArgumentNullException.ThrowIfNull(testMethod);
        var display = discoveryOptions.MethodDisplayOrDefault();
        var options = discoveryOptions.MethodDisplayOptionsOrDefault();
        var requiresPostgres = testMethod.TestClass.Class.GetCustomAttributes(typeof(RequiresPostgresAttribute).AssemblyQualifiedName).Any();
        if (requiresPostgres && PostgresServer.SkipReason is { } reason)
        {
            yield return new XunitSkippedDataRowTestCase(diagnosticMessageSink, display, options, testMethod, reason);
        }
        else
        {
            yield return new XunitTestCase(diagnosticMessageSink, display, options, testMethod);
        }
    }
}
