using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Server.Tests.Energy;

/// <summary><c>GET /api/v1/reports/energy</c> on a real server and store, with a fake clock.</summary>
public sealed class EnergyReportTests
{
    private static async Task HeartbeatAsync(HttpClient node, string nodeId, params AttemptEnergyReport[] energy)
    {
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { AttemptEnergy = energy }, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static AttemptEnergyReport Energy(Assignment a, DateTimeOffset since, DateTimeOffset at, double gpu, double? cpu = null) => new()
    {
        JobId = a.JobId,
        Attempt = a.Attempt,
        Epoch = a.Epoch,
        Since = since,
        MeasuredAt = at,
        GpuEnergyJoules = gpu,
        CpuEnergyJoules = cpu,
        Estimated = cpu is not null,
    };

    /// <summary>Runs a job on the node its selector picks for <paramref name="duration"/>; ends it with these figures unless <paramref name="end"/> is false (then the figures come by heartbeat).</summary>
    private static async Task RunAsync(ServerHarness server, FakeTimeProvider clock, (string Id, HttpClient Http) node, string team, string name, int gpus, TimeSpan duration, double gpuJoules, double? cpuJoules = null, bool end = true)
    {
        // The clock jumped past the node's lease: it says it is alive before it is given work.
        await HeartbeatAsync(node.Http, node.Id);
        var id = (await server.SubmitAsync(new JobSubmission { Name = name, Command = ["x"], Resources = new ResourceRequest { Gpus = gpus }, Selector = new Dictionary<string, string> { ["team"] = team } }))[0];
        await server.WaitForJobAsync(id, j => j.State != JobState.Pending);
        var a = (await ServerHarness.AssignmentsAsync(node.Http, node.Id, r => r.Attempts.Any(x => x.JobId == id))).Attempts.Single(x => x.JobId == id);
        var since = clock.GetUtcNow();
        (await ServerHarness.ReportAsync(node.Http, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = since })).Dispose();
        clock.Advance(duration);
        if (!end)
        {
            await HeartbeatAsync(node.Http, node.Id, Energy(a, since, clock.GetUtcNow(), gpuJoules, cpuJoules));
            return;
        }

        using var ended = await ServerHarness.ReportAsync(node.Http, a, new AttemptEvent
        {
            Epoch = a.Epoch,
            Type = AttemptEventType.Ended,
            Time = clock.GetUtcNow(),
            Cause = AttemptEndCause.Exited,
            ExitCode = 0,
            Energy = Energy(a, since, clock.GetUtcNow(), gpuJoules, cpuJoules),
        });
        Assert.True(ended.IsSuccessStatusCode);
    }

    [Fact]
    public async Task Report_ByNodeLabelAndName_SumsThePeriodsAttemptsRunningOnesIncluded()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ServerHarness.StartAsync(clock, configure: o =>
        {
            // The clock jumps by hours and days: no node may go down meanwhile.
            o.HeartbeatInterval = TimeSpan.FromMinutes(5);
            o.DownAfter = TimeSpan.FromDays(30);
        });
        var n1 = await server.RegisterAsync("n1", gpus: 4, labels: new Dictionary<string, string> { ["team"] = "vision" });
        var n2 = await server.RegisterAsync("n2", gpus: 4, labels: new Dictionary<string, string> { ["team"] = "nlp", ["zone"] = "gb" });

        // Ended eight days ago: outside a 7d report.
        await RunAsync(server, clock, n1, "vision", "old", 1, TimeSpan.FromMinutes(10), 9e9);
        clock.Advance(TimeSpan.FromDays(8));

        await RunAsync(server, clock, n1, "vision", "train", 2, TimeSpan.FromHours(1), 1000, cpuJoules: 100);
        await RunAsync(server, clock, n2, "nlp", "train", 1, TimeSpan.FromMinutes(30), 500);
        await RunAsync(server, clock, n2, "nlp", "eval", 1, TimeSpan.FromMinutes(30), 250);
        await RunAsync(server, clock, n1, "vision", "serve", 1, TimeSpan.FromHours(2), 400, end: false);

        using (var byNode = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/reports/energy?since=7d&by=node")))
        {
            var report = byNode.RootElement.Deserialize(GantryJson.Default.EnergyReport)!;
            Assert.Equal("node", report.By);
            Assert.Equal([n1.Id, n2.Id], report.Groups.Select(g => g.Group));
            var first = report.Groups[0];
            Assert.Equal(1500, first.EnergyJoules);
            Assert.Equal(1400, first.GpuEnergyJoules);
            Assert.Equal(100, first.CpuEnergyJoules);
            Assert.Equal(2 + 2, first.GpuHours, 6);
            Assert.Equal(2, first.Jobs);
            Assert.True(first.Estimated);
            Assert.Null(first.Co2Grams);
            Assert.Equal(750, report.Groups[1].EnergyJoules);
            Assert.Equal(1, report.Groups[1].GpuHours, 6);
            Assert.False(report.Groups[1].Estimated);
            Assert.Equal(2250, report.Total.EnergyJoules);
            Assert.Equal(4, report.Total.Jobs);
            Assert.Equal(clock.GetUtcNow() - TimeSpan.FromDays(7), report.Since);
        }

        var byTeam = (await server.Admin.GetFromJsonAsync("/api/v1/reports/energy?since=7d&by=label:team", GantryJson.Default.EnergyReport))!;
        Assert.Equal(["vision", "nlp"], byTeam.Groups.Select(g => g.Group));
        var byZone = (await server.Admin.GetFromJsonAsync("/api/v1/reports/energy?since=7d&by=label:zone", GantryJson.Default.EnergyReport))!;
        Assert.Equal(["(none)", "gb"], byZone.Groups.Select(g => g.Group));
        var byName = (await server.Admin.GetFromJsonAsync("/api/v1/reports/energy?since=30d&by=name", GantryJson.Default.EnergyReport))!;
        Assert.Equal(["old", "train", "serve", "eval"], byName.Groups.Select(g => g.Group));
        Assert.Equal(2, byName.Groups[1].Jobs);
        Assert.Equal(1600, byName.Groups[1].EnergyJoules);
    }

    [Theory]
    [InlineData("since=7days", "since")]
    [InlineData("since=0s", "since")]
    [InlineData("since=99999d", "since")]
    [InlineData("by=team", "by")]
    [InlineData("by=label:", "by")]
    [InlineData("by=label:a%20b", "by")]
    public async Task Report_BadQuery_400ProblemNamingTheParameter(string query, string parameter)
    {
        await using var server = await ServerHarness.StartAsync();
        using var response = await server.Admin.GetAsync("/api/v1/reports/energy?" + query);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(parameter, out _), problem.RootElement.ToString());
    }

    [Fact]
    public async Task Report_NoToken_401()
    {
        await using var server = await ServerHarness.StartAsync();
        using var response = await server.Anonymous.GetAsync("/api/v1/reports/energy");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }
}
