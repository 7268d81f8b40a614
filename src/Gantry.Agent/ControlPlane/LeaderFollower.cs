using System.Buffers;
using System.Text.Json;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.ControlPlane;

/// <summary>
/// Which control-plane replica the agent talks to, and the newest leader it has heard from. Replicas
/// share one database and one of them leads: a standby answers <c>307</c> naming the leader, a
/// replica without a leader answers <c>503</c>, and a replica that lost leadership exits (its address
/// refuses connections). <see cref="ControlPlaneClient"/> sends every request to <see cref="Current"/>
/// and reports back: <see cref="Redirected"/> switches to the leader a standby named (listed or not),
/// <see cref="Failed"/> moves on to the next listed URL, round robin. Each switch happens once however
/// many loops saw the failure, and is logged once.
/// </summary>
/// <remarks>
/// Every answer that carries a leader epoch goes through <see cref="Accept"/>: the highest epoch seen
/// only rises, and an answer from a lower one (a replica that lost leadership and has not exited yet)
/// is not acted on. Epoch 0 is a server that runs alone and claims no epoch, so it is always accepted.
/// Thread-safe: the heartbeat, the assignments loop and every attempt's outbox pump share one; all
/// state is behind one lock held for a few assignments, never across I/O or logging.
/// </remarks>
internal sealed class LeaderFollower
{
    private readonly Lock _gate = new();
    private readonly Uri[] _servers;
    private readonly ILogger _logger;
    private Uri _current;

    // The listed URL the agent last used; Failed moves to the one after it (the current URL may be
    // a leader that is not listed).
    private int _position;
    private long _highestEpoch;
    private long _ignoredEpochLogged;
    private bool _reachable = true;

    // A switch for a failure was logged since the last answer: during an outage of every replica the
    // rounds go on quietly (at debug level) instead of repeating the same lines with each backoff.
    private bool _outageLogged;
    private byte[] _status;

    public LeaderFollower(IReadOnlyList<Uri> servers, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(servers);
        ArgumentOutOfRangeException.ThrowIfZero(servers.Count);
        _servers = [.. servers.Select(Normalize).Distinct()];
        _current = _servers[0];
        _logger = logger;
        _status = Render();
    }

    /// <summary>The configured URLs, in the order they are tried; each ends with a slash.</summary>
    public IReadOnlyList<Uri> Servers => _servers;

    /// <summary>How many URLs one round tries before the caller backs off: every listed one.</summary>
    public int RoundLength => _servers.Length;

    /// <summary>Where requests go now: a listed URL, or the leader a standby named.</summary>
    public Uri Current
    {
        get
        {
            lock (_gate)
            {
                return _current;
            }
        }
    }

    /// <summary>The highest leader epoch any answer carried; 0 when none did.</summary>
    public long LeaderEpoch => Interlocked.Read(ref _highestEpoch);

    /// <summary>
    /// This state as a JSON object for the agent's <c>/status</c>, rendered when it changes:
    /// <c>{"servers":["http://10.0.0.1:7070",…],"current":"http://10.0.0.2:7070","leaderEpoch":6,"reachable":true}</c>.
    /// </summary>
    public byte[] StatusJson => Volatile.Read(ref _status);

    /// <summary>A base URL with the trailing slash that relative API paths resolve under.</summary>
    public static Uri Normalize(Uri server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.AbsoluteUri.EndsWith('/') ? server : new Uri(server.AbsoluteUri + "/");
    }

    /// <summary><paramref name="server"/>, a standby, named <paramref name="leader"/>: requests go there from now on.</summary>
    public void Redirected(Uri server, Uri leader)
    {
        ArgumentNullException.ThrowIfNull(leader);
        leader = Normalize(leader);
        lock (_gate)
        {
            if (_current == leader)
            {
                return;
            }

            _current = leader;
            var listed = Array.IndexOf(_servers, leader);
            if (listed >= 0)
            {
                _position = listed;
            }

            _status = Render();
        }

        AgentLog.FollowingLeader(_logger, leader, server);
    }

    /// <summary>
    /// A request to <paramref name="server"/> failed in a way another replica may not (refused, reset,
    /// timed out, 503, an answer from an old leader): moves to the next listed URL unless another loop
    /// already moved on. Returns where to send next.
    /// </summary>
    public Uri Failed(Uri server, string reason)
    {
        Uri next;
        bool quiet;
        lock (_gate)
        {
            if (_current != server)
            {
                return _current;
            }

            _position = (_position + 1) % _servers.Length;
            next = _servers[_position];
            if (next == server)
            {
                // The only URL: nowhere else to go.
                return next;
            }

            _current = next;
            quiet = _outageLogged;
            _outageLogged = true;
            _status = Render();
        }

        AgentLog.SwitchingServer(_logger, quiet ? LogLevel.Debug : LogLevel.Information, server, reason, next);
        return next;
    }

    /// <summary>A replica answered (anything but a redirect or a failure above): the next outage is logged again.</summary>
    public void Answered()
    {
        if (Volatile.Read(ref _outageLogged))
        {
            lock (_gate)
            {
                _outageLogged = false;
            }
        }
    }

    /// <summary>
    /// Whether an answer from leader epoch <paramref name="epoch"/> may be acted on: not when a higher
    /// epoch was seen already (said once per epoch). A higher epoch becomes the one to beat.
    /// </summary>
    public bool Accept(long epoch, Uri server)
    {
        if (epoch <= 0)
        {
            return true;
        }

        long highest;
        lock (_gate)
        {
            highest = _highestEpoch;
            if (epoch < highest)
            {
                if (_ignoredEpochLogged == epoch)
                {
                    return false;
                }

                _ignoredEpochLogged = epoch;
            }
            else if (epoch > highest)
            {
                Interlocked.Exchange(ref _highestEpoch, epoch);
                _status = Render();
            }
        }

        if (epoch < highest)
        {
            AgentLog.StaleLeaderIgnored(_logger, server, epoch, highest);
            return false;
        }

        if (epoch > highest)
        {
            AgentLog.LeaderEpoch(_logger, epoch, server);
        }

        return true;
    }

    /// <summary>Whether the control plane answers, for <c>/status</c> (set by <see cref="ServerConnection"/>).</summary>
    public void SetReachable(bool reachable)
    {
        lock (_gate)
        {
            if (_reachable != reachable)
            {
                _reachable = reachable;
                _status = Render();
            }
        }
    }

    /// <summary>A base URL as people write it: without the trailing slash.</summary>
    public static string Display(Uri server)
    {
        ArgumentNullException.ThrowIfNull(server);
        return server.AbsoluteUri.TrimEnd('/');
    }

    // Under the lock (or in the constructor).
    private byte[] Render()
    {
        var buffer = new ArrayBufferWriter<byte>(256);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("servers"u8);
            foreach (var server in _servers)
            {
                json.WriteStringValue(Display(server));
            }

            json.WriteEndArray();
            json.WriteString("current"u8, Display(_current));
            json.WriteNumber("leaderEpoch"u8, _highestEpoch);
            json.WriteBoolean("reachable"u8, _reachable);
            json.WriteEndObject();
        }

        return buffer.WrittenSpan.ToArray();
    }
}
