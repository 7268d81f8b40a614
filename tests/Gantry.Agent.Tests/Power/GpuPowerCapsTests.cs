using Gantry.Agent.Jobs;
using Gantry.Agent.Power;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Nvml;
using Gantry.Telemetry.Simulation;
using Gantry.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Agent.Tests.Power;

/// <summary>
/// The agent's GPU power caps on the fake NVML library, loaded in this process through the same
/// P/Invoke path as the real one: every <c>nvmlDeviceSetPowerManagementLimit</c> call is recorded by the
/// library to a file, and the tests read what was set, clamped, refused and restored from it.
/// </summary>
[Collection("nvml")]
public sealed class GpuPowerCapsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-power-").FullName;
    private readonly string _setLog;
    private readonly NvmlCollector _nvml;

    public GpuPowerCapsTests()
    {
        _setLog = Path.Combine(_dir, "set.log");
        FakeNvmlLibrary.SetSetLogVariable(_setLog);
        _nvml = new NvmlCollector(FakeNvmlLibrary.CurrentDriverPath, NullLogger<NvmlCollector>.Instance, new FakeTimeProvider());
    }

    public void Dispose()
    {
        _nvml.Dispose();
        FakeNvmlLibrary.SetSetLogVariable(null);
        FakeNvmlLibrary.SetScriptVariable(null);
        Directory.Delete(_dir, recursive: true);
    }

    /// <summary>Scripts two GPUs (limit 700 W, accepted 200-700 W) plus <paramref name="extra"/>, read at NVML's next init.</summary>
    private async Task<GpuPowerCaps> CapsAsync(params string[] extra)
    {
        FakeNvmlLibrary.UseScript(["gpus=2", "gpu.0.power_limit_mw=700000", "gpu.1.power_limit_mw=700000", "gpu.0.min_limit_mw=200000", "gpu.1.min_limit_mw=200000", .. extra]);
        FakeNvmlLibrary.Reload(FakeNvmlLibrary.CurrentDriverPath);
        _ = await _nvml.CollectAsync(CancellationToken.None);
        FakeNvmlLibrary.Reload(FakeNvmlLibrary.CurrentDriverPath);
        return new GpuPowerCaps(_nvml, _dir, NullLogger.Instance);
    }

    private static NodePowerOrders Orders(long version, params (int Gpu, double Watts, PowerCapSource Source)[] caps) => new()
    {
        Version = version,
        Gpus = [.. caps.Select(c => new GpuPowerOrder { Index = c.Gpu, Watts = c.Watts, Source = c.Source })],
    };

    private async Task<double?> LimitAsync(int gpu) => (await _nvml.CollectAsync(CancellationToken.None)).Gpus[gpu].PowerLimitWatts;

    [Fact]
    public async Task SetOrders_ManualCapThenLifted_SetsItRemembersThePreviousLimitAndRestoresIt()
    {
        var caps = await CapsAsync();

        caps.SetOrders(Orders(1, (0, 300, PowerCapSource.Manual)));

        Assert.Equal(["set gpu=0 mw=300000 ret=0"], FakeNvmlLibrary.SetCalls(_setLog));
        Assert.Equal(300, await LimitAsync(0));
        Assert.Equal(700, await LimitAsync(1));
        var gpu = caps.Report(null).Gpus.Single(g => g.Index == 0);
        Assert.Equal((300.0, 700.0, PowerCapSource.Manual), (gpu.CapWatts!.Value, gpu.PreviousWatts!.Value, gpu.Source!.Value));
        Assert.Null(gpu.Error);
        Assert.Equal(1, caps.Report(null).AppliedVersion);
        Assert.True(File.Exists(Path.Combine(_dir, "power-limits")));

        // The same orders again (every heartbeat): nothing is set again.
        caps.SetOrders(Orders(1, (0, 300, PowerCapSource.Manual)));
        Assert.Single(FakeNvmlLibrary.SetCalls(_setLog));

        caps.SetOrders(Orders(2));

        Assert.Equal(["set gpu=0 mw=300000 ret=0", "set gpu=0 mw=700000 ret=0"], FakeNvmlLibrary.SetCalls(_setLog));
        Assert.Equal(700, await LimitAsync(0));
        Assert.DoesNotContain(caps.Report(null).Gpus, g => g.CapWatts is not null);
        Assert.False(File.Exists(Path.Combine(_dir, "power-limits")));
    }

    [Fact]
    public async Task SetOrders_OutsideTheGpusRange_ClampedToItsConstraints()
    {
        var caps = await CapsAsync();

        caps.SetOrders(Orders(1, (0, 100, PowerCapSource.Budget), (1, 900, PowerCapSource.Manual)));

        Assert.Equal(["set gpu=0 mw=200000 ret=0", "set gpu=1 mw=700000 ret=0"], FakeNvmlLibrary.SetCalls(_setLog));
        var report = caps.Report(null);
        Assert.Equal((100.0, 200.0), (report.Gpus[0].WantedWatts!.Value, report.Gpus[0].CapWatts!.Value));
        Assert.Equal((900.0, 700.0), (report.Gpus[1].WantedWatts!.Value, report.Gpus[1].CapWatts!.Value));
        Assert.All(report.Gpus, g => Assert.Null(g.Error));
    }

    [Theory]
    [InlineData("noperm", 4, "NVML_ERROR_NO_PERMISSION (4)", "needs root")]
    [InlineData("unsupported", 3, "NVML_ERROR_NOT_SUPPORTED (3)", "does not let its power limit be set")]
    [InlineData("err:2", 2, "NVML_ERROR_INVALID_ARGUMENT (2)", "outside what the GPU accepts")]
    public async Task SetOrders_Refused_ErrorReportedNotRetriedAndNothingToRestore(string refusal, int code, string nvmlError, string words)
    {
        var caps = await CapsAsync($"gpu.0.set_limit={refusal}");

        caps.SetOrders(Orders(1, (0, 300, PowerCapSource.Manual)));

        Assert.Equal([$"set gpu=0 mw=300000 ret={code}"], FakeNvmlLibrary.SetCalls(_setLog));
        var gpu = caps.Report(null).Gpus.Single(g => g.Index == 0);
        Assert.Null(gpu.CapWatts);
        Assert.Null(gpu.PreviousWatts);
        Assert.Equal(300, gpu.WantedWatts);
        Assert.Contains(nvmlError, gpu.Error, StringComparison.Ordinal);
        Assert.Contains(words, gpu.Error, StringComparison.Ordinal);
        Assert.Equal(700, await LimitAsync(0));
        Assert.Contains("gantry_gpu_power_cap_refused{gpu=\"0\"} 1\n", System.Text.Encoding.UTF8.GetString(caps.MetricsText()), StringComparison.Ordinal);

        // A new version with the same wish is not tried again; lifting it sets nothing (nothing was set).
        caps.SetOrders(Orders(2, (0, 300, PowerCapSource.Manual)));
        caps.SetOrders(Orders(3));
        Assert.Single(FakeNvmlLibrary.SetCalls(_setLog));
        Assert.DoesNotContain(caps.Report(null).Gpus, g => g.Error is not null);
    }

    [Fact]
    public async Task JobCap_AppliedAtStartRestoredAtEnd_TheLowestCapWins()
    {
        var caps = await CapsAsync();
        var job = new AttemptKey(7, 1, 70);
        caps.SetOrders(Orders(1, (1, 300, PowerCapSource.Manual)));

        caps.JobStarting(job, [0, 1], 250);
        var during = caps.Report(null);
        caps.JobEnded(job);

        Assert.Equal(
            ["set gpu=1 mw=300000 ret=0", "set gpu=0 mw=250000 ret=0", "set gpu=1 mw=250000 ret=0", "set gpu=0 mw=700000 ret=0", "set gpu=1 mw=300000 ret=0"],
            FakeNvmlLibrary.SetCalls(_setLog));
        Assert.All(during.Gpus, g => Assert.Equal((250.0, PowerCapSource.Job), (g.CapWatts!.Value, g.Source!.Value)));
        Assert.Equal(700, during.Gpus[1].PreviousWatts);
        var after = caps.Report(null).Gpus.Single();
        Assert.Equal((1, 300.0, PowerCapSource.Manual), (after.Index, after.CapWatts!.Value, after.Source!.Value));

        // A job cap above the manual one changes nothing.
        caps.JobStarting(new AttemptKey(8, 1, 80), [1], 500);
        Assert.Equal(5, FakeNvmlLibrary.SetCalls(_setLog).Length);
    }

    [Fact]
    public async Task RestoreAll_AgentStops_EveryCappedGpuGetsItsPreviousLimit()
    {
        var caps = await CapsAsync("gpu.1.power_limit_mw=650000");
        caps.SetOrders(Orders(1, (0, 300, PowerCapSource.Budget), (1, 400, PowerCapSource.Budget)));
        caps.JobStarting(new AttemptKey(1, 1, 1), [0], 250);

        caps.RestoreAll();

        var calls = FakeNvmlLibrary.SetCalls(_setLog);
        Assert.Equal(["set gpu=0 mw=700000 ret=0", "set gpu=1 mw=650000 ret=0"], calls[^2..]);
        Assert.Equal((700.0, 650.0), ((await LimitAsync(0))!.Value, (await LimitAsync(1))!.Value));
        Assert.Empty(caps.MetricsText());
        Assert.False(File.Exists(Path.Combine(_dir, "power-limits")));
    }

    [Fact]
    public async Task Start_AfterAnAgentKilledWithCapsOn_RestoresTheLimitsItLeftAndForgetsThem()
    {
        await File.WriteAllTextAsync(Path.Combine(_dir, "power-limits"), "1 650\n");

        _ = await CapsAsync();

        Assert.Equal(["set gpu=1 mw=650000 ret=0"], FakeNvmlLibrary.SetCalls(_setLog));
        Assert.False(File.Exists(Path.Combine(_dir, "power-limits")));
    }

    [Fact]
    public async Task SimulatedGpus_LimitsAreSimulatedAndSaySo()
    {
        using var dir = new TempDirectory();
        var simulated = new SimulatedGpuCollector(2, new FakeTimeProvider());
        var caps = new GpuPowerCaps(simulated, dir.Path, NullLogger.Instance);

        caps.SetOrders(Orders(1, (0, 300, PowerCapSource.Manual), (1, 50, PowerCapSource.Manual)));

        var report = caps.Report((await simulated.CollectAsync(CancellationToken.None)).Gpus);
        Assert.True(report.Simulated);
        Assert.Equal((300.0, 300.0), (report.Gpus[0].CapWatts!.Value, report.Gpus[0].LimitWatts!.Value));
        Assert.Equal(200, report.Gpus[1].CapWatts);
        Assert.Equal(300, (await simulated.CollectAsync(CancellationToken.None)).Gpus[0].PowerLimitWatts);
        Assert.Contains("gantry_gpu_power_cap_watts{gpu=\"0\",source=\"manual\",simulated=\"true\"} 300\n", System.Text.Encoding.UTF8.GetString(caps.MetricsText()), StringComparison.Ordinal);
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("gantry-power-sim-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
