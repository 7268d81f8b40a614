using System.Net;
using Gantry.Agent.Configuration;
using Gantry.Agent.Tests.ControlPlane;
using Gantry.Agent.Tests.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;
using Microsoft.AspNetCore.Builder;

namespace Gantry.Agent.Tests.Services;

/// <summary>
/// The whole agent (AgentHost) against a fake control plane, running the stand-in inference server as a
/// service: its reports reach the heartbeats, its checks default to the host the agent advertises
/// (loopback here), and an unhealthy attempt's end is uploaded with cause unhealthy.
/// </summary>
public sealed class ServiceHeartbeatTests : IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-agent-services-").FullName;
    private FakeControlPlane _server = null!;
    private WebApplication? _agent;

    public async Task InitializeAsync() => _server = await FakeControlPlane.StartAsync();

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.StopAsync();
            await _agent.DisposeAsync();
        }

        await _server.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    [Fact]
    public async Task ServiceAttempt_ReportsInHeartbeats_ThenUnhealthyEndUploaded()
    {
        _agent = AgentHost.Build(new AgentOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Interval = TimeSpan.FromSeconds(1),

            // Simulated GPUs: real NVML (or the fake another test loaded into this process) is not this test's.
            SimulateGpus = 1,
            Servers = [_server.Url],
            JoinToken = "join-secret",
            StateDir = _stateDir,
        });
        await _agent.StartAsync();
        var port = Tools.FreePort();
        var marker = Path.Combine(_stateDir, "make-it-unhealthy");
        _server.Assign(new Assignment
        {
            JobId = 9,
            Attempt = 1,
            Epoch = 90,
            Action = AssignmentAction.Run,
            Command = FakeInference.Command(port, "--tokens-per-second", "1000", "--unhealthy-file", marker),
            Gpus = [],
            Cpus = 1,
            MemoryBytes = 0,
            KillGraceSeconds = 1,
            AllowRoot = true,
            Kind = JobKind.Service,
            // No host: the node's own, as the agent advertises it (127.0.0.1 here).
            Service = new ServiceSpec
            {
                Port = port,
                MetricsPath = "/metrics",
                Health = new HealthCheck { Kind = HealthCheckKind.Http, Port = port, Path = "/health", GraceSeconds = 0, IntervalSeconds = 0.3, TimeoutSeconds = 2, FailuresBeforeUnhealthy = 2 },
            },
        });

        await ProcessTable.WaitUntilAsync(
            () => _server.Heartbeats.Any(h => h.Request.Services is [{ JobId: 9, Health: ServiceHealth.Healthy, GeneratedTokensTotal: > 0 }]),
            "a heartbeat with the service healthy and its counters");
        var report = _server.Heartbeats.Select(h => h.Request.Services).Last(s => s is [{ Health: ServiceHealth.Healthy, GeneratedTokensTotal: > 0 }])![0];
        Assert.Equal(1, report.Attempt);
        Assert.Equal(2, report.RequestsRunning);
        Assert.Equal(1, report.RequestsWaiting);
        Assert.NotNull(report.ScrapedAt);

        await File.WriteAllTextAsync(marker, "");
        await ProcessTable.WaitUntilAsync(() => _server.Uploads.Any(u => u.Event?.Type == AttemptEventType.Ended), "the unhealthy service to be stopped");
        var ended = _server.Uploads.First(u => u.Event?.Type == AttemptEventType.Ended).Event!;
        Assert.Equal(AttemptEndCause.Unhealthy, ended.Cause);
        Assert.Contains($"GET http://127.0.0.1:{port}/health answered 503", ended.Message, StringComparison.Ordinal);

        // Once it ended, heartbeats carry no service.
        var count = _server.Heartbeats.Count;
        await ProcessTable.WaitUntilAsync(() => _server.Heartbeats.Count > count + 1, "two more heartbeats");
        Assert.Null(_server.Heartbeats.Last().Request.Services);
    }
}
