using Gantry.Core.Jobs;

namespace Gantry.Core.Tests.Jobs;

public class JobStatesTests
{
    public static TheoryData<JobState, JobState> Allowed => new()
    {
        { JobState.Pending, JobState.Assigned },
        { JobState.Pending, JobState.Cancelled },
        { JobState.Assigned, JobState.Running },
        { JobState.Assigned, JobState.Pending },
        { JobState.Assigned, JobState.Succeeded },
        { JobState.Assigned, JobState.Failed },
        { JobState.Assigned, JobState.Cancelled },
        { JobState.Assigned, JobState.Lost },
        { JobState.Running, JobState.Pending },
        { JobState.Running, JobState.Succeeded },
        { JobState.Running, JobState.Failed },
        { JobState.Running, JobState.Cancelled },
        { JobState.Running, JobState.Lost },
    };

    [Theory]
    [MemberData(nameof(Allowed))]
    public void CanTransition_AllowedPair_True(JobState from, JobState to)
    {
        Assert.True(JobStates.CanTransition(from, to));
    }

    [Fact]
    public void CanTransition_EveryOtherPair_False()
    {
        var allowed = Allowed.Select(row => ((JobState)row[0], (JobState)row[1])).ToHashSet();
        var states = Enum.GetValues<JobState>();
        var refused = 0;
        foreach (var from in states)
        {
            foreach (var to in states)
            {
                if (!allowed.Contains((from, to)))
                {
                    Assert.False(JobStates.CanTransition(from, to), $"{from} -> {to}");
                    refused++;
                }
            }
        }

        Assert.Equal((states.Length * states.Length) - allowed.Count, refused);
    }

    [Fact]
    public void CanTransition_FromTerminalState_AlwaysFalse()
    {
        foreach (var from in Enum.GetValues<JobState>().Where(s => s.IsTerminal()))
        {
            Assert.All(Enum.GetValues<JobState>(), to => Assert.False(JobStates.CanTransition(from, to)));
        }
    }

    [Fact]
    public void IsTerminal_EndStates_True()
    {
        Assert.Equal(
            [JobState.Succeeded, JobState.Failed, JobState.Cancelled, JobState.Lost],
            Enum.GetValues<JobState>().Where(s => s.IsTerminal()));
    }

    [Fact]
    public void IsLive_AssignedAndRunning_True()
    {
        Assert.Equal([AttemptState.Assigned, AttemptState.Running], Enum.GetValues<AttemptState>().Where(s => s.IsLive()));
    }

    [Fact]
    public void ToJobState_EveryAttemptState_SameName()
    {
        Assert.All(Enum.GetValues<AttemptState>(), a => Assert.Equal(a.ToString(), a.ToJobState().ToString()));
    }
}
