using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Gantry.Agent.ControlPlane;
using Gantry.Core.Protocol;

namespace Gantry.Benchmarks;

/// <summary>
/// What GPU health adds to heartbeat ingest: a control plane on a real SQLite store holds
/// <see cref="Nodes"/> nodes of 8 GPUs, and each call hands <c>GpuHealthRegistry.Observe</c> the next
/// node's report of 8 GPUs with no XID and nothing wrong (the common case: nothing is decided or
/// written), or parses a heartbeat body that carries such a report, as the endpoint does.
/// </summary>
[MemoryDiagnoser]
public class HealthBenchmark
{
    public const int Nodes = 1_000;

    private ControlPlaneFixture _fixture = null!;
    private string[] _nodeIds = null!;
    private NodeHealthReport _report = null!;
    private byte[] _body = null!;
    private byte[] _bodyWithoutHealth = null!;
    private int _next;

    [GlobalSetup]
    public async Task Setup()
    {
        var (previous, current) = await NodeSample.TakeAsync(CancellationToken.None).ConfigureAwait(false);
        var inventory = NodeReport.Inventory(current.Gpus);
        _fixture = ControlPlaneFixture.Create();
        _nodeIds = new string[Nodes];
        for (var i = 0; i < Nodes; i++)
        {
            _nodeIds[i] = _fixture.Register(string.Create(CultureInfo.InvariantCulture, $"node-{i:D5}"), inventory, "z0");
        }

        var gpus = new GpuHealthReport[inventory.Count];
        for (var g = 0; g < gpus.Length; g++)
        {
            gpus[g] = new GpuHealthReport
            {
                Index = inventory[g].Index,
                EccCorrectedVolatile = 3,
                EccUncorrectedVolatile = 0,
                RemappedRowsPending = false,
                RemappedRowsFailure = false,
                RecoveryAction = GpuRecoveryNeed.None,
                NvLinksDown = 0,
                NvLinkCrcErrors = 12,
                PcieReplays = 0,
            };
        }

        _report = new NodeHealthReport { BootId = "5f0c1b6e-1d2a-4c3b-9e8f-0a1b2c3d4e5f", Gpus = gpus };
        _bodyWithoutHealth = HeartbeatBenchmark.CreateBody(previous, current);
        var request = JsonSerializer.Deserialize(_bodyWithoutHealth, GantryJson.Default.HeartbeatRequest)!;
        request.Health = _report;
        _body = JsonSerializer.SerializeToUtf8Bytes(request, GantryJson.Default.HeartbeatRequest);
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    /// <summary>One node's healthy report: the per-heartbeat cost when nothing is wrong.</summary>
    [Benchmark(Baseline = true)]
    public bool ObserveHealthy() => _fixture.Health.Observe(NextNode(), _report);

    /// <summary>The heartbeat body without health, parsed (what an agent of an earlier version sends).</summary>
    [Benchmark]
    public HeartbeatRequest? ParseWithoutHealth() => JsonSerializer.Deserialize(_bodyWithoutHealth, GantryJson.Default.HeartbeatRequest);

    /// <summary>The same body with 8 GPUs' health, parsed.</summary>
    [Benchmark]
    public HeartbeatRequest? ParseWithHealth() => JsonSerializer.Deserialize(_body, GantryJson.Default.HeartbeatRequest);

    private string NextNode()
    {
        var id = _nodeIds[_next];
        _next = _next + 1 == _nodeIds.Length ? 0 : _next + 1;
        return id;
    }
}
