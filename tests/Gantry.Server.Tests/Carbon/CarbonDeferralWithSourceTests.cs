using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Configuration;
using Gantry.Testing;

namespace Gantry.Server.Tests.Carbon;

/// <summary>
/// Deferral through the real carbon feature: a <c>file:</c> trace source and <c>--carbon-location</c>,
/// as <c>gantry dev --carbon-source file:… --carbon-location GB</c> runs it (the deferral tests in
/// Jobs/ script the intensity instead), and across restarts on the same data dir and store.
/// </summary>
public sealed class CarbonDeferralWithSourceTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(T0);
    private readonly string _dataDir = Directory.CreateTempSubdirectory("gantry-carbon-deferral-").FullName;
    private TraceFile _trace = null!;
    private TestStore _store = null!;

    public async Task InitializeAsync()
    {
        // 300 g/kWh at every hour but 03:00, which is 100.
        _trace = await TraceFile.HourlyAsync(hour => hour == 3 ? 100 : 300);
        _store = await TestStore.CreateAsync();
    }

    public async Task DisposeAsync()
    {
        _trace.Dispose();
        await _store.DisposeAsync();
    }

    [Fact]
    public async Task FileSource_DeadlineJob_IsHeldForTheTracesLowHour()
    {
        await using var server = await StartAsync();
        await server.RegisterAsync("box", 1);
        await TraceFile.WaitForFreshAsync(server, "GB");

        var id = (await server.SubmitAsync(Deferrable()))[0];

        var job = await server.JobAsync(id);
        Assert.Equal(JobState.Pending, job.State);
        Assert.Equal(T0.AddHours(3), job.PlannedStart);
        Assert.Equal("GB", job.PlannedLocation);
        Assert.StartsWith("deferred for carbon: now 300 g/kWh, planned 03:00 at 100 g/kWh", job.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_HeldJob_StaysHeldWithItsPlanAndStartsAtIt()
    {
        var (id, nodeId, credential, before) = await HoldOneThenStopAsync();

        _time.Advance(TimeSpan.FromMinutes(30));
        await using var again = await StartAsync();

        // Still held, for the same start, with the same reason (the figures read at 00:30 are the same).
        var job = await again.JobAsync(id);
        Assert.Equal(JobState.Pending, job.State);
        Assert.Equal(before.PlannedStart, job.PlannedStart);
        Assert.Equal("GB", job.PlannedLocation);
        Assert.Equal(before.Reason, job.Reason);
        Assert.StartsWith("deferred for carbon: now 300 g/kWh, planned 03:00 at 100 g/kWh (GB, UTC)", job.Reason, StringComparison.Ordinal);
        Assert.Equal(1, again.Jobs.DeferredCount);

        // Passes before 03:00 leave it held; at 03:00 it is placed.
        await FakeClock.AdvanceToAsync(_time, T0.AddHours(3) - TimeSpan.FromSeconds(5));
        Assert.Equal(JobState.Pending, (await again.JobAsync(id)).State);
        using var node = again.Client(credential);
        await FakeClock.AdvanceToAsync(_time, T0.AddHours(3).AddSeconds(2));
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        Assert.Equal(id, a.JobId);
        var assigned = await again.JobAsync(id);
        Assert.Null(assigned.PlannedStart);
        Assert.InRange(assigned.Transitions[^1].Time, T0.AddHours(3) - TimeSpan.FromSeconds(1), T0.AddHours(3).AddSeconds(2));
        Assert.Equal(0, again.Jobs.DeferredCount);
    }

    [Fact]
    public async Task Restart_PlannedStartPassedWhileDown_QueuedAtOnce()
    {
        var (id, _, _, _) = await HoldOneThenStopAsync();

        _time.Advance(TimeSpan.FromHours(3.5));
        await using var again = await StartAsync();

        Assert.Equal(0, again.Jobs.DeferredCount);
        var job = await again.WaitForJobAsync(id, j => j.State == JobState.Assigned);
        Assert.Null(job.PlannedStart);
        Assert.Equal("GB", job.PlannedLocation);
    }

    [Fact]
    public async Task Cancel_HeldJob_PlanClearedAndNotHeldAfterARestart()
    {
        var (id, _, _, _) = await HoldOneThenStopAsync();
        await using (var server = await StartAsync())
        {
            Assert.Equal(1, server.Jobs.DeferredCount);
            using var cancel = await server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", null);
            Assert.True(cancel.IsSuccessStatusCode, cancel.StatusCode.ToString());
        }

        await using var again = await StartAsync();
        var job = await again.JobAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Null(job.PlannedStart);
        Assert.Null(job.PlannedLocation);
        Assert.Equal(0, again.Jobs.DeferredCount);
    }

    /// <summary>A server with a node, and a job held for 03:00; stopped before this returns.</summary>
    private async Task<(long Id, string NodeId, string Credential, JobInfo Held)> HoldOneThenStopAsync()
    {
        await using var server = await StartAsync();
        var (nodeId, http) = await server.RegisterAsync("box", 1);
        await TraceFile.WaitForFreshAsync(server, "GB");
        var id = (await server.SubmitAsync(Deferrable()))[0];
        var held = await server.JobAsync(id);
        Assert.Equal(T0.AddHours(3), held.PlannedStart);
        Assert.Equal(1, server.Jobs.DeferredCount);
        return (id, nodeId, http.DefaultRequestHeaders.Authorization!.Parameter!, held);
    }

    /// <summary>A server on the test's clock, data dir and store (so a second one is a restart of the first).</summary>
    private Task<ServerHarness> StartAsync() => ServerHarness.StartAsync(_time, _dataDir, Configure, _store);

    private void Configure(ServerOptions o)
    {
        o.CarbonSource = "file:" + _trace.Path;
        o.CarbonLocation = "GB";

        // Nodes stay ready over the simulated hours without heartbeats.
        o.HeartbeatInterval = TimeSpan.FromHours(12);
        o.DownAfter = TimeSpan.FromDays(3);
    }

    private static JobSubmission Deferrable() => new()
    {
        Command = ["train"],
        Resources = new ResourceRequest { Gpus = 1 },
        Deadline = T0.AddHours(8),
        ExpectedRuntimeSeconds = 1800,
    };
}
