using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Protocol;

namespace Gantry.Testing;

/// <summary>
/// Many nodes without agents: each is registered through the real API with the join token
/// (<c>POST /api/v1/nodes/register</c>) and heartbeats with its own credential, carrying a summary of
/// <see cref="GpusPerNode"/> GPUs whose figures change every round. For tests and benchmarks of the
/// server and the dashboard at a fleet size no machine here could run as real agent processes.
/// </summary>
public sealed class SyntheticNodes : IAsyncDisposable
{
    private const long GiB = 1L << 30;
    private const long GpuMemory = 80 * GiB;

    private readonly HttpClient _http;
    private readonly string[] _ids;
    private readonly string[] _credentials;
    private readonly double[] _pinned; // NaN: not pinned
    private CancellationTokenSource? _loop;
    private Task? _loopTask;
    private long _round;
    private long _heartbeats;
    private long _failures;

    private SyntheticNodes(HttpClient http, int gpusPerNode, string[] ids, string[] credentials)
    {
        _http = http;
        GpusPerNode = gpusPerNode;
        _ids = ids;
        _credentials = credentials;
        _pinned = new double[ids.Length];
        Array.Fill(_pinned, double.NaN);
    }

    /// <summary>GPUs of every node.</summary>
    public int GpusPerNode { get; }

    /// <summary>Node ids the server gave, in registration order (node <c>i</c> is named <c>sim-NNNN</c>).</summary>
    public IReadOnlyList<string> NodeIds => _ids;

    /// <summary>Heartbeats the server answered with 200.</summary>
    public long Heartbeats => Interlocked.Read(ref _heartbeats);

    /// <summary>Heartbeats that failed (an error status or no answer).</summary>
    public long Failures => Interlocked.Read(ref _failures);

    /// <summary>The name node <paramref name="index"/> registers with.</summary>
    public static string NameOf(int index) => $"sim-{index:D4}";

    /// <summary>Registers <paramref name="count"/> nodes with <paramref name="gpusPerNode"/> simulated GPUs each, <paramref name="parallel"/> at a time.</summary>
    public static async Task<SyntheticNodes> RegisterAsync(Uri server, string joinToken, int count, int gpusPerNode, int parallel, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(server);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(count);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(parallel);
        var http = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = parallel }) { BaseAddress = server, Timeout = TimeSpan.FromSeconds(60) };
        var ids = new string[count];
        var credentials = new string[count];
        try
        {
            await Parallel.ForAsync(0, count, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellationToken }, async (i, ct) =>
            {
                var request = new RegisterNodeRequest
                {
                    Name = NameOf(i),
                    CpuCores = 128,
                    MemoryBytes = 1024 * GiB,
                    Os = "linux",
                    Architecture = "x64",
                    AgentVersion = "synthetic",
                    Labels = new Dictionary<string, string> { ["synthetic"] = "true" },
                    Gpus = [.. Enumerable.Range(0, gpusPerNode).Select(g => new GpuInventory
                    {
                        Index = g,
                        Uuid = $"GPU-{i:D8}-0000-0000-0000-{g:D12}",
                        Model = "NVIDIA H100 80GB HBM3",
                        MemoryBytes = GpuMemory,
                        Simulated = true,
                    })],
                };
                using var message = new HttpRequestMessage(HttpMethod.Post, "/api/v1/nodes/register")
                {
                    Content = JsonContent.Create(request, GantryJson.Default.RegisterNodeRequest),
                };
                message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", joinToken);
                using var response = await http.SendAsync(message, ct).ConfigureAwait(false);
                if (response.StatusCode != HttpStatusCode.OK)
                {
                    throw new InvalidOperationException($"registering {NameOf(i)} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
                }

                var registered = (await response.Content.ReadFromJsonAsync(GantryJson.Default.RegisterNodeResponse, ct).ConfigureAwait(false))!;
                ids[i] = registered.NodeId;
                credentials[i] = registered.Credential;
            }).ConfigureAwait(false);
        }
        catch
        {
            http.Dispose();
            throw;
        }

        return new SyntheticNodes(http, gpusPerNode, ids, credentials);
    }

    /// <summary>
    /// From now on every GPU of node <paramref name="index"/> reports <paramref name="utilization"/> (0 to 1)
    /// instead of the changing figure; null goes back to it.
    /// </summary>
    public void Pin(int index, double? utilization) => Volatile.Write(ref _pinned[index], utilization ?? double.NaN);

    /// <summary>GPU <paramref name="gpu"/> of node <paramref name="node"/>'s utilization in round <paramref name="round"/>: a whole percentage that moves every round.</summary>
    public double Utilization(int node, int gpu, long round)
    {
        var pinned = Volatile.Read(ref _pinned[node]);
        return double.IsNaN(pinned) ? ((round * 7) + (node * 13) + (gpu * 29)) % 100 / 100.0 : pinned;
    }

    /// <summary>One heartbeat from every node, <paramref name="parallel"/> at a time; the figures move on by one round.</summary>
    public async Task HeartbeatAllAsync(int parallel, CancellationToken cancellationToken)
    {
        var round = Interlocked.Increment(ref _round);
        await Parallel.ForAsync(0, _ids.Length, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            try
            {
                await HeartbeatAsync(i, round, ct).ConfigureAwait(false);
            }
            catch (HttpRequestException)
            {
                Interlocked.Increment(ref _failures);
            }
        }).ConfigureAwait(false);
    }

    /// <summary>Sends one heartbeat for node <paramref name="index"/> now, with round <paramref name="round"/>'s figures.</summary>
    public async Task HeartbeatAsync(int index, long round, CancellationToken cancellationToken)
    {
        var gpus = new GpuSummary[GpusPerNode];
        var power = 0.0;
        for (var g = 0; g < gpus.Length; g++)
        {
            var utilization = Utilization(index, g, round);
            var watts = Math.Round(90 + (600 * utilization));
            power += watts;
            gpus[g] = new GpuSummary
            {
                Index = g,
                Utilization = utilization,
                MemoryUsedBytes = (long)(GpuMemory * utilization),
                MemoryTotalBytes = GpuMemory,
                TemperatureCelsius = Math.Round(35 + (50 * utilization)),
                PowerWatts = watts,
                EnergyJoules = round * watts,
                SmClockHertz = 1.98e9,
                MemoryClockHertz = 2.6e9,
            };
        }

        var request = new HeartbeatRequest
        {
            Summary = new NodeSummary
            {
                SampledAt = DateTimeOffset.UtcNow,
                CpuUtilization = 0.25,
                MemoryUsedBytes = 256 * GiB,
                MemoryTotalBytes = 1024 * GiB,
                PowerWatts = power + 400,
                Simulated = true,
                Gpus = gpus,
            },
        };
        using var message = new HttpRequestMessage(HttpMethod.Post, $"/api/v1/nodes/{_ids[index]}/heartbeat")
        {
            Content = JsonContent.Create(request, GantryJson.Default.HeartbeatRequest),
        };
        message.Headers.Authorization = new AuthenticationHeaderValue("Bearer", _credentials[index]);
        using var response = await _http.SendAsync(message, cancellationToken).ConfigureAwait(false);
        Interlocked.Increment(ref response.IsSuccessStatusCode ? ref _heartbeats : ref _failures);
    }

    /// <summary>Heartbeats every node every <paramref name="interval"/> in the background until disposed.</summary>
    public void StartHeartbeating(TimeSpan interval, int parallel)
    {
        if (_loop is not null)
        {
            throw new InvalidOperationException("already heartbeating");
        }

        _loop = new CancellationTokenSource();
        var token = _loop.Token;
        _loopTask = Task.Run(async () =>
        {
            using var timer = new PeriodicTimer(interval);
            do
            {
                await HeartbeatAllAsync(parallel, token).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(token).ConfigureAwait(false));
        }, token);
    }

    public async ValueTask DisposeAsync()
    {
        if (_loop is not null)
        {
            await _loop.CancelAsync().ConfigureAwait(false);
            try
            {
                await _loopTask!.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Stopped on purpose.
            }

            _loop.Dispose();
        }

        _http.Dispose();
    }
}
