using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Carbon;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Carbon;
using Gantry.Server.Storage;
using Gantry.Server.Tests.Carbon;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Energy;

/// <summary>
/// Job energy on a real server: figures from heartbeats kept live in memory, written to the store only
/// when flushed and at the attempt's end; CO2e per interval at that interval's intensity (a test source).
/// </summary>
public sealed class JobEnergyTests
{
    private static readonly DateTimeOffset Since = new(2026, 12, 3, 6, 0, 0, TimeSpan.Zero);

    /// <summary>100 g/kWh in zone gb before <see cref="Since"/> + 15 s, 300 after; nothing known elsewhere.</summary>
    internal sealed class StepIntensity : ICarbonIntensity
    {
        public bool Configured => true;

        public IReadOnlyList<string> Warnings => [];

        public string? LocationOf(IReadOnlyDictionary<string, string> nodeLabels) => nodeLabels.TryGetValue("zone", out var zone) ? zone : null;

        public CarbonForecast? Forecast(string location) => null;

        public double? IntensityAt(string location, DateTimeOffset time) => location == "gb" ? (time < Since.AddSeconds(15) ? 100 : 300) : null;
    }

    private static AttemptEnergyReport Report(Assignment a, double seconds, double gpuJoules, double? cpuJoules = null, double peak = 400) => new()
    {
        JobId = a.JobId,
        Attempt = a.Attempt,
        Epoch = a.Epoch,
        Since = Since,
        MeasuredAt = Since.AddSeconds(seconds),
        GpuEnergyJoules = gpuJoules,
        CpuEnergyJoules = cpuJoules,
        AverageGpuPowerWatts = gpuJoules / seconds,
        PeakGpuPowerWatts = peak,
        Estimated = cpuJoules is not null,
    };

    /// <summary>A one-GPU node named <paramref name="name"/> running a one-GPU job, its attempt started at <see cref="Since"/>.</summary>
    private static async Task<(string NodeId, HttpClient Node, long JobId, Assignment Attempt)> StartOneAsync(ServerHarness server, string name)
    {
        var (nodeId, node) = await server.RegisterAsync(name, gpus: 1);
        var id = (await server.SubmitAsync(new JobSubmission { Command = ["train"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = Since })).Dispose();
        return (nodeId, node, id, a);
    }

    private static async Task<HeartbeatResponse> HeartbeatAsync(HttpClient node, string nodeId, params AttemptEnergyReport[] energy)
    {
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { AttemptEnergy = energy }, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(GantryJson.Default.HeartbeatResponse))!;
    }

    [Fact]
    public async Task Heartbeats_LiveFiguresInMemory_StoredWhenFlushedAndFinalAtTheEnd_Co2PerIntervalAtItsIntensity()
    {
        await using var server = await ServerHarness.StartAsync(
            configure: o => o.EnergyWriteInterval = TimeSpan.FromHours(1),
            services: s => s.AddSingleton<ICarbonIntensity>(new StepIntensity()));
        var (nodeId, node) = await server.RegisterAsync("n1", gpus: 2, labels: new Dictionary<string, string> { ["zone"] = "gb" });
        var id = (await server.SubmitAsync(new JobSubmission { Command = ["train"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = Since, Pid = 7 })).Dispose();

        // 1 kWh in the first 10 s: its middle (5 s) is at 100 g/kWh. A report with another epoch is not the attempt's.
        var answer = await HeartbeatAsync(node, nodeId, Report(a, 10, 3.6e6), Report(a, 10, 9e9) with { Epoch = a.Epoch + 1 });
        Assert.True(answer.AcceptsEnergy);
        var live = await server.JobAsync(id);
        Assert.Equal(JobState.Running, live.State);
        Assert.Equal(3.6e6, live.GpuEnergyJoules);
        Assert.Equal(3.6e6, live.EnergyJoules);
        Assert.Equal(100, live.Co2Grams!.Value, 6);
        Assert.Equal(360_000, live.AverageGpuPowerWatts!.Value, 6);
        Assert.Equal(400, live.PeakGpuPowerWatts);
        Assert.False(live.EnergyEstimated);
        Assert.Equal(3.6e6, Assert.Single(live.Attempts).GpuEnergyJoules);

        // Kept in memory, not written per heartbeat.
        var store = server.App.Services.GetRequiredService<IStateStore>();
        Assert.Null(store.ReadAttempt(id, 1)!.Energy);
        Assert.Equal(1, server.Jobs.FlushEnergy());
        Assert.Equal(3.6e6, store.ReadAttempt(id, 1)!.Energy!.GpuJoules);
        Assert.Equal(0, server.Jobs.FlushEnergy());

        // The end: another 1 kWh of GPU and 0.5 kWh of CPU by 30 s, its middle (20 s) at 300 g/kWh.
        using (var ended = await ServerHarness.ReportAsync(node, a, new AttemptEvent
        {
            Epoch = a.Epoch,
            Type = AttemptEventType.Ended,
            Time = Since.AddSeconds(30),
            Cause = AttemptEndCause.Exited,
            ExitCode = 0,
            Energy = Report(a, 30, 7.2e6, cpuJoules: 1.8e6, peak: 300),
        }))
        {
            Assert.True(ended.IsSuccessStatusCode, ended.StatusCode.ToString());
        }

        var job = await server.JobAsync(id);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(9e6, job.EnergyJoules);
        Assert.Equal(7.2e6, job.GpuEnergyJoules);
        Assert.Equal(1.8e6, job.CpuEnergyJoules);
        Assert.Equal(100 + (1.5 * 300), job.Co2Grams!.Value, 6);
        Assert.Equal(400, job.PeakGpuPowerWatts);
        Assert.True(job.EnergyEstimated);
        var row = store.ReadAttempt(id, 1)!.Energy!;
        Assert.Equal(1.8e6, row.CpuJoules);
        Assert.Equal(550, row.Co2Grams!.Value, 6);

        // A late heartbeat for the ended attempt changes nothing.
        await HeartbeatAsync(node, nodeId, Report(a, 40, 9e9));
        Assert.Equal(7.2e6, (await server.JobAsync(id)).GpuEnergyJoules);
    }

    [Fact]
    public async Task SimulatedGpus_EnergyLabelledSimulated_LiveEndedInTheReportAndAfterARestart()
    {
        await using var store = await TestStore.CreateAsync();
        var dataDir = Directory.CreateTempSubdirectory("gantry-energy-sim-").FullName;
        long id;
        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            var (nodeId, node, started, a) = await StartOneAsync(server, "sim");
            id = started;
            await HeartbeatAsync(node, nodeId, Report(a, 10, 1000) with { Simulated = true });

            var live = await server.JobAsync(id);
            Assert.True(live.EnergySimulated);
            Assert.True(Assert.Single(live.Attempts).EnergySimulated);

            using (var ended = await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Time = Since.AddSeconds(20), Cause = AttemptEndCause.Exited, ExitCode = 0, Energy = Report(a, 20, 2000) with { Simulated = true } }))
            {
                Assert.True(ended.IsSuccessStatusCode, ended.StatusCode.ToString());
            }

            var report = (await server.Admin.GetFromJsonAsync("/api/v1/reports/energy?since=30d&by=node", GantryJson.Default.EnergyReport))!;
            Assert.True(Assert.Single(report.Groups).Simulated);
            Assert.True(report.Total.Simulated);
        }

        // Stored with its label: read back from the store by a new server.
        await using var again = await ServerHarness.StartAsync(dataDir: dataDir, store: store);
        var job = await again.JobAsync(id);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(2000, job.GpuEnergyJoules);
        Assert.True(job.EnergySimulated);
        Assert.True(Assert.Single(job.Attempts).EnergySimulated);
    }

    [Fact]
    public async Task MeasuredGpus_EnergyNotLabelledSimulated()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node, id, a) = await StartOneAsync(server, "n1");
        await HeartbeatAsync(node, nodeId, Report(a, 10, 1000));

        var job = await server.JobAsync(id);
        Assert.Null(job.EnergySimulated);
        Assert.Null(Assert.Single(job.Attempts).EnergySimulated);
    }

    [Fact]
    public async Task NoCarbonSource_EnergyCountedWithoutCo2()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node, id, a) = await StartOneAsync(server, "n1");
        await HeartbeatAsync(node, nodeId, Report(a, 10, 1000));

        var job = await server.JobAsync(id);
        Assert.Equal(1000, job.GpuEnergyJoules);
        Assert.Null(job.Co2Grams);
    }

    [Fact]
    public async Task FileCarbonSource_Co2eAtTheTracesIntensityForTheInterval()
    {
        // An hourly trace whose intensity is a function of the hour of day (100 + 10 × hour): replayed by
        // whole weeks, so the intensity now is that of the same hour in the trace.
        using var trace = await TraceFile.HourlyAsync(hour => 100 + (10 * hour));
        await using var server = await ServerHarness.StartAsync(configure: o =>
        {
            o.CarbonSource = "file:" + trace.Path;
            o.CarbonLocation = "GB";
        });
        var (nodeId, node) = await server.RegisterAsync("n1", gpus: 1);
        var id = (await server.SubmitAsync(new JobSubmission { Command = ["train"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        var since = DateTimeOffset.UtcNow;
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = since })).Dispose();

        // 1 kWh over 10 s: CO2e at the intensity of the interval's middle.
        var report = Report(a, 10, 3.6e6) with { Since = since, MeasuredAt = since.AddSeconds(10) };
        await TraceFile.WaitForFreshAsync(server, "GB");
        await HeartbeatAsync(node, nodeId, report);
        var job = await server.JobAsync(id);
        Assert.Equal(3.6e6, job.GpuEnergyJoules);
        Assert.NotNull(job.Co2Grams);
        Assert.Equal(100 + (10 * since.AddSeconds(5).Hour), job.Co2Grams.Value, 6);
    }
}
