using System.Diagnostics;
using Gantry.Server.Configuration;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Leadership;

/// <summary>
/// Whether this replica leads. A server that runs alone leads from the start. Replicas sharing a
/// PostgreSQL store try for the lease every <see cref="RenewEvery"/>; the one that gets it loads the
/// state and serves, the others are standbys (they redirect clients to the leader and schedule
/// nothing). A leader that cannot renew for most of the lease, or finds another replica holding it,
/// steps down before the lease can pass to another and stops the process: it starts again as a
/// standby (systemd restarts it), with nothing of the old state in memory.
/// </summary>
internal sealed partial class Leadership : BackgroundService
{
    /// <summary>How often the leader renews the lease.</summary>
    internal static readonly TimeSpan RenewEvery = TimeSpan.FromSeconds(1);

    /// <summary>How often a standby tries for it: a dead leader's lease is taken within this of running out.</summary>
    internal static readonly TimeSpan TryEvery = TimeSpan.FromMilliseconds(500);

    private readonly ILeaderLease _lease;
    private readonly ServerOptions _options;
    private readonly IServer _server;
    private readonly IHostApplicationLifetime _lifetime;
    private readonly ILogger<Leadership> _logger;
    private readonly TaskCompletionSource _leader = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile bool _isLeader;
    private volatile string? _leaderUrl;
    private long _epoch;

    public Leadership(ILeaderLease lease, ServerOptions options, IServer server, IHostApplicationLifetime lifetime, ILogger<Leadership> logger)
    {
        _lease = lease;
        _options = options;
        _server = server;
        _lifetime = lifetime;
        _logger = logger;
        if (lease is SoleLease)
        {
            _isLeader = true;
            _leader.SetResult();
            _ready.SetResult();
        }
    }

    /// <summary>True while this replica leads (and has not stepped down).</summary>
    public bool IsLeader => _isLeader;

    /// <summary>True once this replica leads and has loaded the state: it serves.</summary>
    public bool IsReady => _isLeader && _ready.Task.IsCompleted;

    /// <summary>The leader's epoch while this replica leads (0 for a server that runs alone).</summary>
    public long Epoch => Interlocked.Read(ref _epoch);

    /// <summary>Where the leader is, as last seen; null when unknown.</summary>
    public string? LeaderUrl => _leaderUrl;

    /// <summary>True when this replica led and stepped down: the process ends with a failure code.</summary>
    public bool SteppedDown { get; private set; }

    /// <summary>Completes when this replica becomes the leader.</summary>
    public Task WhenLeader => _leader.Task;

    /// <summary>Completes when this replica leads and has loaded the state.</summary>
    public Task WhenReady => _ready.Task;

    /// <summary>The leader has loaded the state and serves.</summary>
    public void MarkReady() => _ready.TrySetResult();

    /// <summary>
    /// One try for the lease while the server starts, before it listens: a replica that finds the lease
    /// free leads at once (and a single server on PostgreSQL starts as one on SQLite does). Failing to
    /// reach the store here is not fatal: the loop goes on trying.
    /// </summary>
    public async Task TryLeadAtStartAsync(CancellationToken cancellationToken)
    {
        if (_lease is SoleLease || _isLeader)
        {
            return;
        }

        var url = _options.AdvertiseUrl?.TrimEnd('/') ?? _options.Scheme + "://" + _options.Listen;
        OwnUrl = url;
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(_options.LeaderLease);
            var state = await _lease.AcquireOrRenewAsync(url, timeout.Token).ConfigureAwait(false);
            if (state.IsLeader)
            {
                Interlocked.Exchange(ref _epoch, state.Epoch);
                _leaderUrl = url;
                _isLeader = true;
                Log.BecameLeader(_logger, state.Epoch, url);
                _leader.TrySetResult();
            }
            else
            {
                _leaderUrl = state.LeaderUrl;
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            Log.LeaseFailed(_logger, ex);
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (_lease is SoleLease)
        {
            return;
        }

        // The address others are sent to is known once Kestrel listens.
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using (_lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
        {
            await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
        }

        var url = AdvertiseUrl();
        OwnUrl = url;
        var lastRenewed = _isLeader ? Stopwatch.GetTimestamp() : 0L;
        var failing = false;
        while (true)
        {
            var attempt = Stopwatch.GetTimestamp();
            LeaseState? state = null;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken);
                timeout.CancelAfter(RenewEvery);
                state = await _lease.AcquireOrRenewAsync(url, timeout.Token).ConfigureAwait(false);
                if (failing)
                {
                    failing = false;
                    Log.LeaseBack(_logger);
                }
            }
            catch (Exception ex) when (!stoppingToken.IsCancellationRequested)
            {
                if (!failing)
                {
                    failing = true;
                    Log.LeaseFailed(_logger, ex);
                }
            }

            if (state is { IsLeader: true })
            {
                lastRenewed = attempt;
                if (!_isLeader)
                {
                    Interlocked.Exchange(ref _epoch, state.Epoch);
                    _leaderUrl = url;
                    _isLeader = true;
                    Log.BecameLeader(_logger, state.Epoch, url);
                    _leader.TrySetResult();
                }
            }
            else if (_isLeader && state is { IsLeader: false })
            {
                StepDown($"replica {state.LeaderUrl} holds the lease (epoch {state.Epoch})");
                return;
            }
            else if (_isLeader && Stopwatch.GetElapsedTime(lastRenewed) > _options.LeaderLease - StepDownMargin)
            {
                // Stop before the lease can run out and pass to another replica.
                StepDown($"the lease could not be renewed for {Stopwatch.GetElapsedTime(lastRenewed).TotalSeconds:0.0}s");
                return;
            }
            else if (state is { IsLeader: false } standby && standby.LeaderUrl != _leaderUrl)
            {
                _leaderUrl = standby.LeaderUrl;
                Log.Standby(_logger, standby.LeaderUrl ?? "none yet", standby.Epoch);
            }

            // The lease's own clock is the database's; these pauses only pace the calls, so real time.
            var pause = (_isLeader ? RenewEvery : TryEvery) - Stopwatch.GetElapsedTime(attempt);
            if (pause > TimeSpan.Zero)
            {
                await Task.Delay(pause, stoppingToken).ConfigureAwait(false);
            }
        }
    }

    /// <summary>A clean stop gives the lease up, so that another replica (or this one, restarted) takes over at once.</summary>
    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        if (_isLeader && _lease is not SoleLease)
        {
            _isLeader = false;
            try
            {
                using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                timeout.CancelAfter(TimeSpan.FromSeconds(2));
                await _lease.ReleaseAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                Log.LeaseFailed(_logger, ex);
            }
        }
    }

    /// <summary>This replica's own URL as it advertises it (what a lease row names when it leads).</summary>
    public string? OwnUrl { get; private set; }

    /// <summary>Time kept between stepping down and the lease running out.</summary>
    private TimeSpan StepDownMargin => _options.LeaderLease / 3;

    private void StepDown(string why)
    {
        _isLeader = false;
        SteppedDown = true;
        Log.SteppedDown(_logger, why);
        _lifetime.StopApplication();
    }

    /// <summary>This replica's URL as others reach it: <c>--advertise-url</c>, else the address Kestrel bound.</summary>
    public string AdvertiseUrl()
    {
        if (_options.AdvertiseUrl is { } given)
        {
            return given.TrimEnd('/');
        }

        var bound = _server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? _options.Scheme + "://" + _options.Listen;
        // 0.0.0.0 or [::] means every address: others need a name for this machine.
        return bound.Replace("://0.0.0.0:", "://" + Environment.MachineName + ":", StringComparison.Ordinal)
            .Replace("://[::]:", "://" + Environment.MachineName + ":", StringComparison.Ordinal)
            .TrimEnd('/');
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2400, Level = LogLevel.Warning, Message = "This replica leads now (epoch {Epoch}, {Url}); loading the state")]
        public static partial void BecameLeader(ILogger logger, long epoch, string url);

        [LoggerMessage(EventId = 2401, Level = LogLevel.Information, Message = "Standby: the leader is {Leader} (epoch {Epoch})")]
        public static partial void Standby(ILogger logger, string leader, long epoch);

        [LoggerMessage(EventId = 2402, Level = LogLevel.Critical, Message = "Stepping down as leader and stopping: {Why}")]
        public static partial void SteppedDown(ILogger logger, string why);

        [LoggerMessage(EventId = 2403, Level = LogLevel.Warning, Message = "Cannot reach the store for the leader lease")]
        public static partial void LeaseFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 2404, Level = LogLevel.Information, Message = "The store answers the leader lease again")]
        public static partial void LeaseBack(ILogger logger);
    }
}
