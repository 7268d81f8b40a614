using System.Globalization;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Core.Text;
using Gantry.Testing;
using Xunit.Abstractions;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// Job energy end to end: a real <c>gantry server</c> and a real agent on the fake NVML library, whose
/// energy counters run with the clock at a scripted power (<c>energy_clock=1</c>); the job is a real
/// child process that notes when it starts and ends, so the counter's delta over its run is known.
/// </summary>
[Collection("fleet")]
public sealed class JobEnergyTests(ITestOutputHelper log) : IAsyncLifetime
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

        // The counter runs at the scripted power, so its delta over the window the agent measured (its
        // reading just before the process started to the one just after it exited) is that power times
        // the window: the average GPU power (energy over the window) is within 1 % of the power exactly
        // when the energy is within 1 % of the counter's delta. A sample interval lost or counted twice
        // would be ~1 s of 8.
        var window = job.GpuEnergyJoules!.Value / job.AverageGpuPowerWatts!.Value;
        var delta = watts * window;
        log.WriteLine($"counter: {job.GpuEnergyJoules:F1} J measured, {delta:F1} J counter delta over the measured {window:F3} s at {watts} W ({(job.GpuEnergyJoules / delta - 1) * 100:F3} %); the job's own run {seconds:F3} s");
        Assert.True(Math.Abs(job.GpuEnergyJoules.Value - delta) <= 0.01 * delta, $"GPU energy {job.GpuEnergyJoules} J, counter delta {delta:F1} J ({window:F3} s at {watts} W)");

        // The window holds the job's own run (it noted its start and end) and hugs it.
        Assert.InRange(window, seconds, seconds + 2);
        Assert.False(job.EnergyEstimated == true && job.CpuEnergyJoules is null, "the counter's figure is exact: only a CPU share may make it estimated");
        Assert.Null(job.EnergySimulated); // the fake NVML library is real GPUs to the agent
        Assert.Equal(job.GpuEnergyJoules + (job.CpuEnergyJoules ?? 0), job.EnergyJoules);
        // The peak is the highest sampled draw, and never below the counter's average over the window.
        Assert.InRange(job.PeakGpuPowerWatts!.Value, watts, watts * 1.01);
        Assert.True(live.GpuEnergyJoules < job.GpuEnergyJoules, "the live figure grows to the final one");
        var attempt = Assert.Single(job.Attempts);
        Assert.Equal(job.GpuEnergyJoules, attempt.GpuEnergyJoules);

        // What a person sees: the real binary's show, ls and report.
        var env = new Dictionary<string, string>
        {
            ["GANTRY_SERVER"] = _url,
            ["GANTRY_TOKEN"] = _admin.DefaultRequestHeaders.Authorization!.Parameter!,
            ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config"),
        };
        var (showCode, shown) = await GantryProcess.RunAsync(["jobs", "show", job.Id.ToString(CultureInfo.InvariantCulture)], env, TimeSpan.FromSeconds(60));
        Assert.True(showCode == 0, shown);
        Assert.Contains("Energy:", shown, StringComparison.Ordinal);
        Assert.Contains("GPU power:    average", shown, StringComparison.Ordinal);
        var (lsCode, listed) = await GantryProcess.RunAsync(["jobs", "ls"], env, TimeSpan.FromSeconds(60));
        Assert.True(lsCode == 0, listed);
        Assert.Contains("ENERGY", listed, StringComparison.Ordinal);
        Assert.Contains((job.EnergyEstimated == true ? "~" : "") + EnergyUnits.Energy(job.EnergyJoules!.Value), listed, StringComparison.Ordinal);

        var (csvCode, csv) = await GantryProcess.RunAsync(["report", "energy", "--since", "1h", "--by", "node", "-o", "csv"], env, TimeSpan.FromSeconds(60));
        Assert.True(csvCode == 0, csv);
        var lines = csv.TrimEnd('\n').Split('\n');
        Assert.Equal("group,energy_joules,gpu_energy_joules,cpu_energy_joules,co2_grams,gpu_hours,jobs,attempts,estimated,simulated", lines[0]);
        Assert.Equal("false", lines[1].Split(',')[^1]); // the fake NVML is a real library to the agent, not --simulate-gpus
        var row = lines[1].Split(',');
        Assert.Equal(job.NodeId, row[0]);
        // The CSV rounds to 2 decimals: within 0.01 J (rounding to a number of places can differ at .xx5).
        Assert.Equal(job.GpuEnergyJoules!.Value, double.Parse(row[2], CultureInfo.InvariantCulture), 0.01);
        Assert.Equal("1", row[6]);
        Assert.StartsWith("total,", lines[2], StringComparison.Ordinal);

        var (badCode, bad) = await GantryProcess.RunAsync(["report", "energy", "--by", "rack"], env, TimeSpan.FromSeconds(60));
        Assert.Equal(2, badCode);
        Assert.Contains("--by", bad, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EnergyCounterUnsupported_PowerIntegratedOverSamples_Within5PercentAndEstimated()
    {
        await StartAgentAsync("gpus=2", "gpu.0.energy_mj=unsupported", "gpu.0.power_mw=250000", "gpu.1.energy_mj=unsupported", "gpu.1.power_mw=250000");
        var (job, seconds, _) = await RunTimedJobAsync();

        // Power integrated over the samples, against the power the GPU drew over the measured window.
        var window = job.GpuEnergyJoules!.Value / job.AverageGpuPowerWatts!.Value;
        var expected = 250.0 * window;
        log.WriteLine($"estimate: {job.GpuEnergyJoules:F1} J measured, {expected:F1} J at 250 W over the measured {window:F3} s ({(job.GpuEnergyJoules / expected - 1) * 100:F3} %); the job's own run {seconds:F3} s");
        Assert.True(Math.Abs(job.GpuEnergyJoules.Value - expected) <= 0.05 * expected, $"GPU energy {job.GpuEnergyJoules} J, power over the window {expected:F1} J ({window:F3} s)");
        Assert.InRange(window, seconds, seconds + 2);
        Assert.True(job.EnergyEstimated);
        Assert.True(Assert.Single(job.Attempts).EnergyEstimated);
    }
}
