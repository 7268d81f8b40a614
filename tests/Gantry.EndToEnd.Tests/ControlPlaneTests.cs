using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// The control plane end to end: a real <c>gantry server</c> and three real agents with simulated
/// GPU inventories (2, 4 and 8 GPUs) on loopback, running real child processes.
/// </summary>
[Collection("fleet")]
public sealed class ControlPlaneTests
{
    private static readonly int[] Sizes = [1, 2, 1, 4, 1, 2, 8, 1, 2, 1];

    [Fact]
    public async Task Fleet_SixtyMixedJobs_AllSucceedNoGpuSharedAndPrioritiesRespected()
    {
        await using var fleet = await Fleet.StartAsync(2, 4, 8);
        // Hold the queue while everything is submitted, so priorities decide the order.
        await fleet.DrainAllAsync(true);
        var priorities = new Dictionary<long, int>();
        for (var i = 0; i < 60; i++)
        {
            var priority = i < 30 ? 10 : 90;
            var id = (await fleet.SubmitAsync(new JobSubmission
            {
                Name = $"mixed-{i}",
                Shell = true,
                Command = [$"f={fleet.Work}/job-$GANTRY_JOB_ID-$GANTRY_ATTEMPT; printf '%s %s %s\\n' \"$GANTRY_NODE_ID\" \"[$CUDA_VISIBLE_DEVICES]\" \"$(date +%s%N)\" > $f; sleep 0.3; date +%s%N >> $f"],
                Resources = new ResourceRequest { Gpus = Sizes[i % Sizes.Length], Cpus = 0 },
                Priority = priority,
            }))[0];
            priorities[id] = priority;
        }

        await fleet.DrainAllAsync(false);
        var jobs = await fleet.WaitForJobsAsync(priorities.Keys, j => j.State.IsTerminal(), seconds: 180);

        Assert.All(jobs, j => Assert.True(j.State == JobState.Succeeded, $"job {j.Id} {j.State}: {j.Reason}"));
        Assert.All(jobs, j => Assert.Single(j.Attempts));

        // Each job's own view: it ran once, on its node, with exactly the GPUs it was given.
        var intervals = new List<(string Node, int Gpu, long Start, long End, long Job)>();
        foreach (var job in jobs)
        {
            var files = Directory.GetFiles(fleet.Work, $"job-{job.Id}-*");
            Assert.Single(files);
            var lines = File.ReadAllLines(files[0]);
            var first = lines[0].Split(' ');
            Assert.Equal(job.NodeId, first[0]);
            Assert.Equal($"[{string.Join(',', job.Gpus)}]", first[1]);
            Assert.Equal(Sizes[(int)((job.Id - jobs.Min(j => j.Id)) % Sizes.Length)], job.Gpus.Count);
            foreach (var gpu in job.Gpus)
            {
                intervals.Add((job.NodeId!, gpu, long.Parse(first[2], CultureInfo.InvariantCulture), long.Parse(lines[1], CultureInfo.InvariantCulture), job.Id));
            }
        }

        // No GPU ever held by two running jobs: from the jobs' own clocks...
        foreach (var group in intervals.GroupBy(i => (i.Node, i.Gpu)))
        {
            var ordered = group.OrderBy(i => i.Start).ToList();
            for (var k = 1; k < ordered.Count; k++)
            {
                Assert.True(ordered[k].Start >= ordered[k - 1].End, $"GPU {group.Key.Gpu} of {group.Key.Node} ran jobs {ordered[k - 1].Job} and {ordered[k].Job} at once");
            }
        }

        // ...and from the recorded assignments: a GPU is placed again only after its previous attempt ended.
        var attempts = jobs.SelectMany(j => j.Attempts.SelectMany(a => a.Gpus.Select(g => (a.NodeId, Gpu: g, a.AssignedAt, End: a.EndedAt!.Value, j.Id))));
        foreach (var group in attempts.GroupBy(a => (a.NodeId, a.Gpu)))
        {
            var ordered = group.OrderBy(a => a.AssignedAt).ToList();
            for (var k = 1; k < ordered.Count; k++)
            {
                Assert.True(ordered[k].AssignedAt >= ordered[k - 1].End, $"GPU {group.Key.Gpu} of {group.Key.NodeId} assigned to job {ordered[k].Id} while job {ordered[k - 1].Id} held it");
            }
        }

        // Priorities: among jobs of one size, no low-priority job was placed before a high-priority one.
        foreach (var size in Sizes.Distinct())
        {
            var same = jobs.Where(j => j.Gpus.Count == size).ToList();
            var lastHigh = same.Where(j => priorities[j.Id] == 90).Max(j => j.Attempts[0].AssignedAt);
            var firstLow = same.Where(j => priorities[j.Id] == 10).Min(j => j.Attempts[0].AssignedAt);
            Assert.True(lastHigh <= firstLow, $"{size}-GPU jobs: a priority-10 job was placed at {firstLow:O}, before the last priority-90 one at {lastHigh:O}");
        }
    }

    [Fact]
    public async Task AgentKilled_RunningJobRequeuedAndFinishedElsewhere_OrphanKilledOnRestart()
    {
        await using var fleet = await Fleet.StartAsync(2, 4, 8);
        var id = (await fleet.SubmitAsync(new JobSubmission
        {
            Name = "survivor",
            Shell = true,
            Command = [$"echo $$ > {fleet.Work}/pid-$GANTRY_ATTEMPT; if [ \"$GANTRY_ATTEMPT\" = 1 ]; then exec sleep 300; fi; echo finished on $GANTRY_NODE_ID"],
            Resources = new ResourceRequest { Gpus = 1, Cpus = 0 },
            Retries = 1,
        }))[0];
        JobInfo job = null!;
        await fleet.WaitAsync("the job to run", async () => (job = await fleet.JobAsync(id)).State == JobState.Running && File.Exists(Path.Combine(fleet.Work, "pid-1")));
        var nodes = await fleet.NodesAsync();
        var victim = nodes.FindIndex(n => n.Id == job.NodeId);
        var victimIndex = int.Parse(nodes[victim].Name["agent".Length..], CultureInfo.InvariantCulture);
        var orphanPid = int.Parse(File.ReadAllText(Path.Combine(fleet.Work, "pid-1")).Trim(), CultureInfo.InvariantCulture);

        await fleet.KillAgentAsync(victimIndex);

        var done = (await fleet.WaitForJobsAsync([id], j => j.State.IsTerminal()))[0];
        Assert.Equal(JobState.Succeeded, done.State);
        Assert.Equal(2, done.Attempts.Count);
        Assert.Equal(AttemptState.Lost, done.Attempts[0].State);
        Assert.NotEqual(job.NodeId, done.Attempts[1].NodeId);
        var logs = await fleet.Admin.GetStringAsync($"/api/v1/jobs/{id}/logs");
        Assert.Contains($"finished on {done.Attempts[1].NodeId}", logs, StringComparison.Ordinal);

        // The first attempt's process outlived its agent; the agent's restart kills it, and the node keeps its id.
        Assert.True(Directory.Exists($"/proc/{orphanPid}"), "the orphan should still run while its agent is dead");
        await fleet.RestartAgentAsync(victimIndex);
        await fleet.WaitAsync("the orphaned job process to be killed", () => Task.FromResult(!Directory.Exists($"/proc/{orphanPid}") || File.ReadAllText($"/proc/{orphanPid}/stat").Split(' ')[2] == "Z"));
        await fleet.WaitAsync("the restarted node to be ready under its old id", async () => (await fleet.NodesAsync()).Any(n => n.Id == job.NodeId && n.State == Gantry.Core.Nodes.NodeState.Ready));
        Assert.Equal(3, (await fleet.NodesAsync()).Count);
    }

    [Fact]
    public async Task ServerKilled_MidRun_NothingLostNothingRunTwice()
    {
        await using var fleet = await Fleet.StartAsync(2, 4, 8);
        var runs = Path.Combine(fleet.Work, "runs");
        var ids = await fleet.SubmitAsync(new JobSubmission
        {
            Name = "steady",
            Shell = true,
            Command = [$"echo \"$GANTRY_JOB_ID $GANTRY_ATTEMPT\" >> {runs}; sleep 2; echo done"],
            Resources = new ResourceRequest { Gpus = 1, Cpus = 0 },
            Array = new ArrayRange { Start = 1, End = 20 },
        });
        await fleet.WaitAsync("some jobs to run", async () => (await fleet.JobsAsync()).Count(j => j.State == JobState.Running) >= 5);

        await fleet.KillServerAsync();
        await Task.Delay(1500);
        await fleet.StartServerAsync();

        var jobs = await fleet.WaitForJobsAsync(ids, j => j.State.IsTerminal(), seconds: 180);
        Assert.Equal(20, jobs.Count);
        Assert.All(jobs, j => Assert.True(j.State == JobState.Succeeded, $"job {j.Id} {j.State}: {j.Reason}"));
        Assert.All(jobs, j => Assert.Single(j.Attempts));
        var lines = File.ReadAllLines(runs);
        Assert.Equal(20, lines.Length);
        Assert.Equal(ids.Order(), lines.Select(l => long.Parse(l.Split(' ')[0], CultureInfo.InvariantCulture)).Order());
        foreach (var job in jobs)
        {
            Assert.Contains("done", await fleet.Admin.GetStringAsync($"/api/v1/jobs/{job.Id}/logs"), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task ServerForgetsEverything_AgentRegistersAgainUnderItsOwnId()
    {
        await using var fleet = await Fleet.StartAsync(2);
        var id = (await fleet.NodesAsync())[0].Id;

        await fleet.KillServerAsync();
        await fleet.Store.WipeAsync(fleet.DataDir);

        await fleet.StartServerAsync();
        await fleet.WaitAsync("the agent to register again", async () => (await fleet.NodesAsync()) is [{ State: Gantry.Core.Nodes.NodeState.Ready } node] && node.Id == id);
        var job = (await fleet.SubmitAsync(new JobSubmission { Command = ["true"], Resources = new ResourceRequest { Gpus = 1, Cpus = 0 } }))[0];
        Assert.Equal(JobState.Succeeded, (await fleet.WaitForJobsAsync([job], j => j.State.IsTerminal()))[0].State);
    }
}
