using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Services;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Services;

/// <summary>
/// Service reports through real heartbeats on a real server: kept for the node's own live attempts only,
/// on /metrics (promtool-clean), in Prometheus' service discovery, and behind <see cref="IServiceMetrics"/>.
/// The job is submitted with a service spec: until the services feature places service jobs of their own,
/// it runs as a batch job whose spec the server keeps.
/// </summary>
public sealed class ServiceHeartbeatTests
{
    private static readonly DateTimeOffset T0 = new(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);

    private static async Task<(string NodeId, HttpClient Node, Assignment Attempt)> StartServiceAsync(ServerHarness server, string nodeName, string agentUrl, string? metricsPath = "/metrics")
    {
        var (nodeId, node) = await server.RegisterAsync(nodeName, gpus: 1, agentUrl: agentUrl);
        await server.SubmitAsync(new JobSubmission
        {
            Name = "chat",
            Command = ["vllm", "serve"],
            Resources = new ResourceRequest { Gpus = 1 },
            Kind = JobKind.Service,
            Service = new ServiceSpec { Port = 8000, MetricsPath = metricsPath },
        });
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UtcNow })).Dispose();
        return (nodeId, node, a);
    }

    private static async Task HeartbeatAsync(HttpClient node, string nodeId, Assignment a, double seconds, double generated, double joules, long? otherJob = null)
    {
        var services = new List<ServiceReport>
        {
            new()
            {
                JobId = a.JobId,
                Attempt = a.Attempt,
                Health = ServiceHealth.Healthy,
                ScrapedAt = T0.AddSeconds(seconds),
                GeneratedTokensTotal = generated,
                PromptTokensTotal = generated / 4,
                RequestsRunning = 3,
                RequestsWaiting = 1,
            },
        };
        if (otherJob is { } other)
        {
            services.Add(new ServiceReport { JobId = other, Attempt = 1, Health = ServiceHealth.Unhealthy });
        }

        var request = new HeartbeatRequest
        {
            Services = services,
            AttemptEnergy = [new AttemptEnergyReport { JobId = a.JobId, Attempt = a.Attempt, Epoch = a.Epoch, Since = T0, MeasuredAt = T0.AddSeconds(seconds), GpuEnergyJoules = joules }],
        };
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", request, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public async Task Heartbeats_ServiceReports_FiguresOnMetricsDiscoveryAndTheSeam()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node, a) = await StartServiceAsync(server, "gpu-a", "http://10.0.0.5:9450");

        // An unknown job's report from this node is left out.
        await HeartbeatAsync(node, nodeId, a, 5, 1_000, 1_000, otherJob: 999);
        await HeartbeatAsync(node, nodeId, a, 15, 2_200, 3_000);

        var seam = server.App.Services.GetRequiredService<IServiceMetrics>();
        var info = seam.For(a.JobId)!;
        Assert.Equal(120, info.GeneratedTokensPerSecond);
        Assert.Equal(200, info.GpuPowerWatts);
        Assert.Equal(0.6, info.TokensPerJoule!.Value, 9);
        Assert.Null(seam.For(999));

        var text = await server.Admin.GetStringAsync("/metrics");
        var labels = $"service=\"chat\",job=\"{a.JobId}\",node=\"gpu-a\"";
        Assert.Contains($"gantry_server_service_healthy{{{labels}}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_service_generated_tokens_per_second{{{labels}}} 120\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_service_prompt_tokens_per_second{{{labels}}} 30\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_service_requests_running{{{labels}}} 3\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_service_requests_waiting{{{labels}}} 1\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_service_gpu_power_watts{{{labels}}} 200\n", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_service_tokens_per_joule{{{labels}}} 0.6", text, StringComparison.Ordinal);
        Assert.DoesNotContain("job=\"999\"", text, StringComparison.Ordinal);
        await PromtoolAsync(text);

        using var document = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/prometheus/targets"));
        var service = Assert.Single(document.RootElement.EnumerateArray(), g => g.GetProperty("labels").TryGetProperty("__meta_gantry_service_name", out _));
        Assert.Equal(["10.0.0.5:8000"], service.GetProperty("targets").EnumerateArray().Select(t => t.GetString()));
        var sd = service.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString());
        Assert.Equal(new Dictionary<string, string?>
        {
            ["__scheme__"] = "http",
            ["__metrics_path__"] = "/metrics",
            ["__meta_gantry_service_name"] = "chat",
            ["__meta_gantry_service_job_id"] = a.JobId.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["__meta_gantry_node_id"] = nodeId,
            ["__meta_gantry_node_name"] = "gpu-a",
        }, sd);
        node.Dispose();
    }

    [Fact]
    public async Task Heartbeats_AnotherNodesReport_Ignored()
    {
        await using var server = await ServerHarness.StartAsync();
        var (_, node, a) = await StartServiceAsync(server, "gpu-a", "http://10.0.0.5:9450");
        var (otherId, other) = await server.RegisterAsync("gpu-b", gpus: 1);

        await HeartbeatAsync(other, otherId, a, 5, 1_000, 1_000);
        await HeartbeatAsync(other, otherId, a, 10, 2_000, 2_000);

        Assert.Null(server.App.Services.GetRequiredService<IServiceMetrics>().For(a.JobId));
        Assert.Equal(0, server.App.Services.GetRequiredService<ServiceMetricsRegistry>().Count);
        node.Dispose();
        other.Dispose();
    }

    [Fact]
    public async Task Discovery_ServiceWithoutMetricsEndpoint_NotATarget()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node, a) = await StartServiceAsync(server, "gpu-a", "http://10.0.0.5:9450", metricsPath: null);
        var request = new HeartbeatRequest { Services = [new ServiceReport { JobId = a.JobId, Attempt = a.Attempt, Health = ServiceHealth.Starting }] };
        using (var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", request, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        Assert.Equal(ServiceMetricsRegistry.NoEndpointNote, server.App.Services.GetRequiredService<IServiceMetrics>().For(a.JobId)!.Note);
        using var document = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/prometheus/targets"));
        Assert.DoesNotContain(document.RootElement.EnumerateArray(), g => g.GetProperty("labels").TryGetProperty("__meta_gantry_service_name", out _));

        // Starting: 0 on the health gauge.
        var text = await server.Admin.GetStringAsync("/metrics");
        Assert.Contains($"gantry_server_service_healthy{{service=\"chat\",job=\"{a.JobId}\",node=\"gpu-a\"}} 0\n", text, StringComparison.Ordinal);
        await PromtoolAsync(text);
        node.Dispose();
    }

    private static async Task PromtoolAsync(string text)
    {
        var promtool = Tools.Require("promtool", "prometheus");
        using var process = Process.Start(new ProcessStartInfo(promtool, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, output);
    }
}
