using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// Services end to end (docs/services.md): the real <c>gantry</c> CLI against a real server and real
/// agents running real processes: restarted after their process dies, given up on past their policy,
/// moved when their agent is killed, stopped for good.
/// </summary>
[Collection("fleet")]
public sealed class ServicesTests
{
    private static async Task<Dictionary<string, string>> CliEnvironmentAsync(Fleet fleet) => new()
    {
        ["GANTRY_SERVER"] = fleet.Url,
        ["GANTRY_TOKEN"] = (await File.ReadAllTextAsync(Path.Combine(fleet.DataDir, "admin.token"))).Trim(),
        ["XDG_CONFIG_HOME"] = Path.Combine(fleet.Root, "no-client-config"),
    };

    [Fact]
    public async Task ServicesRun_ProcessDies_RestartedAfterItsDelayThenGivenUp()
    {
        await using var fleet = await Fleet.StartAsync(1);
        var env = await CliEnvironmentAsync(fleet);

        var (code, output) = await GantryProcess.RunAsync(
            ["services", "run", "crashy", "--restart-attempts", "2", "--restart-interval", "10m", "--restart-delay", "1s", "--shell", "--", "echo attempt $GANTRY_ATTEMPT; sleep 1; exit 3"], env);

        Assert.True(code == 0, output);
        var id = long.Parse(output.Trim(), CultureInfo.InvariantCulture);
        await fleet.WaitAsync("the service to run", async () => (await fleet.JobAsync(id)).State == JobState.Running);
        var (lsCode, table) = await GantryProcess.RunAsync(["services", "ls"], env);
        Assert.Equal(0, lsCode);
        Assert.Contains("crashy", table, StringComparison.Ordinal);
        Assert.Contains("NODE:PORT", table, StringComparison.Ordinal);

        var done = (await fleet.WaitForJobsAsync([id], j => j.State.IsTerminal()))[0];
        Assert.Equal(JobState.Failed, done.State);
        Assert.Equal("restarted 2 times within 10m; giving up after exit code 3", done.Reason);
        Assert.Equal(3, done.Attempts.Count);
        Assert.Equal(2, done.ServiceStatus!.Restarts);
        for (var i = 1; i < done.Attempts.Count; i++)
        {
            // Its delay (1 s) plus up to 25 %, measured on the server's clock; the upper bound is generous.
            var wait = done.Attempts[i].AssignedAt - done.Attempts[i - 1].EndedAt!.Value;
            Assert.InRange(wait, TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(30));
        }

        var logs = await fleet.Admin.GetStringAsync($"/api/v1/jobs/{id}/logs");
        Assert.Contains("attempt 3", logs, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ServicesRun_AgentKilled_BackOnTheOtherNodeThenStoppedForGood()
    {
        await using var fleet = await Fleet.StartAsync(1, 1);
        var env = await CliEnvironmentAsync(fleet);
        var (code, output) = await GantryProcess.RunAsync(["services", "run", "steady", "--gpus", "1", "--restart-delay", "1s", "--", "sleep", "600"], env);
        Assert.True(code == 0, output);
        var id = long.Parse(output.Trim(), CultureInfo.InvariantCulture);
        JobInfo job = null!;
        await fleet.WaitAsync("the service to run", async () => (job = await fleet.JobAsync(id)).State == JobState.Running);
        Assert.Equal(ServiceHealth.Healthy, job.ServiceStatus!.Health); // no health check: running is healthy
        var nodes = await fleet.NodesAsync();
        var victim = int.Parse(nodes.Single(n => n.Id == job.NodeId).Name["agent".Length..], CultureInfo.InvariantCulture);

        await fleet.KillAgentAsync(victim);

        await fleet.WaitAsync("the service to run on the other node", async () => (job = await fleet.JobAsync(id)) is { State: JobState.Running, Attempts.Count: 2 });
        Assert.NotEqual(job.Attempts[0].NodeId, job.NodeId);
        Assert.Equal(AttemptState.Lost, job.Attempts[0].State);
        Assert.Equal(0, job.ServiceStatus!.Restarts);
        Assert.Contains(job.Transitions, t => t.To == JobState.Pending && t.Reason.Contains("lost", StringComparison.Ordinal));

        var (showCode, shown) = await GantryProcess.RunAsync(["services", "show", "steady"], env);
        Assert.Equal(0, showCode);
        Assert.Contains("healthy", shown, StringComparison.Ordinal);

        var (stopCode, stopped) = await GantryProcess.RunAsync(["services", "stop", "steady"], env);
        Assert.True(stopCode == 0, stopped);
        var done = (await fleet.WaitForJobsAsync([id], j => j.State.IsTerminal()))[0];
        Assert.Equal(JobState.Cancelled, done.State);
        await Task.Delay(TimeSpan.FromSeconds(3)); // past its restart delay: nothing comes back
        Assert.Equal(2, (await fleet.JobAsync(id)).Attempts.Count);
    }
}
