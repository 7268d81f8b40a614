namespace Gantry.Agent.Tests.Runtime;

public sealed class AgentRuntimeTests
{
    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    [Theory]
    [InlineData(4L << 20, "400000", "400000")]
    [InlineData(1L << 20, "100000", "100000")]
    [InlineData(256L << 10, "40000", "100000")] // regions are at least 1 MiB
    [InlineData(1536L << 10, "180000", "200000")] // rounded up to a power of two
    [InlineData(64L << 20, "4000000", "400000")] // and at most the GC's own 4 MiB
    public void VariablesToAdd_Budget_FixedBudgetAndMatchingRegionsInHex(long gen0Size, string budget, string region)
    {
        var add = AgentRuntime.VariablesToAdd(gen0Size, Env());

        Assert.Equal(3, add.Count);
        Assert.Equal(budget, add[AgentRuntime.Gen0SizeVariable]);
        Assert.Equal(budget, add[AgentRuntime.Gen0MaxBudgetVariable]);
        Assert.Equal(region, add[AgentRuntime.RegionSizeVariable]);
    }

    [Theory]
    [InlineData("DOTNET_GCgen0size", "0x800000")]
    [InlineData("COMPlus_GCgen0size", "800000")]
    [InlineData("DOTNET_GCgen0MaxBudget", "200000")]
    [InlineData("COMPlus_GCRegionSize", "200000")]
    [InlineData(AgentRuntime.AddedVariable, "DOTNET_GCgen0size")]
    public void VariablesToAdd_UserSettingOrAlreadyRestarted_AddsNothing(string name, string value) =>
        Assert.Empty(AgentRuntime.VariablesToAdd(4L << 20, Env((name, value))));

    [Fact]
    public void VariablesToAdd_Off_AddsNothing() =>
        Assert.Empty(AgentRuntime.VariablesToAdd(0, Env()));

    [Fact]
    public void RemoveAdded_InTheRestartedAgent_ClearsWhatItAddedSoJobsDoNotInheritIt()
    {
        var environment = new Dictionary<string, string?>
        {
            [AgentRuntime.Gen0SizeVariable] = "400000",
            [AgentRuntime.AddedVariable] = AgentRuntime.Gen0SizeVariable,
            ["PATH"] = "/usr/bin",
        };
        var removed = AgentRuntime.RemoveAdded(n => environment.GetValueOrDefault(n), (n, v) => environment[n] = v);
        Assert.Equal([AgentRuntime.Gen0SizeVariable], removed);
        Assert.Null(environment[AgentRuntime.Gen0SizeVariable]);
        Assert.Null(environment[AgentRuntime.AddedVariable]);
        Assert.Equal("/usr/bin", environment["PATH"]);
    }

    [Fact]
    public void Arguments_EmptyArgument_IsKeptInItsPlace()
    {
        var cmdline = System.Text.Encoding.UTF8.GetBytes("/usr/bin/gantry\0agent\0--node-name\0\0--labels\0zone=a\0");

        Assert.Equal(["/usr/bin/gantry", "agent", "--node-name", "", "--labels", "zone=a"], AgentRuntime.Arguments(cmdline));
        Assert.Equal(["gantry", "agent", "--labels", ""], AgentRuntime.Arguments(System.Text.Encoding.UTF8.GetBytes("gantry\0agent\0--labels\0\0")));
    }

    [Fact]
    public void ReleaseStartupMemory_RunsAFullCollection()
    {
        var before = GC.CollectionCount(2);
        AgentRuntime.ReleaseStartupMemory();
        Assert.True(GC.CollectionCount(2) > before);
        // The aggressive mode compacts (and so returns free regions), whatever the process's GC settings.
        Assert.True(GC.GetGCMemoryInfo(GCKind.FullBlocking).Compacted);
    }

    [Fact]
    public void RemoveAdded_FirstStart_ChangesNothing()
    {
        var environment = new Dictionary<string, string?> { [AgentRuntime.Gen0SizeVariable] = "800000" };
        var removed = AgentRuntime.RemoveAdded(n => environment.GetValueOrDefault(n), (n, v) => environment[n] = v);
        Assert.Empty(removed);
        Assert.Equal("800000", environment[AgentRuntime.Gen0SizeVariable]);
    }
}
