using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Carbon;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Carbon;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Jobs;

/// <summary>
/// Carbon-aware deferral through the real API and scheduler, with a fake clock and a carbon source
/// the test scripts (the real sources are tested on their own).
/// </summary>
public sealed class CarbonDeferralTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);
    private readonly FakeTimeProvider _time = new(T0);
    private readonly ScriptedCarbon _carbon = new();
    private ServerHarness _server = null!;

    public async Task InitializeAsync() =>
        _server = await ServerHarness.StartAsync(
            _time,
            configure: o =>
            {
                // Nodes stay ready over the simulated hours without heartbeats.
                o.HeartbeatInterval = TimeSpan.FromHours(12);
                o.DownAfter = TimeSpan.FromDays(3);
            },
            services: s => s.AddSingleton<ICarbonIntensity>(_carbon));

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Deferred_StartsAtTheLowPointAndSaysWhyWhileItWaits()
    {
        // Hourly from 00:00: 312 now, a trough at 03:00–04:00 of 148.
        _carbon.Set("GB", 312, 300, 290, 148, 280, 300, 310, 320, 330, 340);
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(Deferrable(TimeSpan.FromHours(8), TimeSpan.FromHours(1))))[0];

        var job = await _server.JobAsync(id);
        Assert.Equal(JobState.Pending, job.State);
        Assert.Equal(T0.AddHours(3), job.PlannedStart);
        Assert.StartsWith("deferred for carbon: now 312 g/kWh, planned 03:00 at 148 g/kWh", job.Reason, StringComparison.Ordinal);
        Assert.Equal(T0.AddHours(8), job.Deadline);
        Assert.Equal(3600, job.ExpectedRuntimeSeconds);

        // The reason is live: an hour on, it gives the intensity then.
        _time.Advance(TimeSpan.FromHours(1));
        await Task.Delay(100);
        job = await _server.JobAsync(id);
        Assert.Equal(JobState.Pending, job.State);
        Assert.StartsWith("deferred for carbon: now 300 g/kWh, planned 03:00", job.Reason, StringComparison.Ordinal);

        await AdvanceToAsync(T0.AddHours(3) - TimeSpan.FromSeconds(5));
        Assert.Equal(JobState.Pending, (await _server.JobAsync(id)).State);

        var assigned = await AssignedAsync(id);
        Assert.Null(assigned.PlannedStart);
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        Assert.Equal(id, a.JobId);
        // Queued by the last pass before its start (passes run at least once a second), not earlier.
        Assert.InRange(assigned.Transitions[^1].Time, T0.AddHours(3) - TimeSpan.FromSeconds(1), T0.AddHours(3).AddSeconds(1));
    }

    [Fact]
    public async Task Deferred_FallingToTheDeadline_StartsByDeadlineMinusRuntime()
    {
        // Falling all day: the best window is as late as possible, and no later.
        _carbon.Set("GB", 400, 350, 300, 250, 200, 150, 100, 50, 20, 10);
        await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(Deferrable(TimeSpan.FromHours(4.5), TimeSpan.FromHours(1))))[0];

        var job = await _server.JobAsync(id);
        Assert.Equal(T0.AddHours(3.5), job.PlannedStart);

        await AdvanceToAsync(T0.AddHours(3.5) - TimeSpan.FromSeconds(5));
        var assigned = await AssignedAsync(id);
        Assert.True(assigned.Transitions[^1].Time <= T0.AddHours(3.5), $"assigned at {assigned.Transitions[^1].Time:O}");
    }

    [Fact]
    public async Task NoDeadline_NeverDeferred()
    {
        _carbon.Set("GB", 400, 10, 10, 10);
        await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["train.py"] }))[0];

        var job = await _server.WaitForJobAsync(id, j => j.State == JobState.Assigned);
        Assert.Null(job.PlannedStart);
        Assert.Null(job.Deadline);
    }

    [Fact]
    public async Task NoForecast_NotDeferred()
    {
        await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(Deferrable(TimeSpan.FromHours(8), TimeSpan.FromHours(1))))[0];

        var job = await _server.WaitForJobAsync(id, j => j.State == JobState.Assigned);
        Assert.Null(job.PlannedStart);
        Assert.Equal(T0.AddHours(8), job.Deadline);
    }

    [Theory]
    [InlineData(0.5, 3600.0, "deadline", "cannot be met: it is 30m away")]
    [InlineData(-1.0, 60.0, "deadline", "is in the past")]
    [InlineData(2.0, null, "deadline", "needs expectedRuntimeSeconds too")]
    [InlineData(null, 60.0, "expectedRuntimeSeconds", "needs a deadline too")]
    [InlineData(2.0, 0.0, "expectedRuntimeSeconds", "must be more than 0")]
    public async Task Submit_DeadlineThatCannotBeMet_Is400NamingIt(double? hoursAhead, double? runtimeSeconds, string field, string message)
    {
        var submission = new JobSubmission
        {
            Command = ["train.py"],
            Deadline = hoursAhead is { } h ? T0.AddHours(h) : null,
            ExpectedRuntimeSeconds = runtimeSeconds,
        };

        using var response = await _server.Admin.PostAsJsonAsync("/api/v1/jobs", submission, GantryJson.Default.JobSubmission);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var messages = problem.RootElement.GetProperty("errors").GetProperty(field);
        Assert.Contains(message, messages[0].GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cancel_WhileDeferred_EndsItAndItNeverStarts()
    {
        _carbon.Set("GB", 312, 300, 148, 300, 300, 300);
        await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(Deferrable(TimeSpan.FromHours(5), TimeSpan.FromHours(1))))[0];
        Assert.Equal(T0.AddHours(2), (await _server.JobAsync(id)).PlannedStart);

        using (var cancel = await _server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", null))
        {
            Assert.True(cancel.IsSuccessStatusCode, cancel.StatusCode.ToString());
        }

        await AdvanceToAsync(T0.AddHours(2.5));
        var job = await _server.JobAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Equal(0, _server.Jobs.DeferredCount);
    }

    private Task AdvanceToAsync(DateTimeOffset target) => FakeClock.AdvanceToAsync(_time, target);

    /// <summary>Moves the clock a second at a time until the job is assigned (a pass runs at least once a second).</summary>
    private async Task<JobInfo> AssignedAsync(long id)
    {
        for (var i = 0; i < 600; i++)
        {
            var job = await _server.JobAsync(id);
            if (job.State == JobState.Assigned)
            {
                return job;
            }

            _time.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(20);
        }

        throw new Xunit.Sdk.XunitException($"job {id} was not assigned within 600 simulated seconds");
    }

    private static JobSubmission Deferrable(TimeSpan deadlineIn, TimeSpan runtime) => new()
    {
        Command = ["train.py"],
        Deadline = T0 + deadlineIn,
        ExpectedRuntimeSeconds = runtime.TotalSeconds,
    };

    /// <summary>A carbon source with the forecast the test sets: hourly points from T0.</summary>
    private sealed class ScriptedCarbon : ICarbonIntensity
    {
        private volatile CarbonForecast? _forecast;

        public bool Configured => true;

        public IReadOnlyList<string> Warnings => [];

        public void Set(string location, params double[] hourly) =>
            _forecast = new CarbonForecast(location, [.. hourly.Select((g, i) => new IntensityPoint(T0.AddHours(i), g))], TimeSpan.FromHours(1), T0);

        public string? LocationOf(IReadOnlyDictionary<string, string> nodeLabels) => "GB";

        public CarbonForecast? Forecast(string location) => _forecast is { } f && f.Location == location ? f : null;

        public double? IntensityAt(string location, DateTimeOffset time) => Forecast(location)?.IntensityAt(time);
    }
}
