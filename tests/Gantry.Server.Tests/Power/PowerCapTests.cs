using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Power;
using Gantry.Testing;

namespace Gantry.Server.Tests.Power;

/// <summary>
/// Power caps through the real API and heartbeats: caps by hand (validated, stored across a restart,
/// sent with every heartbeat answer, the agent's refusal shown), a job's cap in its assignment, and the
/// fleet budget divided as jobs start and end (docs/power.md).
/// </summary>
public sealed class PowerCapTests
{
    private static async Task<HeartbeatResponse> HeartbeatAsync(HttpClient node, string nodeId, NodePowerReport? report = null, double gpuWatts = 60, int gpus = 2)
    {
        var summary = new NodeSummary
        {
            SampledAt = DateTimeOffset.UnixEpoch,
            Gpus = [.. Enumerable.Range(0, gpus).Select(i => new GpuSummary { Index = i, PowerWatts = gpuWatts })],
        };
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary, Power = report }, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(GantryJson.Default.HeartbeatResponse))!;
    }

    /// <summary>What an agent reports of GPUs that accept 100-400 W and are not capped.</summary>
    private static NodePowerReport Plain(long applied, int gpus) => new()
    {
        AppliedVersion = applied,
        Gpus = [.. Enumerable.Range(0, gpus).Select(i => new GpuPowerState { Index = i, LimitWatts = 400, MinWatts = 100, MaxWatts = 400 })],
    };

    private static async Task<NodeInfo> NodeAsync(ServerHarness server, string nodeId) =>
        (await server.Admin.GetFromJsonAsync($"/api/v1/nodes/{nodeId}", GantryJson.Default.NodeInfo))!;

    [Fact]
    public async Task ManualCap_Validated_SentWithHeartbeats_RefusalShown_KeptAcrossRestart_Lifted()
    {
        await using var store = await TestStore.CreateAsync();
        var dataDir = Directory.CreateTempSubdirectory("gantry-power-").FullName;
        string nodeId;
        long version;
        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            (nodeId, var node) = await server.RegisterAsync("box", 2);

            // A server that sends caps (none yet) reads the power report.
            var first = await HeartbeatAsync(node, nodeId);
            Assert.NotNull(first.Power);
            Assert.Empty(first.Power!.Gpus);

            using (var bad = await server.Admin.PutAsJsonAsync($"/api/v1/nodes/{nodeId}/power-cap", new PowerCapRequest { GpuWatts = 0 }, GantryJson.Default.PowerCapRequest))
            {
                Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
                Assert.Equal("application/problem+json", bad.Content.Headers.ContentType!.MediaType);
                Assert.Contains("gpuWatts", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            }

            using (var text = await server.Admin.PutAsync($"/api/v1/nodes/{nodeId}/power-cap", new StringContent("{\"gpuWatts\":\"abc\"}", System.Text.Encoding.UTF8, "application/json")))
            {
                Assert.Equal(HttpStatusCode.BadRequest, text.StatusCode);
            }

            using (var unknown = await server.Admin.PutAsJsonAsync("/api/v1/nodes/no-such-node/power-cap", new PowerCapRequest { GpuWatts = 300 }, GantryJson.Default.PowerCapRequest))
            {
                Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            }

            using (var set = await server.Admin.PutAsJsonAsync($"/api/v1/nodes/{nodeId}/power-cap", new PowerCapRequest { GpuWatts = 300 }, GantryJson.Default.PowerCapRequest))
            {
                Assert.Equal(HttpStatusCode.OK, set.StatusCode);
                var info = (await set.Content.ReadFromJsonAsync(GantryJson.Default.NodePowerInfo))!;
                Assert.Equal(300, info.ManualGpuWatts);
                version = info.Version;
            }

            var answer = await HeartbeatAsync(node, nodeId);
            Assert.Equal(version, answer.Power!.Version);
            Assert.Equal([(0, 300.0, PowerCapSource.Manual), (1, 300.0, PowerCapSource.Manual)], answer.Power.Gpus.Select(g => (g.Index, g.Watts, g.Source)));

            // The agent set GPU 0 and was refused GPU 1: the node says so, and /metrics.
            await HeartbeatAsync(node, nodeId, new NodePowerReport
            {
                AppliedVersion = version,
                Gpus =
                [
                    new GpuPowerState { Index = 0, LimitWatts = 300, MinWatts = 100, MaxWatts = 400, CapWatts = 300, WantedWatts = 300, PreviousWatts = 400, Source = PowerCapSource.Manual },
                    new GpuPowerState { Index = 1, LimitWatts = 400, MinWatts = 100, MaxWatts = 400, WantedWatts = 300, Source = PowerCapSource.Manual, Error = "nvmlDeviceSetPowerManagementLimit(300 W) on GPU 1 refused: NVML_ERROR_NO_PERMISSION (4)" },
                ],
            });
            var power = (await NodeAsync(server, nodeId)).Power!;
            Assert.Equal(version, power.AppliedVersion);
            Assert.Equal(300, power.Gpus[0].CapWatts);
            Assert.Contains("NVML_ERROR_NO_PERMISSION", power.Gpus[1].Error, StringComparison.Ordinal);
            var metrics = await server.Admin.GetStringAsync("/metrics");
            Assert.Contains($"gantry_server_gpu_power_limit_watts{{node=\"box\",node_id=\"{nodeId}\",gpu=\"0\",source=\"manual\"}} 300\n", metrics, StringComparison.Ordinal);
            Assert.Contains($"gantry_server_gpu_power_limit_watts{{node=\"box\",node_id=\"{nodeId}\",gpu=\"1\",source=\"none\"}} 400\n", metrics, StringComparison.Ordinal);
            Assert.Contains($"gantry_server_gpu_power_cap_refused{{node=\"box\",node_id=\"{nodeId}\",gpu=\"1\"}} 1\n", metrics, StringComparison.Ordinal);
            Assert.Contains($"gantry_server_gpu_power_cap_wanted_watts{{node=\"box\",node_id=\"{nodeId}\",gpu=\"1\",source=\"manual\"}} 300\n", metrics, StringComparison.Ordinal);
        }

        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            var (_, node) = await server.RegisterAsync("box", 2, nodeId: nodeId);
            var answer = await HeartbeatAsync(node, nodeId);
            Assert.Equal([300.0, 300.0], answer.Power!.Gpus.Select(g => g.Watts));
            Assert.True(answer.Power.Version > version, "a version after a restart is above the one before");

            using var lift = await server.Admin.DeleteAsync($"/api/v1/nodes/{nodeId}/power-cap");
            Assert.Equal(HttpStatusCode.OK, lift.StatusCode);
            Assert.Null((await lift.Content.ReadFromJsonAsync(GantryJson.Default.NodePowerInfo))!.ManualGpuWatts);
            Assert.Empty((await HeartbeatAsync(node, nodeId)).Power!.Gpus);
        }

        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            var (_, node) = await server.RegisterAsync("box", 2, nodeId: nodeId);
            Assert.Empty((await HeartbeatAsync(node, nodeId)).Power!.Gpus);
        }

        Directory.Delete(dataDir, recursive: true);
    }

    [Fact]
    public async Task Submit_GpuPowerCap_ValidatedShownAndCarriedInTheAssignment()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("box", 2);

        foreach (var (cap, gpus) in new[] { (0.0, 1), (20_000.0, 1), (250.0, 0) })
        {
            using var bad = await server.Admin.PostAsJsonAsync("/api/v1/jobs", new JobSubmission { Command = ["x"], Resources = new ResourceRequest { Gpus = gpus }, GpuPowerCapWatts = cap }, GantryJson.Default.JobSubmission);
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("gpuPowerCapWatts", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        var id = (await server.SubmitAsync(new JobSubmission { Command = ["x"], Resources = new ResourceRequest { Gpus = 1 }, GpuPowerCapWatts = 250 }))[0];

        Assert.Equal(250, (await server.JobAsync(id)).GpuPowerCapWatts);
        var assignment = (await ServerHarness.AssignmentsAsync(node, nodeId, a => a.Attempts.Count == 1)).Attempts[0];
        Assert.Equal(250, assignment.GpuPowerCapWatts);
    }

    [Fact]
    public async Task Budget_JobsStartAndEnd_BusyGpusShareWhatIdleOnesLeave_FleetKeptUnder_PassesPromtool()
    {
        await using var server = await ServerHarness.StartAsync(configure: o => (o.PowerBudgetWatts, o.PowerBudgetInterval) = (1000, TimeSpan.FromSeconds(1)));
        var (a, nodeA) = await server.RegisterAsync("a", 4);
        var (b, nodeB) = await server.RegisterAsync("b", 4);
        await HeartbeatAsync(nodeA, a, Plain(0, 4), gpus: 4);
        await HeartbeatAsync(nodeB, b, Plain(0, 4), gpus: 4);

        // All idle at 60 W: each is held at 66 W (60 W and a tenth), capped at its lowest limit of 100 W.
        var idle = await WaitForCapsAsync(nodeA, a, caps => caps.Count == 4 && caps.All(c => c.Watts == 100 && c.Source == PowerCapSource.Budget));
        Assert.Equal(4, idle.Count);

        // A two-GPU job starts: 6 idle GPUs keep 396 W, the 2 busy ones share the other 604 W (302 W each, within 100-400 W).
        var job = (await server.SubmitAsync(new JobSubmission { Command = ["x"], Resources = new ResourceRequest { Gpus = 2 } }))[0];
        var info = await server.WaitForJobAsync(job, j => j.NodeId is not null);
        var (busyNode, busyHttp) = info.NodeId == a ? (a, nodeA) : (b, nodeB);
        var assignment = (await ServerHarness.AssignmentsAsync(busyHttp, busyNode, r => r.Attempts.Count == 1)).Attempts[0];
        using (var started = await ServerHarness.ReportAsync(busyHttp, assignment, new AttemptEvent { Epoch = assignment.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UnixEpoch, Pid = 42 }))
        {
            Assert.Equal(HttpStatusCode.NoContent, started.StatusCode);
        }

        var busy = await WaitForCapsAsync(busyHttp, busyNode, caps => caps.Count(c => c.Watts == 302) == 2, gpus: 4);
        Assert.Equal(assignment.Gpus.Order(), busy.Where(c => c.Watts == 302).Select(c => c.Index).Order());
        Assert.All(busy.Where(c => !assignment.Gpus.Contains(c.Index)), c => Assert.Equal(100, c.Watts));
        var budget = (await server.Admin.GetFromJsonAsync("/api/v1/power", GantryJson.Default.PowerBudgetInfo))!;
        Assert.Equal((1000.0, 8, 2, false), (budget.BudgetWatts!.Value, budget.Gpus, budget.BusyGpus, budget.Insufficient));
        Assert.True(budget.AllocatedWatts <= 1000, $"allocated {budget.AllocatedWatts} W of 1000 W");

        // The job ends: every GPU is idle and held at its draw again.
        using (var ended = await ServerHarness.ReportAsync(busyHttp, assignment, new AttemptEvent { Epoch = assignment.Epoch, Type = AttemptEventType.Ended, Time = DateTimeOffset.UnixEpoch, Cause = AttemptEndCause.Exited, ExitCode = 0 }))
        {
            Assert.Equal(HttpStatusCode.NoContent, ended.StatusCode);
        }

        await WaitForCapsAsync(busyHttp, busyNode, caps => caps.Count == 4 && caps.All(c => c.Watts == 100), gpus: 4);

        var metrics = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains("gantry_server_power_budget_watts 1000\n", metrics, StringComparison.Ordinal);
        Assert.Contains("gantry_server_power_budget_gpus{state=\"idle\"} 8\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_gpu_power_cap_wanted_watts{{node=\"a\",node_id=\"{a}\",gpu=\"0\",source=\"budget\"}} 100\n", metrics, StringComparison.Ordinal);
        var promtool = Tools.Require("promtool", "prometheus");
        using var process = Process.Start(new ProcessStartInfo(promtool, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.StandardInput.WriteAsync(metrics);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, output);
    }

    /// <summary>Heartbeats (reporting plain GPUs) until the answer's caps satisfy <paramref name="until"/>.</summary>
    private static async Task<IReadOnlyList<GpuPowerOrder>> WaitForCapsAsync(HttpClient node, string nodeId, Func<IReadOnlyList<GpuPowerOrder>, bool> until, int gpus = 4)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var answer = await HeartbeatAsync(node, nodeId, Plain(0, gpus), gpus: gpus);
            if (until(answer.Power!.Gpus))
            {
                return answer.Power.Gpus;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the budget's caps did not come within 30s; last: {string.Join(", ", answer.Power.Gpus.Select(g => $"{g.Index}={g.Watts}"))}");
            await Task.Delay(100);
        }
    }
}

/// <summary>The budget's division on its own: a pure function of the GPUs, their ranges and the budget.</summary>
public sealed class PowerBudgetTests
{
    private static readonly Func<string, int, GpuRange> H100 = (_, _) => new GpuRange(200, 700);

    [Fact]
    public void Divide_BusyShareTheRest_IdleHeldAtTheirDraw_ShareAtTheHighestLimitNeedsNoCap()
    {
        BudgetGpu[] gpus = [new("n", 0, true, 650, null), new("n", 1, true, 650, null), new("n", 2, false, 100, null), new("n", 3, false, null, null)];

        var tight = PowerBudget.Divide(1200, gpus, H100);
        // Idle: 110 W reserved (capped at its 200 W minimum), 200 W reserved (never measured); busy: (1200 - 310) / 2.
        Assert.Equal(new Dictionary<int, double> { [0] = 445, [1] = 445, [2] = 200, [3] = 200 }, tight.Caps["n"]);
        Assert.Equal(1200, tight.AllocatedWatts, 6);
        Assert.False(tight.Insufficient);

        var ample = PowerBudget.Divide(5000, gpus, H100);
        Assert.False(ample.Caps["n"].ContainsKey(0));
        Assert.False(ample.Caps["n"].ContainsKey(1));
    }

    [Fact]
    public void Divide_JobCapBelowTheShare_LeftOverGoesToTheOthers()
    {
        BudgetGpu[] gpus = [new("a", 0, true, 300, 250), new("b", 0, true, 300, null), new("b", 1, true, 300, null)];

        var division = PowerBudget.Divide(1150, gpus, H100);

        Assert.Equal(250, division.Caps["a"][0]);
        Assert.Equal(450, division.Caps["b"][0]);
        Assert.Equal(450, division.Caps["b"][1]);
    }

    [Fact]
    public void Divide_BudgetBelowTheBusyMinimum_EachAtItsLowestAndSaysSo()
    {
        BudgetGpu[] gpus = [new("n", 0, true, 600, null), new("n", 1, true, 600, null)];

        var division = PowerBudget.Divide(300, gpus, H100);

        Assert.True(division.Insufficient);
        Assert.All(division.Caps["n"].Values, w => Assert.Equal(200, w));
    }

    [Theory]
    [InlineData("20kW", 20_000)]
    [InlineData("350W", 350)]
    [InlineData("1.5MW", 1_500_000)]
    [InlineData(" 800 ", 800)]
    [InlineData("2 kw", 2_000)]
    public void Watts_Parse_AcceptsWkWMW(string text, double watts) => Assert.Equal(watts, Watts.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("abc")]
    [InlineData("-5kW")]
    [InlineData("0W")]
    [InlineData("5GW")]
    public void Watts_Parse_RefusesAnythingElse(string text) => Assert.Throws<FormatException>(() => Watts.Parse(text));
}
