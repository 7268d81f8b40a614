using System.Globalization;
using BenchmarkDotNet.Attributes;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Benchmarks;

/// <summary>
/// Services on the heartbeat and scheduling paths (docs/services.md): a control plane on a real SQLite
/// store with <see cref="Nodes"/> nodes running <see cref="ServicesPerNode"/> services each, and
/// <see cref="Restarting"/> more waiting out a restart delay. <see cref="ObserveServices"/> applies one
/// heartbeat's reports (O(reports)); <see cref="ReleaseRestartsNoneDue"/> is what every scheduling pass
/// pays for the restarting ones when none is due (the head of a sorted set, not a walk).
/// </summary>
[MemoryDiagnoser]
public class ServiceBenchmark
{
    public const int Nodes = 250;
    public const int ServicesPerNode = 4;
    public const int Restarting = 10_000;

    private ControlPlaneFixture _fixture = null!;
    private string[] _nodeIds = null!;
    private ServiceReport[][] _reports = null!;
    private int _next;

    [GlobalSetup]
    public void Setup()
    {
        _fixture = ControlPlaneFixture.Create();
        _nodeIds = new string[Nodes];
        for (var i = 0; i < Nodes; i++)
        {
            _nodeIds[i] = _fixture.Register(string.Create(CultureInfo.InvariantCulture, $"node-{i:D4}"), [], "z0");
        }

        for (var i = 0; i < Nodes * ServicesPerNode; i++)
        {
            _fixture.Jobs.Submit(Service(string.Create(CultureInfo.InvariantCulture, $"svc-{i}"), delay: 10));
        }

        while (_fixture.SchedulingPass() > 0)
        {
        }

        var byNode = new Dictionary<string, List<ServiceReport>>();
        foreach (var nodeId in _nodeIds)
        {
            var list = byNode[nodeId] = [];
            foreach (var a in _fixture.Nodes.Assignments(nodeId)!.Value.Response.Attempts)
            {
                _fixture.Jobs.Report(nodeId, a.JobId, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UtcNow });
                list.Add(new ServiceReport { JobId = a.JobId, Attempt = a.Attempt, Health = ServiceHealth.Healthy, GeneratedTokensTotal = 1e6 });
            }
        }

        _reports = [.. _nodeIds.Select(id => byNode[id].ToArray())];

        // Services that exited and wait an hour to come back.
        var first = _fixture.Jobs.Submit(Service("restarting-0", delay: 3600)).FirstId;
        for (var i = 1; i < Restarting; i++)
        {
            _fixture.Jobs.Submit(Service(string.Create(CultureInfo.InvariantCulture, $"restarting-{i}"), delay: 3600));
        }

        while (_fixture.SchedulingPass() > 0)
        {
        }

        foreach (var nodeId in _nodeIds)
        {
            foreach (var a in _fixture.Nodes.Assignments(nodeId)!.Value.Response.Attempts)
            {
                if (a.JobId >= first)
                {
                    _fixture.Jobs.Report(nodeId, a.JobId, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Exited, ExitCode = 1, Time = DateTimeOffset.UtcNow });
                }
            }
        }

        if (_fixture.Jobs.RestartingCount != Restarting)
        {
            throw new InvalidOperationException($"{_fixture.Jobs.RestartingCount} services wait to restart, not {Restarting}");
        }
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    /// <summary>One node's heartbeat reports (<see cref="ServicesPerNode"/> services), as the endpoint applies them.</summary>
    [Benchmark]
    public void ObserveServices()
    {
        var node = _next;
        _next = _next + 1 == Nodes ? 0 : _next + 1;
        _fixture.Jobs.ObserveServices(_nodeIds[node], _reports[node]);
    }

    /// <summary>A scheduling pass's look at the restarting services when none is due.</summary>
    [Benchmark]
    public int ReleaseRestartsNoneDue() => _fixture.Jobs.ReleaseRestarts();

    private static JobSubmission Service(string name, double delay) => new()
    {
        Name = name,
        Command = ["serve"],
        Kind = JobKind.Service,
        Resources = new ResourceRequest { Gpus = 0, Cpus = 0 },
        Service = new ServiceSpec { Restart = new RestartPolicy { DelaySeconds = delay, IntervalSeconds = 7200 } },
    };
}
