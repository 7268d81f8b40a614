using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Health;

/// <summary>
/// The GPU health policy through the real API: heartbeats that carry XIDs and conditions, the jobs on
/// the GPUs they hit, placement around cordoned GPUs, the fleet breaker, and a person's cordon.
/// </summary>
public sealed class GpuHealthTests
{
    private static readonly Dictionary<string, string> PoolA = new() { ["pool"] = "a" };

    private static AttemptEvent Started(Assignment a) => new() { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UnixEpoch, Pid = 42 };

    private static AttemptEvent Stopped(Assignment a) => new() { Epoch = a.Epoch, Type = AttemptEventType.Ended, Time = DateTimeOffset.UnixEpoch, Cause = AttemptEndCause.Stopped, Signal = "SIGTERM" };

    private static JobSubmission OneGpu(int retries = 0) => new() { Command = ["train.py"], Resources = new ResourceRequest { Gpus = 1 }, Selector = PoolA, Retries = retries };

    private static NodeHealthReport Report(params GpuHealthReport[] gpus) => new() { BootId = "boot-1", Gpus = gpus };

    private static GpuHealthReport Gpu(int index, params long[] xids) => new()
    {
        Index = index,
        Xids = [.. xids.Select(x => new XidEvent { Xid = x, At = DateTimeOffset.UtcNow, Source = XidEventSource.Nvml })],
        EccUncorrectedVolatile = 0,
        RemappedRowsPending = false,
        RemappedRowsFailure = false,
        RecoveryAction = GpuRecoveryNeed.None,
    };

    private static async Task<HeartbeatResponse> HeartbeatAsync(HttpClient node, string nodeId, NodeHealthReport? health)
    {
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Health = health }, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(GantryJson.Default.HeartbeatResponse))!;
    }

    private static async Task<NodeInfo> NodeAsync(ServerHarness server, string nodeId) =>
        (await server.Admin.GetFromJsonAsync($"/api/v1/nodes/{nodeId}", GantryJson.Default.NodeInfo))!;

    /// <summary>Submits one single-GPU job per GPU of node "a" and starts each; returns them by GPU.</summary>
    private static async Task<Dictionary<int, Assignment>> FillAsync(ServerHarness server, HttpClient node, string nodeId, int count, int retries)
    {
        for (var i = 0; i < count; i++)
        {
            await server.SubmitAsync(OneGpu(retries));
        }

        var attempts = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == count)).Attempts;
        foreach (var a in attempts)
        {
            using var started = await ServerHarness.ReportAsync(node, a, Started(a));
            Assert.Equal(HttpStatusCode.NoContent, started.StatusCode);
        }

        return attempts.ToDictionary(a => a.Gpus[0]);
    }

    [Fact]
    public async Task Heartbeat_AnyAgent_AnswerSaysTheServerReadsHealth()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("a", 4, labels: PoolA);

        // An agent of an earlier version sends no health: answered as before, and nothing is decided.
        var answer = await HeartbeatAsync(node, nodeId, health: null);

        Assert.True(answer.AcceptsHealth);
        Assert.Equal(NodeState.Ready, answer.State);
        var info = await NodeAsync(server, nodeId);
        Assert.All(info.Gpus, g => Assert.Null(g.Health));
        Assert.Null(info.Health);
        Assert.Empty(info.HealthHistory!);
    }

    [Fact]
    public async Task Xid79_OnOneGpuOfFour_NodeDrainedWithinTheHeartbeatAndItsJobRequeued()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("a", 4, labels: PoolA);
        await server.RegisterAsync("b", 4);
        var running = await FillAsync(server, node, nodeId, 4, retries: 1);

        var answer = await HeartbeatAsync(node, nodeId, Report(Gpu(0), Gpu(1, 79), Gpu(2), Gpu(3)));

        // Handled before the heartbeat was answered: the node takes no new work, GPU 1 is out until a reboot.
        Assert.Equal(NodeState.Draining, answer.State);
        var info = await NodeAsync(server, nodeId);
        Assert.True(info.Health!.Drained);
        Assert.Contains("XID 79", info.Health.Cause, StringComparison.Ordinal);
        Assert.Equal(GpuHealthState.Cordoned, info.Gpus[1].Health!.State);
        Assert.Equal(HealthRecovery.Reboot, info.Gpus[1].Health!.Until);
        Assert.Null(info.Gpus[0].Health);

        // The job on GPU 1 is queued again (a retry), the others run on.
        var requeued = await server.JobAsync(running[1].JobId);
        Assert.Equal(JobState.Pending, requeued.State);
        var back = requeued.Transitions[^1];
        Assert.Equal(JobState.Pending, back.To);
        Assert.Contains("XID 79", back.Reason, StringComparison.Ordinal);
        Assert.Contains("retry 1 of 1", back.Reason, StringComparison.Ordinal);
        Assert.Equal(AttemptState.Lost, requeued.Attempts[^1].State);
        foreach (var gpu in new[] { 0, 2, 3 })
        {
            Assert.Equal(JobState.Running, (await server.JobAsync(running[gpu].JobId)).State);
        }

        var changes = info.HealthHistory!.Select(e => (e.Gpu, e.Change)).ToList();
        Assert.Contains((null, HealthChange.Drained), changes);
        Assert.Contains((1, HealthChange.Cordoned), changes);
        Assert.Contains((1, HealthChange.JobStopped), changes);
        Assert.All(info.HealthHistory!, e => Assert.Equal(HealthActor.Automation, e.Actor));
        Assert.Contains("XID 79", info.HealthHistory!.First(e => e.Change == HealthChange.Drained).Evidence, StringComparison.Ordinal);

        // A reboot (a new boot id) ends the drain.
        var rebooted = await HeartbeatAsync(node, nodeId, Report(Gpu(0), Gpu(1), Gpu(2), Gpu(3)) with { BootId = "boot-2" });
        Assert.Equal(NodeState.Ready, rebooted.State);
        Assert.False((await NodeAsync(server, nodeId)).Health?.Drained ?? false);
    }

    [Fact]
    public async Task Xid13_OnOneGpu_OnlyThatJobFails()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("a", 4, labels: PoolA);
        var running = await FillAsync(server, node, nodeId, 2, retries: 0);

        var answer = await HeartbeatAsync(node, nodeId, Report(Gpu(0, 13), Gpu(1), Gpu(2), Gpu(3)));

        // The agent is told to stop the job on GPU 0; when it has, the job failed, saying why.
        Assert.Equal(NodeState.Ready, answer.State);
        var stop = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Any(a => a.Action == AssignmentAction.Stop))).Attempts.Single(a => a.Action == AssignmentAction.Stop);
        Assert.Equal(running[0].JobId, stop.JobId);
        using (var ended = await ServerHarness.ReportAsync(node, stop, Stopped(stop)))
        {
            Assert.Equal(HttpStatusCode.NoContent, ended.StatusCode);
        }

        var failed = await server.JobAsync(running[0].JobId);
        Assert.Equal(JobState.Failed, failed.State);
        Assert.Contains("XID 13", failed.Reason, StringComparison.Ordinal);
        Assert.Equal(JobState.Running, (await server.JobAsync(running[1].JobId)).State);

        // Nothing else changed: the GPU is healthy and takes the next job.
        var info = await NodeAsync(server, nodeId);
        Assert.All(info.Gpus, g => Assert.Null(g.Health));
        Assert.Equal(NodeState.Ready, info.State);
        var next = (await server.SubmitAsync(OneGpu()))[0];
        var placed = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Any(a => a.JobId == next))).Attempts.Single(a => a.JobId == next);
        Assert.Equal([0], placed.Gpus);
        Assert.Contains(info.HealthHistory!, e => e is { Gpu: 0, Change: HealthChange.JobStopped } && e.JobId == running[0].JobId);
    }

    [Fact]
    public async Task Xid48_CordonsTheGpuUntilAReset_TheOtherThreeKeepTakingJobs()
    {
        await using var server = await ServerHarness.StartAsync(configure: o => o.GpuCleanFor = TimeSpan.Zero);
        var (nodeId, node) = await server.RegisterAsync("a", 4, labels: PoolA);
        await server.RegisterAsync("b", 4);

        await HeartbeatAsync(node, nodeId, Report(Gpu(0), Gpu(1), Gpu(2, 48) with { EccUncorrectedVolatile = 1 }, Gpu(3)));
        var cordoned = (await NodeAsync(server, nodeId)).Gpus[2].Health!;
        Assert.Equal(GpuHealthState.Cordoned, cordoned.State);
        Assert.Equal(HealthRecovery.Reset, cordoned.Until);
        Assert.Contains("XID 48", cordoned.Cause, StringComparison.Ordinal);

        // Three jobs take GPUs 0, 1 and 3; a fourth waits, though the node has four GPUs.
        var jobs = new List<long>();
        for (var i = 0; i < 4; i++)
        {
            jobs.Add((await server.SubmitAsync(OneGpu()))[0]);
        }

        var placed = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 3)).Attempts;
        Assert.Equal([0, 1, 3], placed.SelectMany(a => a.Gpus).Order());
        var waiting = jobs.Single(j => placed.All(a => a.JobId != j));
        Assert.Equal(JobState.Pending, (await server.JobAsync(waiting)).State);

        // A heartbeat without a reset changes nothing, even once the count stops rising.
        await HeartbeatAsync(node, nodeId, Report(Gpu(0), Gpu(1), Gpu(2) with { EccUncorrectedVolatile = 1 }, Gpu(3)));
        Assert.Equal(GpuHealthState.Cordoned, (await NodeAsync(server, nodeId)).Gpus[2].Health!.State);
        Assert.Equal(JobState.Pending, (await server.JobAsync(waiting)).State);

        // The reset (the agent saw the ECC counter go back to 0): healthy again, and the waiting job gets GPU 2.
        await HeartbeatAsync(node, nodeId, Report(Gpu(0), Gpu(1), Gpu(2) with { ResetAt = DateTimeOffset.UtcNow }, Gpu(3)));
        var info = await NodeAsync(server, nodeId);
        Assert.Null(info.Gpus[2].Health);
        var last = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Any(a => a.JobId == waiting))).Attempts.Single(a => a.JobId == waiting);
        Assert.Equal([2], last.Gpus);
        Assert.Contains(info.HealthHistory!, e => e is { Gpu: 2, Change: HealthChange.Healthy, Actor: HealthActor.Automation });
    }

    [Fact]
    public async Task ResetClass_CleanForNotPassed_StaysCordonedUntilItHas()
    {
        var time = new Gantry.Testing.FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time, configure: o => o.GpuCleanFor = TimeSpan.FromMinutes(5));
        var (nodeId, node) = await server.RegisterAsync("a", 2, labels: PoolA);
        await server.RegisterAsync("b", 2);

        await HeartbeatAsync(node, nodeId, Report(Gpu(0) with { RemappedRowsPending = true }, Gpu(1)));
        Assert.Equal(GpuHealthState.Cordoned, (await NodeAsync(server, nodeId)).Gpus[0].Health!.State);

        var reset = time.GetUtcNow();
        await HeartbeatAsync(node, nodeId, Report(Gpu(0) with { ResetAt = reset }, Gpu(1)));
        var recovering = (await NodeAsync(server, nodeId)).Gpus[0].Health!;
        Assert.Equal(GpuHealthState.Cordoned, recovering.State);
        Assert.NotNull(recovering.CleanSince);

        time.Advance(TimeSpan.FromMinutes(5));
        await HeartbeatAsync(node, nodeId, Report(Gpu(0) with { ResetAt = reset }, Gpu(1)));
        Assert.Null((await NodeAsync(server, nodeId)).Gpus[0].Health);
    }

    [Fact]
    public async Task ManyGpusFailingAtOnce_BreakerHoldsAtMaxAutoCordon()
    {
        await using var server = await ServerHarness.StartAsync();
        var nodes = new List<(string Id, HttpClient Http)>();
        for (var i = 0; i < 5; i++)
        {
            nodes.Add(await server.RegisterAsync($"n{i}", 4));
        }

        // 12 of the fleet's 20 GPUs (60%) report an XID 48 at once; automation may take 10 (50%).
        await Task.WhenAll(nodes.Take(3).Select(n => HeartbeatAsync(n.Http, n.Id, Report(Gpu(0, 48), Gpu(1, 48), Gpu(2, 48), Gpu(3, 48)))));

        var infos = await Task.WhenAll(nodes.Select(n => NodeAsync(server, n.Id)));
        var gpus = infos.SelectMany(n => n.Gpus).ToList();
        Assert.Equal(10, gpus.Count(g => g.Health?.State == GpuHealthState.Cordoned));
        var held = gpus.Where(g => g.Health?.Held is not null).ToList();
        Assert.Equal(2, held.Count);
        Assert.All(held, g => Assert.Equal(GpuHealthState.Degraded, g.Health!.State));
        Assert.Contains(infos.SelectMany(n => n.HealthHistory!), e => e.Change == HealthChange.Held && e.Cause.Contains("--max-auto-cordon", StringComparison.Ordinal));

        // It holds: the same XIDs again change nothing, and nothing else is taken.
        await Task.WhenAll(nodes.Take(3).Select(n => HeartbeatAsync(n.Http, n.Id, Report(Gpu(0, 48), Gpu(1, 48), Gpu(2, 48), Gpu(3, 48)))));
        gpus = (await Task.WhenAll(nodes.Select(n => NodeAsync(server, n.Id)))).SelectMany(n => n.Gpus).ToList();
        Assert.Equal(10, gpus.Count(g => g.Health?.State == GpuHealthState.Cordoned));

        // And it alerts: the held actions wait for a person, and the cordons that need a reset are alerts too.
        server.App.Services.GetRequiredService<AlertEngine>().Evaluate();
        var alerts = (await server.Admin.GetFromJsonAsync("/api/v1/alerts?state=firing", GantryJson.Default.AlertsResponse))!.Alerts;
        var holding = Assert.Single(alerts, a => a.Name == "GantryHealthBreakerHolding");
        Assert.Equal(2, holding.Value);
        Assert.Equal("critical", holding.Labels["severity"]);
        Assert.Equal(10, alerts.Count(a => a.Name == "GantryGpuNeedsReset"));

        // A person decides: uncordoning a held GPU dismisses what was held.
        var (heldNode, heldGpu) = infos.SelectMany(n => n.Gpus.Where(g => g.Health?.Held is not null).Select(g => (n.Id, g.Index))).First();
        using var response = await server.Admin.PostAsJsonAsync($"/api/v1/nodes/{heldNode}/uncordon", new CordonRequest { Gpu = heldGpu, Reason = "checked: a bad driver push" }, GantryJson.Default.CordonRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var after = (await response.Content.ReadFromJsonAsync(GantryJson.Default.NodeInfo))!;
        Assert.Null(after.Gpus[heldGpu].Health);
        Assert.Contains(after.HealthHistory!, e => e.Actor == HealthActor.Person && e.Cause == "checked: a bad driver push");
    }

    [Fact]
    public async Task PersonCordon_GpuLeftOutOfPlacement_AutomationNeverLiftsIt()
    {
        await using var server = await ServerHarness.StartAsync(configure: o => o.GpuCleanFor = TimeSpan.Zero);
        var (nodeId, node) = await server.RegisterAsync("a", 2, labels: PoolA);

        using (var response = await server.Admin.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/cordon", new CordonRequest { Gpu = 0, Reason = "fan noise" }, GantryJson.Default.CordonRequest))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var info = (await response.Content.ReadFromJsonAsync(GantryJson.Default.NodeInfo))!;
            Assert.Equal(GpuHealthState.Cordoned, info.Gpus[0].Health!.State);
            Assert.True(info.Gpus[0].Health!.Manual);
            Assert.Equal(HealthRecovery.Person, info.Gpus[0].Health!.Until);
        }

        // A reset report does not lift a person's cordon; new jobs go to GPU 1 only.
        await HeartbeatAsync(node, nodeId, Report(Gpu(0) with { ResetAt = DateTimeOffset.UtcNow }, Gpu(1)));
        Assert.True((await NodeAsync(server, nodeId)).Gpus[0].Health!.Manual);
        var first = (await server.SubmitAsync(OneGpu()))[0];
        var second = (await server.SubmitAsync(OneGpu()))[0];
        var placed = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts.Single();
        Assert.Equal([1], placed.Gpus);
        Assert.Equal(JobState.Pending, (await server.JobAsync(placed.JobId == first ? second : first)).State);

        // Uncordoned without a body: every GPU of the node.
        using (var response = await server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/uncordon", content: null))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 2);
    }

    [Fact]
    public async Task PersonUncordon_ConditionStillThere_NotCordonedAgainUntilANewFault()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("a", 2);
        await server.RegisterAsync("b", 2);
        var pending = Gpu(0) with { RemappedRowsPending = true };
        await HeartbeatAsync(node, nodeId, Report(pending, Gpu(1)));
        Assert.Equal(GpuHealthState.Cordoned, (await NodeAsync(server, nodeId)).Gpus[0].Health!.State);

        using (var response = await server.Admin.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/uncordon", new CordonRequest { Gpu = 0 }, GantryJson.Default.CordonRequest))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        // The pending remap a person has seen does not cordon it again; a new XID 48 does.
        await HeartbeatAsync(node, nodeId, Report(pending, Gpu(1)));
        Assert.NotEqual(GpuHealthState.Cordoned, (await NodeAsync(server, nodeId)).Gpus[0].Health?.State);
        await HeartbeatAsync(node, nodeId, Report(pending with { Xids = [new XidEvent { Xid = 48, At = DateTimeOffset.UtcNow, Source = XidEventSource.KernelLog, Text = "DBE" }] }, Gpu(1)));
        Assert.Equal(GpuHealthState.Cordoned, (await NodeAsync(server, nodeId)).Gpus[0].Health!.State);
    }

    [Fact]
    public async Task SameXidSentAgain_ActedOnOnce()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("a", 1, labels: PoolA);
        var running = await FillAsync(server, node, nodeId, 1, retries: 0);

        // The agent's clock runs ahead of the server's, so the XID's time says nothing of which job it hit.
        var xid = new XidEvent { Xid = 13, At = DateTimeOffset.UtcNow.AddMinutes(10), Source = XidEventSource.Nvml };
        await HeartbeatAsync(node, nodeId, Report(Gpu(0) with { Xids = [xid] }));
        var stop = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Any(a => a.Action == AssignmentAction.Stop))).Attempts.Single();
        using (var ended = await ServerHarness.ReportAsync(node, stop, Stopped(stop)))
        {
            Assert.Equal(HttpStatusCode.NoContent, ended.StatusCode);
        }

        Assert.Equal(JobState.Failed, (await server.JobAsync(running[0].JobId)).State);
        var next = (await FillAsync(server, node, nodeId, 1, retries: 0))[0];

        // The agent did not get the first answer, so it sends the same XID again: the next job runs on.
        await HeartbeatAsync(node, nodeId, Report(Gpu(0) with { Xids = [xid] }));

        Assert.Equal(JobState.Running, (await server.JobAsync(next.JobId)).State);
        Assert.Single((await NodeAsync(server, nodeId)).HealthHistory!, e => e.Change == HealthChange.JobStopped);
    }

    [Fact]
    public async Task Health_SurvivesARestart()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-health-restart-").FullName;
        await using var store = await Gantry.Testing.TestStore.CreateAsync();
        string nodeId;
        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            HttpClient node;
            (nodeId, node) = await server.RegisterAsync("a", 4);
            await server.RegisterAsync("b", 4);
            await HeartbeatAsync(node, nodeId, Report(Gpu(0), Gpu(1), Gpu(2, 48), Gpu(3)));
        }

        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            var info = await NodeAsync(server, nodeId);
            Assert.Equal(GpuHealthState.Cordoned, info.Gpus[2].Health!.State);
            Assert.Contains(info.HealthHistory!, e => e is { Gpu: 2, Change: HealthChange.Cordoned });
        }
    }
}
