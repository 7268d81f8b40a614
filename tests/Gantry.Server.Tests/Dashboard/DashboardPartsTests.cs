using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Auth;
using Gantry.Server.Dashboard.Views;
using Gantry.Server.Telemetry;
using Gantry.Testing;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The dashboard's small parts on their own: login links, energy today, the submit form's reading, command display.</summary>
public sealed class DashboardPartsTests
{
    private static readonly DateTimeOffset Noon = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void LoginLinks_Redeem_WorksOnceAndExpires()
    {
        var clock = new FakeTimeProvider(Noon);
        var links = new LoginLinks(clock);
        var once = links.Create();
        Assert.True(links.Redeem(once));
        Assert.False(links.Redeem(once));

        var late = links.Create();
        clock.Advance(LoginLinks.Lifetime + TimeSpan.FromSeconds(1));
        Assert.False(links.Redeem(late));
        Assert.False(links.Redeem(""));
        Assert.False(links.Redeem("glogin_unknown"));
    }

    [Fact]
    public void EnergyToday_IntegratesPowerPerNodeAndSkipsGaps()
    {
        var energy = new EnergyToday();
        energy.Add("a", Noon, Summary(Noon, 100));
        energy.Add("a", Noon.AddSeconds(5), Summary(Noon, 200)); // 100 W × 5 s
        energy.Add("b", Noon.AddSeconds(5), Summary(Noon, 50));
        energy.Add("b", Noon.AddSeconds(10), Summary(Noon, 50)); // 50 W × 5 s
        energy.Add("a", Noon.AddMinutes(10), Summary(Noon, 200)); // a gap: not counted
        Assert.Equal(750, energy.Joules(Noon.AddMinutes(10)), 6);
        Assert.Equal(0, energy.Joules(Noon.AddDays(1)));
    }

    [Fact]
    public void EnergyToday_StartsAgainAtMidnightUtc()
    {
        var energy = new EnergyToday();
        var beforeMidnight = new DateTimeOffset(2026, 11, 23, 23, 59, 50, TimeSpan.Zero);
        energy.Add("a", beforeMidnight, Summary(beforeMidnight, 100));
        energy.Add("a", beforeMidnight.AddSeconds(5), Summary(beforeMidnight, 100));
        energy.Add("a", beforeMidnight.AddSeconds(15), Summary(beforeMidnight, 100));
        Assert.Equal(0, energy.Joules(beforeMidnight.AddSeconds(15)));
        energy.Add("a", beforeMidnight.AddSeconds(20), Summary(beforeMidnight, 100));
        Assert.Equal(500, energy.Joules(beforeMidnight.AddSeconds(20)), 6);
    }

    [Fact]
    public void EnergyToday_PowerOf_FallsBackToGpusAndNeverInventsZero()
    {
        Assert.Equal(300, EnergyToday.PowerOf(new NodeSummary { SampledAt = Noon, Gpus = [new GpuSummary { Index = 0, PowerWatts = 100 }, new GpuSummary { Index = 1, PowerWatts = 200 }] }));
        Assert.Equal(1000, EnergyToday.PowerOf(Summary(Noon, 1000)));
        Assert.Null(EnergyToday.PowerOf(new NodeSummary { SampledAt = Noon, Gpus = [new GpuSummary { Index = 0 }] }));
    }

    [Fact]
    public void JobSubmit_ValidForm_BecomesShellSubmission()
    {
        var form = new JobForm { Command = "  python train.py --epochs 3 ", Name = " ", Gpus = "2", Priority = "90", MaxRuntime = "90m", Retries = "1" };
        Assert.Null(JobSubmit.Parse(form));
        var submission = JobSubmit.ToSubmission(form);
        Assert.Equal(["python train.py --epochs 3"], submission.Command);
        Assert.True(submission.Shell);
        Assert.Null(submission.Name);
        Assert.Equal((2, 90, 5400.0, 1), (submission.Resources.Gpus, submission.Priority, submission.MaxRuntimeSeconds, submission.Retries));
    }

    [Fact]
    public void JobSubmit_Refused_NamesTheFormField()
    {
        var refused = JobSubmit.Refused(new JobForm { Command = "x" }, new Dictionary<string, string[]> { ["resources.gpus"] = ["must be between 0 and 64, got 65"] });
        Assert.Equal("gpus", refused.ErrorField);
        Assert.Equal("GPUs: must be between 0 and 64, got 65.", refused.Error);
    }

    [Theory]
    [InlineData(false, new[] { "sh", "-c", "echo a b" }, "sh -c 'echo a b'")]
    [InlineData(false, new[] { "echo", "it's" }, "echo 'it'\\''s'")]
    [InlineData(false, new[] { "python", "train.py", "--lr=0.1" }, "python train.py --lr=0.1")]
    [InlineData(true, new[] { "echo $HOME | wc" }, "echo $HOME | wc")]
    public void Show_Command_IsTypableAgain(bool shell, string[] command, string expected)
    {
        var job = new JobInfo
        {
            Id = 1, State = Core.Jobs.JobState.Pending, Command = command, Shell = shell, Env = new Dictionary<string, string>(),
            Resources = new Core.Jobs.ResourceRequest(), Priority = 50, Selector = new Dictionary<string, string>(), Retries = 0, SubmittedAt = Noon,
        };
        Assert.Equal(expected, Show.Command(job));
    }

    private static NodeSummary Summary(DateTimeOffset at, double watts) => new() { SampledAt = at, PowerWatts = watts };
}
