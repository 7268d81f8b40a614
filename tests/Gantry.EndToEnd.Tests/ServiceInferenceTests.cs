using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// A model server as a service, end to end (docs/services.md, docs/service-health.md): the real
/// <c>gantry</c> CLI, server and agent, and the stand-in inference server (tests/native/fake_inference.c)
/// as the service's process. Its vLLM-shaped counters reach <c>gantry services ls</c> as tokens per second
/// and tokens per joule, its metrics endpoint reaches Prometheus' service discovery, a failing health check
/// restarts it, and a stop ends it for good.
/// </summary>
[Collection("fleet")]
public sealed class ServiceInferenceTests
{
    [Fact]
    public async Task ServicesRun_StandInServer_TokensReachServicesLs_UnhealthyRestarted_StopEndsIt()
    {
        await using var fleet = await Fleet.StartAsync(1);
        var env = new Dictionary<string, string>
        {
            ["GANTRY_SERVER"] = fleet.Url,
            ["GANTRY_TOKEN"] = (await File.ReadAllTextAsync(Path.Combine(fleet.DataDir, "admin.token"))).Trim(),
            ["XDG_CONFIG_HOME"] = Path.Combine(fleet.Root, "no-client-config"),
        };
        var port = Tools.FreePort().ToString(CultureInfo.InvariantCulture);
        var sick = Path.Combine(fleet.Work, "unhealthy");

        var (code, output) = await GantryProcess.RunAsync(
        [
            "services", "run", "standin", "--gpus", "1", "--port", port, "--health-http", $":{port}/health", "--health-grace", "2s",
            "--health-interval", "1s", "--metrics-path", "/metrics", "--restart-delay", "1s",
            "--", FakeInference.BinaryPath, "--port", port, "--bind", "127.0.0.1", "--tokens-per-second", "100", "--unhealthy-file", sick,
        ], env);
        Assert.True(code == 0, output);
        var id = long.Parse(output.Trim(), CultureInfo.InvariantCulture);

        // Healthy, with the stand-in's 100 tokens/s and a tokens-per-joule figure from its GPU's energy.
        JobInfo service = null!;
        await fleet.WaitAsync("the service healthy with its token rate", async () =>
        {
            service = await ListedAsync(fleet, id);
            return service.ServiceStatus is { Health: ServiceHealth.Healthy, Metrics: { GeneratedTokensPerSecond: > 0, TokensPerJoule: > 0 } };
        });
        var metrics = service.ServiceStatus!.Metrics!;
        Assert.InRange(metrics.GeneratedTokensPerSecond!.Value, 80, 120);
        Assert.InRange(metrics.PromptTokensPerSecond!.Value, 20, 30);
        Assert.Equal(2, metrics.RequestsRunning);
        Assert.Equal(1, metrics.RequestsWaiting);
        Assert.True(metrics.GpuPowerWatts > 0);
        Assert.InRange(metrics.TokensPerJoule!.Value, metrics.GeneratedTokensPerSecond.Value / metrics.GpuPowerWatts!.Value * 0.5, metrics.GeneratedTokensPerSecond.Value / metrics.GpuPowerWatts.Value * 2);
        Assert.Equal(int.Parse(port, CultureInfo.InvariantCulture), service.ServiceStatus.Address!.Port);

        var (lsCode, table) = await GantryProcess.RunAsync(["services", "ls"], env);
        Assert.True(lsCode == 0, table);
        var row = table.Split('\n').Single(l => l.Contains("standin", StringComparison.Ordinal));
        Assert.Contains("healthy", row, StringComparison.Ordinal);
        Assert.Contains(":" + port, row, StringComparison.Ordinal);

        // Prometheus finds its metrics endpoint.
        using (var targets = JsonDocument.Parse(await fleet.Admin.GetStringAsync("/api/v1/prometheus/targets")))
        {
            Assert.Contains(targets.RootElement.EnumerateArray(), group =>
                group.GetProperty("targets").EnumerateArray().Any(t => t.GetString()!.EndsWith(":" + port, StringComparison.Ordinal))
                && group.GetProperty("labels").TryGetProperty("__metrics_path__", out var path) && path.GetString() == "/metrics");
        }

        // Its health check fails: after the grace and the failures in a row it is stopped as unhealthy and restarted.
        await File.WriteAllTextAsync(sick, "x");
        await fleet.WaitAsync("the unhealthy service restarted", async () => (await fleet.JobAsync(id)) is { Attempts.Count: >= 2, ServiceStatus.Restarts: >= 1 });
        File.Delete(sick);
        var restarted = await fleet.JobAsync(id);
        Assert.Contains("unhealthy", restarted.Attempts[0].Reason, StringComparison.OrdinalIgnoreCase);
        await fleet.WaitAsync("the restarted service healthy again", async () => (await fleet.JobAsync(id)).ServiceStatus is { Health: ServiceHealth.Healthy });

        // Stopped: cancelled, not restarted, and nothing listens on its port any more.
        var (stopCode, stopOutput) = await GantryProcess.RunAsync(["services", "stop", "standin"], env);
        Assert.True(stopCode == 0, stopOutput);
        var stopped = (await fleet.WaitForJobsAsync([id], j => j.State.IsTerminal()))[0];
        Assert.Equal(JobState.Cancelled, stopped.State);
        await fleet.WaitAsync("its port closed", async () =>
        {
            using var client = new TcpClient();
            try
            {
                await client.ConnectAsync("127.0.0.1", int.Parse(port, CultureInfo.InvariantCulture));
                return false;
            }
            catch (SocketException)
            {
                return true;
            }
        });
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.Equal(stopped.Attempts.Count, (await fleet.JobAsync(id)).Attempts.Count);
    }

    private static async Task<JobInfo> ListedAsync(Fleet fleet, long id)
    {
        var page = (await fleet.Admin.GetFromJsonAsync("/api/v1/services", GantryJson.Default.PageJobInfo))!;
        return page.Items.Single(s => s.Id == id);
    }
}
