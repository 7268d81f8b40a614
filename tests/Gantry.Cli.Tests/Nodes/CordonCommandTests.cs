using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Nodes;

/// <summary><c>gantry nodes cordon|uncordon</c> and the health <c>gantry nodes show</c> prints, against a fake API.</summary>
public sealed class CordonCommandTests
{
    private static readonly DateTimeOffset Now = CliHarness.Now;

    private static CliHarness Harness(FakeApi api, int width = 160)
    {
        var harness = new CliHarness { Clock = TimeProvider.System, TableWidth = width };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return harness;
    }

    private static NodeInfo Unhealthy()
    {
        var node = Samples.Node(gpus: 4, busy: 1);
        var gpus = node.Gpus.ToArray();
        gpus[1] = gpus[1] with { Health = new GpuHealthInfo { State = GpuHealthState.Cordoned, Cause = "XID 79 (GPU has fallen off the bus): reboot the node", Since = Now.AddMinutes(-2), Until = HealthRecovery.Reboot } };
        gpus[2] = gpus[2] with { Health = new GpuHealthInfo { State = GpuHealthState.Degraded, Cause = "thermal slowdown", Since = Now.AddMinutes(-1), Held = "reset-gpu: XID 48 (double-bit ECC error): reset the GPU" } };
        return node with
        {
            Gpus = gpus,
            Health = new NodeHealthInfo { Drained = true, Cause = "GPU 1: XID 79 (GPU has fallen off the bus): reboot the node", Since = Now.AddMinutes(-2), KernelLog = "The agent may not read the kernel log /dev/kmsg (errno 1)" },
            HealthHistory =
            [
                new HealthEvent { Time = Now.AddMinutes(-2), Gpu = 1, Change = HealthChange.JobStopped, Cause = "job 41 requeued while its retries last: GPU 1 cordoned", Actor = HealthActor.Automation, JobId = 41 },
                new HealthEvent { Time = Now.AddMinutes(-2), Change = HealthChange.Drained, Cause = "GPU 1: XID 79", Evidence = "XID 79 at 2026-03-01T11:58:00Z from the kernel log", Actor = HealthActor.Automation },
            ],
        };
    }

    [Fact]
    public async Task NodesShow_UnhealthyNode_ShowsEachGpusHealthTheDrainAndTheHistory()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/nodes/{id}", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Unhealthy(), GantryJson.Default.NodeInfo))));

        var result = await Harness(api).RunAsync("nodes", "show", "gpu-01");

        Assert.Equal(0, result.ExitCode);
        Assert.True(result.Output.Contains("GPUs:        1/4 busy, 1 cordoned", StringComparison.Ordinal), result.Output);
        Assert.True(result.Output.Contains("Health:      drained until it reboots: GPU 1: XID 79", StringComparison.Ordinal), result.Output);
        Assert.True(result.Output.Contains("Kernel log:  The agent may not read the kernel log", StringComparison.Ordinal), result.Output);
        Assert.True(System.Text.RegularExpressions.Regex.IsMatch(result.Output, @"\n\s+1\s+NVIDIA H100 80GB HBM3\s+80G\s+cordoned until reboot: XID 79"), result.Output);
        Assert.True(result.Output.Contains("degraded: thermal slowdown (held by the breaker", StringComparison.Ordinal), result.Output);
        Assert.True(result.Output.Contains("Health history (newest first):\n  2026-03-01 11:58:00Z", StringComparison.Ordinal), result.Output);
        Assert.True(result.Output.Contains("GPU 1  job stopped by automation: job 41 requeued", StringComparison.Ordinal), result.Output);
        Assert.True(result.Output.Contains("      evidence: XID 79 at 2026-03-01T11:58:00Z from the kernel log\n", StringComparison.Ordinal), result.Output);
    }

    [Fact]
    public async Task Cordon_GpuAndReason_PostedAndTheGpuPrinted()
    {
        var node = Samples.Node(gpus: 2, busy: 0);
        var cordoned = node with { Gpus = [node.Gpus[0], node.Gpus[1] with { Health = new GpuHealthInfo { State = GpuHealthState.Cordoned, Cause = "fan noise", Manual = true, Until = HealthRecovery.Person } }] };
        await using var api = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/nodes/{id}/cordon", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(cordoned, GantryJson.Default.NodeInfo))));

        var result = await Harness(api).RunAsync("nodes", "cordon", "gpu-01", "--gpu", "1", "--reason", "fan noise");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("node gpu-01 GPU 1: cordoned by a person: fan noise\n", result.Output);
        var request = Assert.Single(api.Received);
        Assert.Equal(("POST", "/api/v1/nodes/gpu-01/cordon"), (request.Method, request.PathAndQuery));
        Assert.Equal("""{"gpu":1,"reason":"fan noise"}""", request.Body);
    }

    [Fact]
    public async Task Uncordon_WholeNode_PostsNoGpu()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/nodes/{id}/uncordon", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Samples.Node(gpus: 2, busy: 0), GantryJson.Default.NodeInfo))));

        var result = await Harness(api).RunAsync("nodes", "uncordon", "gpu-01");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("node gpu-01 GPU 0: healthy\nnode gpu-01 GPU 1: healthy\n", result.Output);
        Assert.Equal("{}", Assert.Single(api.Received).Body);
    }

    [Theory]
    [InlineData("--gpu", "one")]
    [InlineData("--gpu", "1024")]
    [InlineData("--reason", "")]
    [InlineData("--reason", "   ")]
    public async Task Cordon_BadFlag_UsageErrorAndNothingSent(string flag, string value)
    {
        await using var api = await FakeApi.StartAsync(_ => { });

        var result = await Harness(api).RunAsync("nodes", "cordon", "gpu-01", flag, value);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith($"gantry nodes cordon: {flag}: ", result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task Cordon_ServerRefusesTheGpu_ItsWordsAndExit1()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/nodes/{id}/cordon", (HttpContext c) => FakeApi.WriteAsync(c, 400, "application/problem+json",
                """{"title":"Invalid request","status":400,"detail":"gpu: node gpu-01 has no GPU 9 (it has 0, 1)","errors":{"gpu":["node gpu-01 has no GPU 9 (it has 0, 1)"]}}""")));

        var result = await Harness(api).RunAsync("nodes", "cordon", "gpu-01", "--gpu", "9");

        Assert.Equal(1, result.ExitCode);
        Assert.Contains("has no GPU 9", result.Error, StringComparison.Ordinal);
    }
}
