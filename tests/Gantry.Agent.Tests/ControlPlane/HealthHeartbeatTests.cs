using System.Net;
using Gantry.Agent.Configuration;
using Gantry.Agent.Tests.Jobs;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Tests.ControlPlane;

/// <summary>GPU health in heartbeats: only to a server that reads it, and never lost to one that refuses it.</summary>
public sealed class HealthHeartbeatTests : IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-agent-health-").FullName;
    private readonly EventIdRecorder _log = new();
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

    private async Task StartAgentAsync()
    {
        var options = new AgentOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Interval = TimeSpan.FromSeconds(1),
            SimulateGpus = 2,
            Servers = [_server.Url],
            JoinToken = "join-secret",
            StateDir = _stateDir,
        };
        _agent = AgentHost.Build(options, configureLogging: logging =>
        {
            logging.SetMinimumLevel(LogLevel.Debug);
            logging.AddProvider(_log);
        });
        await _agent.StartAsync();
    }

    [Fact]
    public async Task Heartbeat_ServerOfAnEarlierVersion_CarriesNoHealth()
    {
        await StartAgentAsync();
        await ProcessTable.WaitUntilAsync(() => _server.Heartbeats.Count >= 2, "two heartbeats arrive");

        Assert.All(_server.Heartbeats, h => Assert.Null(h.Request.Health));
    }

    [Fact]
    public async Task Heartbeat_ServerReadsHealth_EveryGpuWithTheBootId()
    {
        _server.AcceptsHealth = true;
        await StartAgentAsync();
        await ProcessTable.WaitUntilAsync(() => _server.Heartbeats.Any(h => h.Request.Health is { Gpus.Count: 2 }), "a heartbeat with health arrives");

        var health = _server.Heartbeats.First(h => h.Request.Health is { Gpus.Count: 2 }).Request.Health!;
        Assert.Equal([0, 1], health.Gpus.Select(g => g.Index));
        Assert.Equal(File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(), health.BootId);

        // Simulated GPUs: no kernel log to read, so nothing to say about it.
        Assert.Null(health.KernelLog);
    }

    [Fact]
    public async Task Heartbeat_ReplicaRefusesHealth_SentAgainAtOnceWithoutIt()
    {
        // The leader said it reads health; the replica answering now is of an earlier version.
        _server.AcceptsHealth = true;
        _server.RefuseHealth = true;
        await StartAgentAsync();
        await ProcessTable.WaitUntilAsync(() => _server.Heartbeats.Count(h => h.Request.Health is not null) >= 2, "health is offered twice");

        var heartbeats = _server.Heartbeats.ToList();
        var refused = heartbeats.FindIndex(h => h.Request.Health is not null);
        Assert.Null(heartbeats[refused + 1].Request.Health);
        Assert.Equal(heartbeats[refused].Request.RunningAttempts.Count, heartbeats[refused + 1].Request.RunningAttempts.Count);

        // Said once, however often the servers disagree.
        Assert.Equal(1, _log.Ids.Count(id => id == 144));
    }
}
