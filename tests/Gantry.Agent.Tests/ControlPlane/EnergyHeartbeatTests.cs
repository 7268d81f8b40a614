using System.Net;
using Gantry.Agent.Configuration;
using Gantry.Agent.Tests.Jobs;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;

namespace Gantry.Agent.Tests.ControlPlane;

/// <summary>Attempts' energy in heartbeats and ended events: only to a server that reads it.</summary>
public sealed class EnergyHeartbeatTests : IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-agent-energy-").FullName;
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

    private async Task<AttemptEvent> RunJobAsync()
    {
        _agent = AgentHost.Build(new AgentOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Interval = TimeSpan.FromSeconds(1),
            SimulateGpus = 2,
            Servers = [_server.Url],
            JoinToken = "join-secret",
            StateDir = _stateDir,
        });
        await _agent.StartAsync();
        _server.Assign(new Assignment
        {
            JobId = 7,
            Attempt = 1,
            Epoch = 70,
            Action = AssignmentAction.Run,
            Command = ["sleep 3"],
            Shell = true,
            Gpus = [1],
            Cpus = 1,
            MemoryBytes = 0,
            KillGraceSeconds = 1,
        });
        await ProcessTable.WaitUntilAsync(() => _server.Uploads.Any(u => u.Event?.Type == AttemptEventType.Ended), "the job to end");
        return _server.Uploads.First(u => u.Event?.Type == AttemptEventType.Ended).Event!;
    }

    [Fact]
    public async Task ServerOfAnEarlierVersion_NoEnergyInHeartbeatsOrTheEndedEvent()
    {
        var ended = await RunJobAsync();

        Assert.Null(ended.Energy);
        Assert.All(_server.Heartbeats, h => Assert.Null(h.Request.AttemptEnergy));
    }

    [Fact]
    public async Task ServerReadsEnergy_RunningAttemptInHeartbeats_FinalFiguresInTheEndedEvent()
    {
        _server.AcceptsEnergy = true;
        var ended = await RunJobAsync();

        var live = _server.Heartbeats.Select(h => h.Request.AttemptEnergy).Where(e => e is { Count: > 0 }).Select(e => e![0]).ToList();
        Assert.NotEmpty(live);
        Assert.All(live, e => Assert.Equal((7L, 1, 70L), (e.JobId, e.Attempt, e.Epoch)));
        var final = ended.Energy!;
        Assert.Equal((7L, 1, 70L), (final.JobId, final.Attempt, final.Epoch));
        Assert.True(final.GpuEnergyJoules > 0, "the simulated GPU drew power while the job ran");
        Assert.True(final.GpuEnergyJoules >= live[^1].GpuEnergyJoules);
        Assert.True(final.MeasuredAt > final.Since);
    }
}
