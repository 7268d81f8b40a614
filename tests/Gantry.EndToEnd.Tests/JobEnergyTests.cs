using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// Job energy end to end: a real <c>gantry server</c> and a real agent on the fake NVML library, whose
/// energy counters run with the clock at a scripted power (<c>energy_clock=1</c>); the job is a real
/// child process that notes when it starts and ends, so the counter's delta over its run is known.
/// </summary>
[Collection("fleet")]
public sealed class JobEnergyTests : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("gantry-e2e-energy-").FullName;
    private readonly string _joinToken = "gjoin_e2e-" + Guid.NewGuid().ToString("N");
    private readonly List<GantryProcess> _processes = [];
    private TestStore _store = null!;
    private HttpClient _admin = null!;
    private string _url = null!;
    private GantryProcess? _agent;
    private GantryProcess? _server;

    public async Task InitializeAsync()
    {
        _store = await TestStore.CreateAsync();
        var dataDir = Path.Combine(_root, "server");
        var port = Tools.FreePort();
        _url = $"http://127.0.0.1:{port}";
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{port}", "--data-dir", dataDir, .. _store.Arguments, "--heartbeat-interval", "1s",
            "--down-after", "10s", "--kill-grace", "1s", "--join-token", _joinToken, "--energy-write-interval", "2s"]);
        _processes.Add(_server);
        await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        _admin = new HttpClient { BaseAddress = new Uri(_url), Timeout = TimeSpan.FromSeconds(60) };
        _admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim());
    }

    public async Task DisposeAsync()
    {
        foreach (var process in _processes)
        {
            await process.DisposeAsync();
        }

        _admin.Dispose();
        await _store.DisposeAsync();
        Directory.Delete(_root, recursive: true);
    }

    private async Task StartAgentAsync(params string[] script)
    {
        var scriptPath = Path.Combine(_root, "nvml.txt");
        await File.WriteAllLinesAsync(scriptPath, script);
        _agent = GantryProcess.Start(
            ["agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--nvml-library", FakeNvmlLibrary.CurrentDriverPath,
                "--server", _url, "--join-token", _joinToken, "--state-dir", Path.Combine(_root, "agent"), "--node-name", "energy-node"],
            new Dictionary<string, string> { [FakeNvmlLibrary.ScriptVariable] = scriptPath });
        _processes.Add(_agent);
        await _agent.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        await WaitAsync("the node ready with two GPUs", async () => (await _admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items is [{ State: NodeState.Ready, Gpus.Count: 2 }]);
    }

    private async Task<JobInfo> JobAsync(long id) => (await _admin.GetFromJsonAsync($"/api/v1/jobs/{id}", GantryJson.Default.JobInfo))!;

    private async Task WaitAsync(string what, Func<Task<bool>> condition, int seconds = 60)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}.\nserver:\n{Tail(_server?.Output)}\nagent:\n{Tail(_agent?.Output)}");
            }

            await Task.Delay(200);
        }
    }

    private static string Tail(string? text) => text is null ? "" : text.Length > 4000 ? text[^4000..] : text;

    /// <summary>Runs a one-GPU job that notes its own start and end (ns) and returns it ended, with its run time in seconds.</summary>
    private async Task<(JobInfo Job, double Seconds, JobInfo Live)> RunTimedJobAsync()
    {
        var marks = Path.Combine(_root, "marks");
        using var response = await _admin.PostAsJsonAsync(
            "/api/v1/jobs",
            new JobSubmission { Command = [$"date +%s%N > {marks}.start; sleep 8; date +%s%N > {marks}.end"], Shell = true, Resources = new ResourceRequest { Gpus = 1, Cpus = 0 } },
            GantryJson.Default.JobSubmission);
        var id = (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];

        // While it runs, its figures come with the heartbeats.
        JobInfo live = null!;
        await WaitAsync("live energy on the running job", async () => (live = await JobAsync(id)) is { State: JobState.Running, GpuEnergyJoules: > 0 });
        await WaitAsync("the job to end", async () => (await JobAsync(id)).State.IsTerminal());
        var job = await JobAsync(id);
        Assert.Equal(JobState.Succeeded, job.State);
        var start = long.Parse((await File.ReadAllTextAsync(marks + ".start")).Trim(), CultureInfo.InvariantCulture);
        var end = long.Parse((await File.ReadAllTextAsync(marks + ".end")).Trim(), CultureInfo.InvariantCulture);
        return (job, (end - start) / 1e9, live);
    }

    [Fact]
    public async Task EnergyCounter_AtAScriptedPower_JobsGpuEnergyIsTheCountersDeltaWithin1Percent()
    {
        // GPU 0 at 300 W, GPU 1 at 200 W: only the job's GPU counts.
        await StartAgentAsync("gpus=2", "gpu.0.energy_clock=1", "gpu.0.power_mw=300000", "gpu.1.energy_clock=1", "gpu.1.power_mw=200000");
        var (job, seconds, live) = await RunTimedJobAsync();

        var watts = job.Gpus[0] == 0 ? 300.0 : 200.0;
        var expected = watts * seconds;
        Assert.True(Math.Abs(job.GpuEnergyJoules!.Value - expected) <= 0.01 * expected, $"GPU energy {job.GpuEnergyJoules} J, counter delta over the run {expected:F1} J ({seconds:F3} s at {watts} W)");
        Assert.False(job.EnergyEstimated == true && job.CpuEnergyJoules is null, "the counter's figure is exact: only a CPU share may make it estimated");
        Assert.Equal(job.GpuEnergyJoules + (job.CpuEnergyJoules ?? 0), job.EnergyJoules);
        Assert.InRange(job.AverageGpuPowerWatts!.Value, watts * 0.97, watts * 1.01);
        Assert.Equal(watts, job.PeakGpuPowerWatts);
        Assert.True(live.GpuEnergyJoules < job.GpuEnergyJoules, "the live figure grows to the final one");
        var attempt = Assert.Single(job.Attempts);
        Assert.Equal(job.GpuEnergyJoules, attempt.GpuEnergyJoules);
    }

    [Fact]
    public async Task EnergyCounterUnsupported_PowerIntegratedOverSamples_Within5PercentAndEstimated()
    {
        await StartAgentAsync("gpus=2", "gpu.0.energy_mj=unsupported", "gpu.0.power_mw=250000", "gpu.1.energy_mj=unsupported", "gpu.1.power_mw=250000");
        var (job, seconds, _) = await RunTimedJobAsync();

        var expected = 250.0 * seconds;
        Assert.True(Math.Abs(job.GpuEnergyJoules!.Value - expected) <= 0.05 * expected, $"GPU energy {job.GpuEnergyJoules} J, power over the run {expected:F1} J ({seconds:F3} s)");
        Assert.True(job.EnergyEstimated);
        Assert.True(Assert.Single(job.Attempts).EnergyEstimated);
    }
}
