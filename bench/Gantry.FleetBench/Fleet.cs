using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Protocol;

namespace Gantry.FleetBench;

/// <summary>
/// N simulated nodes without agents, driven from one process. Each node is registered through
/// <c>POST /api/v1/nodes/register</c> with the join token (as tests/Gantry.Testing/SyntheticNodes.cs
/// does, over <see cref="HttpClient"/>) and then heartbeats with its own credential on an open-loop
/// schedule: node <c>i</c> is due at <c>start + round × interval + i × interval / N</c>, so the fleet
/// sends N/interval heartbeats a second spread evenly, whether or not the server keeps up. Heartbeats
/// go over <see cref="HeartbeatClient"/>, a lean HTTP/1.1 client on a fixed pool of keep-alive
/// connections, so that the driver takes little of the CPU it shares with the server. A node never
/// has two heartbeats in flight (as an agent): one that falls due while the previous is unanswered is
/// sent when it is answered, its latency still counted from its own due time.
/// </summary>
internal sealed class Fleet : IDisposable
{
    private const long GiB = 1L << 30;
    private const long GpuMemory = 80 * GiB;

    // A node's slot: 0 idle, -1 a heartbeat in flight, > 0 in flight with the next one waiting (its due time).
    private readonly long[] _slot;
    private readonly int[] _awaitingReady;
    private readonly HeartbeatClient _heartbeats;
    private readonly Uri _server;
    private HttpClient? _registration;
    private readonly Bodies _bodies;
    private long _interval;

    // The schedule's place: the current round's start, the next node due, the next refresh of the bodies
    // (on the heartbeat client's thread only).
    private long _roundStart;
    private int _next;
    private long _refreshAt;
    private bool _started;
    private volatile bool _scheduleStopped;
    private volatile Phase _phase = new("warmup");
    private volatile bool _paused;
    private volatile bool _stopping;
    private long _resumeRequested;
    private long _notReady;
    private long _allReadyAt;
    private int _registered;

    public Fleet(Uri server, int nodes, int gpus, int connections)
    {
        _server = server;
        Count = nodes;
        Gpus = gpus;
        _slot = new long[nodes];
        _awaitingReady = new int[nodes];
        _bodies = new Bodies(gpus);
        _heartbeats = new HeartbeatClient(server, nodes, connections, _bodies.For, Complete);
    }

    /// <summary>Nodes in the fleet.</summary>
    public int Count { get; }

    /// <summary>GPUs of every node.</summary>
    public int Gpus { get; }

    /// <summary>The phase heartbeats that fall due from now on belong to.</summary>
    public Phase Phase
    {
        get => _phase;
        set => _phase = value;
    }

    /// <summary>Bytes of one heartbeat body (0 before the schedule starts).</summary>
    public int BodyBytes => _bodies.Length;

    /// <summary>When every node had a "ready" answer after <see cref="Resume"/> (<see cref="Stopwatch"/> ticks), 0 until then.</summary>
    public long AllReadyAt => Interlocked.Read(ref _allReadyAt);

    /// <summary>Nodes that have not had a "ready" answer since <see cref="Resume"/>.</summary>
    public long NotReady => Interlocked.Read(ref _notReady);

    /// <summary>
    /// Registers every node, <paramref name="parallel"/> at a time, and starts each heartbeating as soon
    /// as it is registered. Returns the time at which each 1,000th registration completed, and the
    /// heartbeat interval the server asked for (unless <paramref name="interval"/> overrides it).
    /// </summary>
    public async Task<(List<long> Marks, TimeSpan Interval)> RegisterAsync(string joinToken, int parallel, TimeSpan? interval, CancellationToken cancellationToken)
    {
        var marks = new List<long> { Stopwatch.GetTimestamp() };
        var started = false;
        var startLock = new Lock();
        var serverInterval = TimeSpan.Zero;
        // Connections of their own, as each agent has: a registration never waits behind heartbeats in the heartbeat client's queue.
        _registration = new HttpClient(new SocketsHttpHandler { MaxConnectionsPerServer = parallel, UseProxy = false, UseCookies = false })
        {
            BaseAddress = _server,
            Timeout = TimeSpan.FromSeconds(120),
        };
        await Parallel.ForAsync(0, Count, new ParallelOptions { MaxDegreeOfParallelism = parallel, CancellationToken = cancellationToken }, async (i, ct) =>
        {
            var request = RegisterRequest(i);
            RegisterNodeResponse? registered = null;
            for (var attempt = 1; registered is null; attempt++)
            {
                using var message = new HttpRequestMessage(HttpMethod.Post, "/api/v1/nodes/register")
                {
                    Content = JsonContent.Create(request, GantryJson.Default.RegisterNodeRequest),
                };
                message.Headers.TryAddWithoutValidation("Authorization", "Bearer " + joinToken);
                try
                {
                    using var response = await _registration.SendAsync(message, ct).ConfigureAwait(false);
                    if (response.StatusCode != HttpStatusCode.OK)
                    {
                        throw new InvalidOperationException($"registering {request.Name} answered {(int)response.StatusCode}: {await response.Content.ReadAsStringAsync(ct).ConfigureAwait(false)}");
                    }

                    registered = (await response.Content.ReadFromJsonAsync(GantryJson.Default.RegisterNodeResponse, ct).ConfigureAwait(false))!;
                }
                catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException && !ct.IsCancellationRequested && attempt < 5)
                {
                    Program.Progress($"registering {request.Name}: {ex.Message}; again");
                }
            }

            _heartbeats.Register(i, registered.NodeId, registered.Credential);
            lock (startLock)
            {
                if (!started)
                {
                    started = true;
                    serverInterval = TimeSpan.FromSeconds(registered.HeartbeatIntervalSeconds);
                    Interlocked.Exchange(ref _interval, (long)((interval ?? serverInterval).TotalSeconds * Stopwatch.Frequency));
                    _heartbeats.Start(Schedule);
                    _started = true;
                }

                if (++_registered % 1000 == 0)
                {
                    marks.Add(Stopwatch.GetTimestamp());
                    Program.Progress($"registered {_registered:N0} nodes");
                }
            }
        }).ConfigureAwait(false);
        if (Count % 1000 != 0)
        {
            marks.Add(Stopwatch.GetTimestamp());
        }

        return (marks, interval ?? serverInterval);
    }

    private RegisterNodeRequest RegisterRequest(int i) => new()
    {
        Name = $"sim-{i:D5}",
        CpuCores = 128,
        MemoryBytes = 1024 * GiB,
        Os = "linux",
        Architecture = "x64",
        AgentVersion = "fleet-bench",
        Labels = new Dictionary<string, string> { ["synthetic"] = "true" },
        Gpus = [.. Enumerable.Range(0, Gpus).Select(g => new GpuInventory
        {
            Index = g,
            Uuid = $"GPU-{i:D8}-0000-0000-0000-{g:D12}",
            Model = "NVIDIA H100 80GB HBM3",
            MemoryBytes = GpuMemory,
            Simulated = true,
        })],
    };

    /// <summary>Stops sending heartbeats (a network blip); those in flight finish.</summary>
    public void Pause() => _paused = true;

    /// <summary>
    /// Ends a <see cref="Pause"/>: every node heartbeats at once (all due now), then the schedule goes
    /// on one interval later. <see cref="AllReadyAt"/> records when the last node was answered "ready".
    /// </summary>
    public void Resume()
    {
        var awaiting = 0L;
        for (var i = 0; i < Count; i++)
        {
            if (_heartbeats.IsRegistered(i))
            {
                Volatile.Write(ref _awaitingReady[i], 1);
                awaiting++;
            }
        }

        Interlocked.Exchange(ref _allReadyAt, 0);
        Interlocked.Exchange(ref _notReady, awaiting);
        // The schedule ends the pause when it takes the request, so it never runs the old round first.
        Interlocked.Exchange(ref _resumeRequested, Stopwatch.GetTimestamp());
        _heartbeats.Wake();
    }

    /// <summary>
    /// The schedule, called on the heartbeat client's thread whenever it wakes: starts each heartbeat that
    /// is due (never waiting for answers) and returns when to be called again: the next due time (a
    /// resume or a stop wakes the thread at once, <see cref="HeartbeatClient.Wake"/>).
    /// </summary>
    private long Schedule(long now)
    {
        if (_stopping)
        {
            _scheduleStopped = true;
            return long.MaxValue;
        }

        if (now >= _refreshAt)
        {
            // New figures for the bodies once a second, as an agent's samples move on.
            _bodies.Refresh();
            _refreshAt = now + Stopwatch.Frequency;
        }

        var interval = Interlocked.Read(ref _interval);
        if (Interlocked.Exchange(ref _resumeRequested, 0) is var resumeAt and > 0)
        {
            for (var i = 0; i < Count; i++)
            {
                Start(i, resumeAt);
            }

            _roundStart = resumeAt + interval;
            _next = 0;
            _paused = false;
        }

        if (_paused)
        {
            _roundStart = now;
            _next = 0;
            return long.MaxValue;
        }

        if (_roundStart == 0)
        {
            _roundStart = now;
        }

        long due;
        while ((due = _roundStart + (_next * interval / Count)) <= now)
        {
            Start(_next, due);
            if (++_next == Count)
            {
                _next = 0;
                _roundStart += interval;
            }
        }

        return due;
    }

    private void Start(int i, long due)
    {
        if (!_heartbeats.IsRegistered(i))
        {
            return;
        }

        var phase = _phase;
        while (true)
        {
            var slot = Volatile.Read(ref _slot[i]);
            if (slot == 0)
            {
                if (Interlocked.CompareExchange(ref _slot[i], -1, 0) == 0)
                {
                    phase.Started(Stopwatch.GetTimestamp() - due);
                    _heartbeats.Send(new Heartbeat(i, due, phase));
                    return;
                }
            }
            else if (slot == -1)
            {
                if (Interlocked.CompareExchange(ref _slot[i], due, -1) == -1)
                {
                    phase.Coalesce();
                    return;
                }
            }
            else
            {
                phase.Skip();
                return;
            }
        }
    }

    /// <summary>
    /// A heartbeat's outcome (on the heartbeat client's thread): counted in its phase, checked for "ready" after
    /// a <see cref="Resume"/>; then the node is idle again, or its heartbeat that fell due meanwhile is
    /// the next to send.
    /// </summary>
    private bool Complete(ref Heartbeat heartbeat, int status, ReadOnlySpan<byte> body, string? failure)
    {
        var answeredAt = Stopwatch.GetTimestamp();
        var (i, due, phase) = heartbeat;
        if (failure is not null)
        {
            phase.Failed(failure);
        }
        else if (status == (int)HttpStatusCode.OK)
        {
            phase.Answered(answeredAt - due);
            // {"state":"ready","leaseExpiresAt":…}: the server's view of this node after the heartbeat.
            if (Volatile.Read(ref _awaitingReady[i]) == 1 && body.IndexOf("\"state\":\"ready\""u8) >= 0
                && Interlocked.Exchange(ref _awaitingReady[i], 0) == 1 && Interlocked.Decrement(ref _notReady) == 0)
            {
                Interlocked.Exchange(ref _allReadyAt, answeredAt);
            }
        }
        else
        {
            phase.Failed($"HTTP {status}");
        }

        while (true)
        {
            var slot = Volatile.Read(ref _slot[i]);
            if (slot == -1)
            {
                if (Interlocked.CompareExchange(ref _slot[i], 0, -1) == -1)
                {
                    return false;
                }
            }
            else if (Interlocked.CompareExchange(ref _slot[i], -1, slot) == slot)
            {
                phase = _phase;
                phase.Started(Stopwatch.GetTimestamp() - slot);
                heartbeat = new Heartbeat(i, slot, phase);
                return true;
            }
        }
    }

    /// <summary>Stops the schedule and waits (up to <paramref name="limit"/>) for the heartbeats in flight, so none is cut off.</summary>
    public async Task StopAsync(TimeSpan limit)
    {
        _stopping = true;
        _heartbeats.Wake();
        var until = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (Stopwatch.GetTimestamp() < until && ((_started && !_scheduleStopped) || Array.Exists(_slot, s => s != 0)))
        {
            await Task.Delay(10).ConfigureAwait(false);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        _heartbeats.Dispose();
        _registration?.Dispose();
    }

    /// <summary>
    /// Heartbeat bodies as an 8-GPU agent sends them (every reading present), serialized in advance:
    /// a few dozen variants whose figures move every second, shared by all nodes, so a request costs
    /// the client no serialization.
    /// </summary>
    private sealed class Bodies(int gpus)
    {
        private const int Variants = 64;
        private byte[][] _current = [];
        private long _round;

        public byte[] For(int node)
        {
            var current = Volatile.Read(ref _current);
            return current[(int)((node + Volatile.Read(ref _round)) % Variants)];
        }

        public void Refresh()
        {
            var round = _round + 1;
            var now = TimeProvider.System.GetUtcNow();
            var next = new byte[Variants][];
            for (var v = 0; v < Variants; v++)
            {
                var summaries = new GpuSummary[gpus];
                var power = 0.0;
                for (var g = 0; g < gpus; g++)
                {
                    var utilization = ((round * 7) + (v * 13) + (g * 29)) % 100 / 100.0;
                    var watts = Math.Round(90 + (600 * utilization));
                    power += watts;
                    summaries[g] = new GpuSummary
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

                next[v] = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(new HeartbeatRequest
                {
                    Summary = new NodeSummary
                    {
                        SampledAt = now,
                        CpuUtilization = 0.25,
                        MemoryUsedBytes = 256 * GiB,
                        MemoryTotalBytes = 1024 * GiB,
                        PowerWatts = power + 400,
                        Simulated = true,
                        Gpus = summaries,
                    },
                }, GantryJson.Default.HeartbeatRequest);
            }

            Volatile.Write(ref _current, next);
            Volatile.Write(ref _round, round);
        }

        public int Length => Volatile.Read(ref _current) is { Length: > 0 } c ? c[0].Length : 0;
    }
}
