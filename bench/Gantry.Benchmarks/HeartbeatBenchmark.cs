using System.Globalization;
using System.Text.Json;
using BenchmarkDotNet.Attributes;
using Gantry.Agent.ControlPlane;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Model;

namespace Gantry.Benchmarks;

/// <summary>
/// Heartbeat ingest: <c>POST /api/v1/nodes/{id}/heartbeat</c> without HTTP. A control plane on a real
/// SQLite store holds <see cref="Nodes"/> registered nodes of 8 GPUs; each call parses one
/// heartbeat body (the JSON an agent with 8 simulated GPUs sends, from a real sample of this
/// machine) with <c>GantryJson.Default.HeartbeatRequest</c> as the endpoint does, and applies
/// it with <c>NodeRegistry.Heartbeat</c>, to the next node in turn.
/// </summary>
[MemoryDiagnoser]
public class HeartbeatBenchmark
{
    public const int Nodes = 1_000;

    /// <summary>Jobs the heartbeating node says it runs (an 8-GPU node with a mix of jobs).</summary>
    public const int RunningAttempts = 4;

    private ControlPlaneFixture _fixture = null!;
    private string[] _nodeIds = null!;
    private byte[] _body = null!;
    private HeartbeatRequest _request = null!;
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
            _nodeIds[i] = _fixture.Register(string.Create(CultureInfo.InvariantCulture, $"node-{i:D5}"), inventory, i % 2 == 0 ? "z0" : "z1");
        }

        _body = CreateBody(previous, current);
        _request = JsonSerializer.Deserialize(_body, GantryJson.Default.HeartbeatRequest)!;
    }

    [GlobalCleanup]
    public void Cleanup() => _fixture.Dispose();

    /// <summary>Parse and apply, as the endpoint does (DeserializeAsync over the body stream).</summary>
    [Benchmark(Baseline = true)]
    public async Task<HeartbeatResponse?> ParseAndApply()
    {
        using var body = new MemoryStream(_body, writable: false);
        var request = await JsonSerializer.DeserializeAsync(body, GantryJson.Default.HeartbeatRequest).ConfigureAwait(false);
        return _fixture.Nodes.Heartbeat(NextNode(), request!);
    }

    /// <summary>Only the JSON parse.</summary>
    [Benchmark]
    public HeartbeatRequest? Parse() => JsonSerializer.Deserialize(_body, GantryJson.Default.HeartbeatRequest);

    /// <summary>Only <c>NodeRegistry.Heartbeat</c>: the part that holds the node registry's lock.</summary>
    [Benchmark]
    public HeartbeatResponse? Apply() => _fixture.Nodes.Heartbeat(NextNode(), _request);

    private string NextNode()
    {
        var id = _nodeIds[_next];
        _next = _next + 1 == _nodeIds.Length ? 0 : _next + 1;
        return id;
    }

    /// <summary>The heartbeat body an agent sends for <paramref name="current"/>, as JSON.</summary>
    internal static byte[] CreateBody(NodeSnapshot previous, NodeSnapshot current)
    {
        var running = new AttemptRef[RunningAttempts];
        for (var i = 0; i < running.Length; i++)
        {
            running[i] = new AttemptRef { JobId = 1_000_000 + i, Attempt = 1, Epoch = 5_000 + i };
        }

        var request = new HeartbeatRequest { Summary = NodeReport.Summary(current, previous), RunningAttempts = running };
        return JsonSerializer.SerializeToUtf8Bytes(request, GantryJson.Default.HeartbeatRequest);
    }
}
