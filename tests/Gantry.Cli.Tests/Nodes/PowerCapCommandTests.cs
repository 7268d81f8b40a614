using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Nodes;

/// <summary><c>gantry nodes power-cap</c> and <c>gantry jobs submit --gpu-power-cap</c> against a fake API (docs/power.md).</summary>
public sealed class PowerCapCommandTests
{
    private static CliHarness Harness(FakeApi api)
    {
        var harness = new CliHarness { Clock = TimeProvider.System, TableWidth = 160 };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return harness;
    }

    private static NodePowerInfo Wanted(long version) => new()
    {
        ManualGpuWatts = 300,
        Version = version,
        AppliedVersion = version - 1,
        Wanted = [new GpuPowerOrder { Index = 0, Watts = 300, Source = PowerCapSource.Manual }, new GpuPowerOrder { Index = 1, Watts = 300, Source = PowerCapSource.Manual }],
    };

    private static string NodeWith(NodePowerInfo power) => JsonSerializer.Serialize(Samples.Node(gpus: 2, busy: 0) with { Power = power }, GantryJson.Default.NodeInfo);

    [Theory]
    [InlineData("--gpu-watts", "abc")]
    [InlineData("--gpu-watts", "0")]
    [InlineData("--gpu-watts", "20000")]
    [InlineData("--gpu-watts", "-300")]
    [InlineData("--wait", "forever")]
    public async Task PowerCap_BadFlag_UsageErrorExit2AndNothingSent(string flag, string value)
    {
        await using var api = await FakeApi.StartAsync(_ => { });

        var result = await Harness(api).RunAsync(flag == "--wait" ? ["nodes", "power-cap", "gpu-01", "--gpu-watts", "300", flag, value] : ["nodes", "power-cap", "gpu-01", flag, value]);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"gantry nodes power-cap: {flag}: ", result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task PowerCap_NeitherOrBoth_UsageErrorExit2()
    {
        await using var api = await FakeApi.StartAsync(_ => { });

        var neither = await Harness(api).RunAsync("nodes", "power-cap", "gpu-01");
        var both = await Harness(api).RunAsync("nodes", "power-cap", "gpu-01", "--gpu-watts", "300", "--clear");

        Assert.Equal((2, 2), (neither.ExitCode, both.ExitCode));
        Assert.Contains("--clear", neither.Error, StringComparison.Ordinal);
        Assert.Contains("not both", both.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task PowerCap_AgentApplies_PutsTheCapWaitsForTheAgentAndPrintsTheLimits()
    {
        var applied = Wanted(5) with
        {
            AppliedVersion = 5,
            Gpus =
            [
                new GpuPowerState { Index = 0, LimitWatts = 300, MinWatts = 100, MaxWatts = 700, CapWatts = 300, WantedWatts = 300, PreviousWatts = 700, Source = PowerCapSource.Manual },
                new GpuPowerState { Index = 1, LimitWatts = 300, MinWatts = 100, MaxWatts = 700, CapWatts = 300, WantedWatts = 300, PreviousWatts = 700, Source = PowerCapSource.Manual },
            ],
        };
        await using var api = await FakeApi.StartAsync(app =>
        {
            app.MapPut("/api/v1/nodes/{id}/power-cap", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Wanted(5), GantryJson.Default.NodePowerInfo)));
            app.MapGet("/api/v1/nodes/{id}", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", NodeWith(applied)));
        });

        var result = await Harness(api).RunAsync("nodes", "power-cap", "gpu-01", "--gpu-watts", "300W");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(("PUT", "/api/v1/nodes/gpu-01/power-cap", """{"gpuWatts":300}"""), (api.Received[0].Method, api.Received[0].PathAndQuery, api.Received[0].Body));
        Assert.Contains("Power cap by hand: 300 W per GPU\n", result.Output, StringComparison.Ordinal);
        Assert.Contains("  GPU 1: limit 300 W, capped at 300 W by hand, 700 W before\n", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PowerCap_AgentRefuses_TheRefusalOnStderrAndExit1()
    {
        var refused = Wanted(5) with
        {
            AppliedVersion = 5,
            Gpus = [new GpuPowerState { Index = 0, LimitWatts = 700, WantedWatts = 300, Source = PowerCapSource.Manual, Error = "nvmlDeviceSetPowerManagementLimit(300 W) on GPU 0 refused: NVML_ERROR_NO_PERMISSION (4): setting a GPU power limit needs root; run the agent as root" }],
        };
        await using var api = await FakeApi.StartAsync(app =>
        {
            app.MapPut("/api/v1/nodes/{id}/power-cap", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Wanted(5), GantryJson.Default.NodePowerInfo)));
            app.MapGet("/api/v1/nodes/{id}", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", NodeWith(refused)));
        });

        var result = await Harness(api).RunAsync("nodes", "power-cap", "gpu-01", "--gpu-watts", "300");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("gantry nodes power-cap: GPU 0: nvmlDeviceSetPowerManagementLimit(300 W) on GPU 0 refused: NVML_ERROR_NO_PERMISSION (4)", result.Error, StringComparison.Ordinal);
        Assert.Contains("REFUSED (hand cap of 300 W)", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PowerCap_Clear_DeletesAndDoesNotWaitWithWait0()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapDelete("/api/v1/nodes/{id}/power-cap", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(new NodePowerInfo { Version = 9, AppliedVersion = 8 }, GantryJson.Default.NodePowerInfo))));

        var result = await Harness(api).RunAsync("nodes", "power-cap", "gpu-01", "--clear", "--wait", "0s");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(("DELETE", "/api/v1/nodes/gpu-01/power-cap"), (Assert.Single(api.Received).Method, api.Received[0].PathAndQuery));
        Assert.Contains("Power cap by hand: none", result.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("abc", "--gpus", "1")]
    [InlineData("0", "--gpus", "1")]
    [InlineData("250", "--gpus", "0")]
    public async Task Submit_BadGpuPowerCap_UsageErrorExit2(string cap, string gpusFlag, string gpus)
    {
        await using var api = await FakeApi.StartAsync(_ => { });

        var result = await Harness(api).RunAsync("jobs", "submit", "--gpu-power-cap", cap, gpusFlag, gpus, "--", "sleep", "1");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--gpu-power-cap", result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }
}
