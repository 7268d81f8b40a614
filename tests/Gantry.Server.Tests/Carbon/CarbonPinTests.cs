using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Configuration;
using Gantry.Testing;
using Microsoft.AspNetCore.Http;

namespace Gantry.Server.Tests.Carbon;

/// <summary>
/// Shifting in space through the real carbon feature: Electricity Maps forecasts for two zones from a
/// stand-in API, a node in each, and a deferred job pinned to the zone its plan chose until its latest
/// start, across a restart on the same store.
/// </summary>
public sealed class CarbonPinTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(T0);
    private FakeCarbonApi _api = null!;

    public async Task InitializeAsync()
    {
        // uk-south: 300 g/kWh at every hour but 03:00, which is 100; de: 250 all day.
        _api = await FakeCarbonApi.StartAsync();
        _api.Answer("/v3/carbon-intensity/forecast", async context =>
        {
            var zone = context.Request.Query["zone"].ToString();
            var points = Enumerable.Range(0, 24).Select(h => string.Create(
                CultureInfo.InvariantCulture,
                $$"""{"carbonIntensity": {{(zone == "de" ? 250 : h == 3 ? 100 : 300)}}, "datetime": "{{T0.AddHours(h):yyyy-MM-ddTHH:mm:ss}}Z"}"""));
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync($$"""{"zone": "{{zone}}", "forecast": [{{string.Join(',', points)}}]}""");
        });
    }

    public async Task DisposeAsync() => await _api.DisposeAsync();

    [Fact]
    public async Task Released_ItsZoneFull_WaitsForItUntilItsLatestStart_EvenAcrossARestart()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-carbon-pin-").FullName;
        await using var store = await TestStore.CreateAsync();
        long id;
        string deId;
        string ukId;
        await using (var server = await ServerHarness.StartAsync(_time, dataDir, Configure, store))
        {
            var uk = await server.RegisterAsync("uk", 1, labels: new Dictionary<string, string> { ["zone"] = "uk-south" });
            var de = await server.RegisterAsync("de", 1, labels: new Dictionary<string, string> { ["zone"] = "de" });
            (deId, ukId) = (de.Id, uk.Id);
            await WantAsync(server, uk.Id, uk.Http, "uk-south");
            await WantAsync(server, de.Id, de.Http, "de");

            // uk-south's one GPU is taken for the day.
            var blocker = (await server.SubmitAsync(new JobSubmission { Command = ["serve"], Resources = new() { Gpus = 1 }, Selector = new Dictionary<string, string> { ["zone"] = "uk-south" } }))[0];
            Assert.Equal(uk.Id, (await server.WaitForJobAsync(blocker, j => j.NodeId is not null)).NodeId);

            // Planned for uk-south's low hour, over de's flat 250.
            id = (await server.SubmitAsync(new JobSubmission { Command = ["train"], Resources = new() { Gpus = 1 }, Deadline = T0.AddHours(8), ExpectedRuntimeSeconds = 3600 }))[0];
            var held = await server.JobAsync(id);
            Assert.Equal(T0.AddHours(3), held.PlannedStart);
            Assert.Equal("uk-south", held.PlannedLocation);
            Assert.StartsWith("deferred for carbon: now 300 g/kWh, planned 03:00 at 100 g/kWh (uk-south, UTC)", held.Reason, StringComparison.Ordinal);

            // Released at 03:00, it waits for uk-south although de's GPU is free.
            await FakeClock.AdvanceToAsync(_time, T0.AddHours(3).AddSeconds(5));
            var pinned = await PinnedAsync(server, id, uk.Id);
            Assert.Null(pinned.PlannedStart);
            Assert.Equal(0, server.Jobs.DeferredCount);
        }

        await using var again = await ServerHarness.StartAsync(_time, dataDir, Configure, store);

        // The pin survives the restart: queued (not held), still only for uk-south.
        var restored = await PinnedAsync(again, id, ukId);
        Assert.Equal("uk-south", restored.PlannedLocation);
        Assert.Null(restored.PlannedStart);
        Assert.Equal(0, again.Jobs.DeferredCount);

        // Until its latest start (08:00 − 1h) nothing else may take it; from then on any node.
        await FakeClock.AdvanceToAsync(_time, T0.AddHours(7) - TimeSpan.FromMinutes(1));
        Assert.Equal(JobState.Pending, (await again.JobAsync(id)).State);
        await FakeClock.AdvanceToAsync(_time, T0.AddHours(7).AddSeconds(2));
        var placed = await again.WaitForJobAsync(id, j => j.NodeId is not null);
        Assert.Equal(deId, placed.NodeId);
        Assert.Equal(JobState.Assigned, placed.State);
    }

    [Fact]
    public async Task Released_ItsZoneFree_PlacedThereNotInTheOtherZone()
    {
        await using var server = await ServerHarness.StartAsync(_time, configure: Configure);
        var de = await server.RegisterAsync("de", 1, labels: new Dictionary<string, string> { ["zone"] = "de" }, nodeId: "a-de");
        var uk = await server.RegisterAsync("uk", 1, labels: new Dictionary<string, string> { ["zone"] = "uk-south" }, nodeId: "b-uk");
        await WantAsync(server, uk.Id, uk.Http, "uk-south");
        await WantAsync(server, de.Id, de.Http, "de");

        var id = (await server.SubmitAsync(new JobSubmission { Command = ["train"], Resources = new() { Gpus = 1 }, Deadline = T0.AddHours(8), ExpectedRuntimeSeconds = 3600 }))[0];
        Assert.Equal("uk-south", (await server.JobAsync(id)).PlannedLocation);
        await FakeClock.AdvanceToAsync(_time, T0.AddHours(3).AddSeconds(2));

        // Both nodes fit it alike, and a-de sorts first: the pin sends it to uk-south.
        var job = await server.WaitForJobAsync(id, j => j.NodeId is not null);
        Assert.Equal("b-uk", job.NodeId);
    }

    private void Configure(ServerOptions o)
    {
        o.CarbonSource = "electricitymaps:" + _api.Url;
        o.CarbonSecret = "token";

        // Nodes stay ready over the simulated hours without heartbeats.
        o.HeartbeatInterval = TimeSpan.FromHours(12);
        o.DownAfter = TimeSpan.FromDays(3);
    }

    /// <summary>A heartbeat makes the node's zone wanted; waits until its forecast is fetched.</summary>
    private async Task WantAsync(ServerHarness server, string nodeId, HttpClient node, string zone)
    {
        var summary = new NodeSummary { SampledAt = _time.GetUtcNow(), PowerWatts = 100 };
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        await TraceFile.WaitForFreshAsync(server, zone);
    }

    /// <summary>
    /// Passes a second apart until the job's reason is the pin's (the next pass after a restart sets it).
    /// It has been queued since 00:00, so it also holds the reservation of uk-south's node.
    /// </summary>
    private async Task<JobInfo> PinnedAsync(ServerHarness server, long id, string ukId)
    {
        var pinned = $"waiting for a node in zone uk-south (carbon plan) until 07:00, then any node; node {ukId} is reserved for it";
        JobInfo job = null!;
        for (var i = 0; i < 100; i++)
        {
            job = await server.JobAsync(id);
            if (job.Reason == pinned)
            {
                break;
            }

            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        Assert.Equal(JobState.Pending, job.State);
        Assert.Equal(pinned, job.Reason);
        return job;
    }
}
