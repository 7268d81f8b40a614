using Gantry.Cli.Jobs;
using Gantry.Cli.Nodes;
using Gantry.Cli.Output;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;

namespace Gantry.Cli.Tests;

public sealed class TableTests
{
    private static string Render(Action<TextWriter> write)
    {
        using var writer = new StringWriter();
        write(writer);
        return writer.ToString();
    }

    private static void AssertFits(string text, int width)
    {
        foreach (var line in text.Split('\n'))
        {
            Assert.True(line.Length <= width, $"{line.Length} columns: '{line}'");
            Assert.False(line.EndsWith(' '), $"trailing space: '{line}'");
        }
    }

    [Theory]
    [InlineData(-180, "2026-03-01 11:57:00Z (3m ago)")]
    [InlineData(0, "2026-03-01 12:00:00Z (0s ago)")]
    [InlineData(6 * 3600, "2026-03-01 18:00:00Z (in 6h)")]
    public void Instant_PastAndFuture_SaysAgoOrIn(int seconds, string expected) =>
        Assert.Equal(expected, Formats.Instant(CliHarness.Now.AddSeconds(seconds), CliHarness.Now));

    [Fact]
    public void NodesTable_At80Columns_ShowsEveryColumnAndFits()
    {
        var nodes = new[]
        {
            Samples.Node("gpu-01"),
            Samples.Node("gpu-02", NodeState.Draining, busy: 1, labels: "zone=b,rack=12,owner=research-infrastructure-team"),
            Samples.Node("cpu-a-very-long-node-identifier", NodeState.Down, gpus: 0, busy: 0, labels: null),
        };

        var text = Render(w => NodeViews.WriteTable(w, nodes, CliHarness.Now, 80));

        AssertFits(text, 80);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.Matches(@"^ID\s+NAME\s+STATE\s+GPUS\s+CPUS\s+MEMORY\s+LAST SEEN\s+LABELS$", lines[0]);
        Assert.Matches(@"^gpu-01\s+gpu-01\.clust…\s+ready\s+3/8\s+24/128\s+96G/2\.0T\s+3s ago\s+rack=…$", lines[1]);
        Assert.Matches(@"^gpu-02\s+gpu-02\.clust…\s+draining\s+1/8\s", lines[2]);
        Assert.Matches(@"^cpu-a-very-…\s+cpu-a-very-l…\s+down\s+0/0\s", lines[3]);
    }

    [Fact]
    public void NodesTable_ShortNames_KeepsLabelsWhole()
    {
        var nodes = new[] { Samples.Node("n1") with { Name = "h100-a" } };

        var text = Render(w => NodeViews.WriteTable(w, nodes, CliHarness.Now, 80));

        AssertFits(text, 80);
        Assert.Matches(@"\nn1\s+h100-a\s+ready\s+3/8\s+24/128\s+96G/2\.0T\s+3s ago\s+rack=3,zone=a\n$", text);
    }

    [Fact]
    public void NodesTable_Empty_SaysHowToAddOne()
    {
        Assert.StartsWith("No nodes.", Render(w => NodeViews.WriteTable(w, [], CliHarness.Now, 80)), StringComparison.Ordinal);
    }

    [Fact]
    public void JobsTable_At80Columns_ShowsEveryColumnAndFits()
    {
        var jobs = new[]
        {
            Samples.Job(1012, JobState.Running) with { EnergyJoules = 7.2e6, EnergyEstimated = false },
            Samples.Job(1011, JobState.Pending, name: null, reason: "waiting for 2 free H100 GPUs (selector zone=a)"),
            Samples.Job(1010, JobState.Failed) with { ArrayIndex = 7 },
        };

        var text = Render(w => JobViews.WriteTable(w, jobs, CliHarness.Now, 80));

        AssertFits(text, 80);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.Equal(4, lines.Length);
        Assert.Matches(@"^  ID\s+NAME\s+OWNER\s+STATE\s+GPUS\s+NODE\s+PRIO\s+TIME\s+ENERGY\s+REASON$", lines[0]);
        Assert.Matches(@"^1012\s+train\s+-\s+running\s+2\s+gpu-01\s+50\s+20m\s+2 kWh$", lines[1]);
        Assert.Matches(@"^1011\s+-\s+-\s+pending\s+2\s+-\s+50\s+30m\s+-\s+waiting .*…$", lines[2]);
        Assert.Matches(@"^1010\s+train\[7\]\s+-\s+failed\s+2\s+gpu-01\s+50\s+15m\s+-\s+exit code 3$", lines[3]);
    }

    [Fact]
    public void JobsTable_WideTerminal_DoesNotCutReasons()
    {
        var jobs = new[] { Samples.Job(5, JobState.Pending, reason: "waiting for 2 free H100 GPUs (selector zone=a)") };

        var text = Render(w => JobViews.WriteTable(w, jobs, CliHarness.Now, 160));

        Assert.Contains("waiting for 2 free H100 GPUs (selector zone=a)", text, StringComparison.Ordinal);
    }

    [Fact]
    public void JobShow_RunningJob_ListsAttemptsAndHistory()
    {
        var text = Render(w => JobViews.WriteShow(w, Samples.Job(1012, JobState.Failed), CliHarness.Now, 80));

        AssertFits(text, 80);
        Assert.Contains("ID:           1012\n", text, StringComparison.Ordinal);
        Assert.Contains("State:        failed\n", text, StringComparison.Ordinal);
        Assert.Contains("Command:      python train.py --lr 3e-4\n", text, StringComparison.Ordinal);
        Assert.Contains("GPUs:         2 × H100\n", text, StringComparison.Ordinal);
        Assert.Contains("Max runtime:  2h\n", text, StringComparison.Ordinal);
        Assert.Contains("Exit code:    3\n", text, StringComparison.Ordinal);
        Assert.Contains("Submitted:    2026-03-01 11:30:00Z (30m ago)\n", text, StringComparison.Ordinal);
        Assert.Matches(@"\nAttempts:\n  #\s+NODE\s+GPUS\s+STATE\s+STARTED\s+RAN\s+EXIT\s+ENERGY\s+REASON\n  1\s+gpu-01\s+0,1\s+failed\s+2026-03-01 11:40:00Z\s+15m\s+3\s+-\s+exit code 3\n", text);
        Assert.Matches(@"\nHistory:\n  TIME\s+FROM\s+TO\s+REASON\n  2026-03-01 11:30:00Z\s+-\s+pending\s+submitted\n  2026-03-01 11:39:00Z\s+pending\s+assigned\s+placed on gpu-01 GPUs 0,1\n", text);
    }

    [Fact]
    public void JobShow_WithEnergy_ShowsEnergyPowerAndCo2()
    {
        var job = Samples.Job(1012, JobState.Running) with
        {
            EnergyJoules = 1.98e6,
            GpuEnergyJoules = 1.8e6,
            CpuEnergyJoules = 1.8e5,
            AverageGpuPowerWatts = 612.4,
            PeakGpuPowerWatts = 700,
            Co2Grams = 1234,
            EnergyEstimated = true,
        };

        var text = Render(w => JobViews.WriteShow(w, job, CliHarness.Now, 80));

        AssertFits(text, 80);
        Assert.True(text.Contains("Energy:       550 Wh (GPU 500 Wh, CPU 50 Wh), estimated so far\n", StringComparison.Ordinal), text);
        Assert.Contains("GPU power:    average 612 W, peak 700 W\n", text, StringComparison.Ordinal);
        Assert.Contains("CO2e:         1.23 kg\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void JobShow_PendingJob_SaysNoAttempts()
    {
        var text = Render(w => JobViews.WriteShow(w, Samples.Job(3, JobState.Pending), CliHarness.Now, 80));

        Assert.Contains("Attempts:\n  none yet\n", text, StringComparison.Ordinal);
        Assert.Contains("Started:      -\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public void NodeShow_Node_ListsResourcesAndGpus()
    {
        var text = Render(w => NodeViews.WriteShow(w, Samples.Node(), CliHarness.Now, 80));

        AssertFits(text, 80);
        Assert.Contains("State:       ready\n", text, StringComparison.Ordinal);
        Assert.Contains("CPUs:        24/128 reserved\n", text, StringComparison.Ordinal);
        Assert.Contains("GPUs:        3/8 busy\n", text, StringComparison.Ordinal);
        Assert.Contains("Last seen:   2026-03-01 11:59:57Z (3s ago)\n", text, StringComparison.Ordinal);
        Assert.Contains("Sample:      cpu 25%, memory 100G/2.0T, 3150 W (4s ago)\n", text, StringComparison.Ordinal);
        Assert.Matches(@"\nGPU\s+MODEL\s+MEMORY\s+HEALTH\s+JOB\s+UTIL\s+TEMP\s+POWER\s+UUID\n  0\s+NVIDIA H100 80GB HBM3\s+80G\s+healthy\s+40\s+97%\s+61C\s+640W\s+GPU-", text);
    }

    [Theory]
    [InlineData(0, "0B")]
    [InlineData(1023, "1023B")]
    [InlineData(1536, "1.5K")]
    [InlineData(512L * 1024 * 1024, "512M")]
    [InlineData(7_516_192_768, "7.0G")]
    [InlineData(10L * 1024 * 1024 * 1024 - 1, "10G")]
    [InlineData(80L * 1024 * 1024 * 1024, "80G")]
    [InlineData(2L * 1024 * 1024 * 1024 * 1024, "2.0T")]
    public void Bytes_Size_IsShortBinary(long bytes, string expected)
    {
        Assert.Equal(expected, Formats.Bytes(bytes));
    }

    [Theory]
    [InlineData(new[] { "python", "train.py" }, "python train.py")]
    [InlineData(new[] { "sh", "-c", "echo $HOME > x" }, "sh -c 'echo $HOME > x'")]
    [InlineData(new[] { "echo", "it's" }, "echo 'it'\\''s'")]
    [InlineData(new[] { "echo", "" }, "echo ''")]
    public void CommandLine_Arguments_AreQuotedForAShell(string[] arguments, string expected)
    {
        Assert.Equal(expected, Formats.CommandLine(arguments));
    }

    [Fact]
    public void Table_CellTooLong_IsCutWithEllipsis()
    {
        Assert.Equal("abcd…", Table.Fit("abcdefgh", 5));
        Assert.Equal("abc", Table.Fit("abc", 5));
    }
}
