using Gantry.Cli.Nodes;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Tests.Nodes;

/// <summary>Power saving in <c>gantry nodes ls</c> and <c>show</c>: the state, the energy saved, the measured figures.</summary>
public sealed class PowerViewTests
{
    private static readonly DateTimeOffset Now = CliHarness.Now;

    private static NodeInfo Suspended() => Samples.Node(gpus: 2, busy: 0) with
    {
        State = NodeState.Suspended,
        PowerSaving = new NodePowerSavingInfo
        {
            Since = Now.AddMinutes(-10),
            IdleWatts = 120,
            WattsPerBusyGpu = 212.4,
            EnergySavedJoules = 7_200_000,
            LastEvent = "suspend command failed: ipmi.sh exited with 1: BMC busy",
        },
    };

    [Fact]
    public void WriteTable_SuspendedNode_StateSaysSoWithTheEnergySaved()
    {
        var output = new StringWriter();
        NodeViews.WriteTable(output, [Suspended()], Now, 200);
        Assert.Contains("suspended, 2.0 kWh saved", output.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void WriteShow_SuspendedNode_PowerLines()
    {
        var output = new StringWriter();
        NodeViews.WriteShow(output, Suspended(), Now, 200);
        var text = output.ToString();
        Assert.Contains("suspended since", text, StringComparison.Ordinal);
        Assert.Contains("2.0 kWh saved", text, StringComparison.Ordinal);
        Assert.Contains("idle 120 W, 212 W per busy GPU", text, StringComparison.Ordinal);
        Assert.Contains("BMC busy", text, StringComparison.Ordinal);
    }

    [Fact]
    public void WriteShow_NodeWithoutPowerFigures_NoPowerLines()
    {
        var output = new StringWriter();
        NodeViews.WriteShow(output, Samples.Node(gpus: 1, busy: 0), Now, 200);
        Assert.DoesNotContain("Power saving", output.ToString(), StringComparison.Ordinal);
    }
}
