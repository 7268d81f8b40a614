using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Core.Tests;

/// <summary>The names people read (CLI, dashboard) are the names the API sends.</summary>
public sealed class StateNamesTests
{
    [Fact]
    public void Name_EveryJobState_IsItsWireName()
    {
        foreach (var state in Enum.GetValues<JobState>())
        {
            Assert.Equal(JsonSerializer.Serialize(state, GantryJson.Default.JobState).Trim('"'), state.Name());
        }
    }

    [Fact]
    public void Name_EveryNodeState_IsItsWireName()
    {
        foreach (var state in Enum.GetValues<NodeState>())
        {
            Assert.Equal(JsonSerializer.Serialize(state, GantryJson.Default.NodeState).Trim('"'), state.Name());
        }
    }

    [Fact]
    public void Name_KnownAndUnnamedValues_ReadAsPeopleExpect()
    {
        Assert.Equal("cancelled", JobState.Cancelled.Name());
        Assert.Equal("draining", NodeState.Draining.Name());
        Assert.Equal("99", ((JobState)99).Name());
    }
}
