using System.Collections.Concurrent;
using System.Globalization;
using Gantry.Core.Carbon;
using Gantry.Server.Live;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Carbon;

/// <summary>
/// The server's carbon intensity over its <c>--carbon-source</c>: a cache of one forecast per location,
/// which readers (CO2e accounting per heartbeat, deferral, <c>/metrics</c>, the API) read without waiting.
/// A location is wanted from the first time it is asked about (<see cref="LocationOf"/> is asked on every
/// heartbeat, so the set grows as nodes in new zones register) and from the start for <c>--carbon-location</c>. Local sources (static, file) are computed on the reader's thread, from memory;
/// remote ones are fetched by <see cref="CarbonRefreshWorker"/> through <see cref="RefreshDueAsync"/>.
/// When a fetch fails, the last good forecast stays in use until it is <c>--carbon-max-age</c> old (or runs
/// out); then <see cref="Forecast"/> answers null and <see cref="Warnings"/> says so.
/// </summary>
internal sealed partial class CarbonIntensity : ICarbonIntensity
{
    /// <summary>The most locations kept: a fleet has a handful; a runaway label set must not grow memory.</summary>
    public const int MaxLocations = 1000;

    /// <summary>The first retry after a failure; doubled each time, up to <c>--carbon-refresh</c>.</summary>
    public static readonly TimeSpan FirstRetry = TimeSpan.FromSeconds(30);

    /// <summary>A location nothing asked about for this long is dropped (a node that left, a job's selector naming a zone no node is in).</summary>
    public static readonly TimeSpan ForgetAfter = TimeSpan.FromDays(1);

    private const int ParallelFetches = 4;

    private readonly ConcurrentDictionary<string, Entry> _entries = new(StringComparer.Ordinal);
    private readonly ICarbonSource _source;
    private readonly CarbonSourceSpec _spec;
    private readonly string? _fixedLocation;
    private readonly TimeSpan _refresh;
    private readonly TimeSpan _maxAge;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;

    public CarbonIntensity(CarbonSourceSpec spec, ICarbonSource source, string? fixedLocation, TimeSpan refresh, TimeSpan maxAge, TimeProvider time, ILogger<CarbonIntensity> logger)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(source);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        _spec = spec;
        _source = source;
        _fixedLocation = fixedLocation;
        _refresh = refresh;
        _maxAge = maxAge;
        _time = time;
        _logger = logger;
        if (fixedLocation is not null)
        {
            Want(fixedLocation);
        }
    }

    /// <summary>Pulsed when a location is wanted for the first time: the worker fetches it at once.</summary>
    public Signal NewLocation { get; } = new();

    /// <summary>The source as people see it (<c>watttime https://api.watttime.org/</c>).</summary>
    public string SourceName => _spec.Display;

    public bool Configured => true;

    public string? LocationOf(IReadOnlyDictionary<string, string> nodeLabels)
    {
        ArgumentNullException.ThrowIfNull(nodeLabels);
        if (_fixedLocation is not null)
        {
            return _fixedLocation;
        }

        if (!nodeLabels.TryGetValue("zone", out var zone) || string.IsNullOrWhiteSpace(zone))
        {
            return null;
        }

        // Every heartbeat asks (FleetEnergy): a location is wanted from its first node's first heartbeat.
        Want(zone);
        return zone;
    }

    public CarbonForecast? Forecast(string location)
    {
        ArgumentNullException.ThrowIfNull(location);
        if (Want(location) is not { } entry)
        {
            return null;
        }

        var now = _time.GetUtcNow();
        if (_source.Local)
        {
            return LocalForecast(entry, now);
        }

        var state = entry.State;
        return state.Good is { } good && Usable(good, state.FetchedAt, now) ? good : null;
    }

    public double? IntensityAt(string location, DateTimeOffset time) => Forecast(location)?.IntensityAt(time);

    public IReadOnlyList<string> Warnings
    {
        get
        {
            var now = _time.GetUtcNow();
            var warnings = new List<string>();
            foreach (var status in Locations(now))
            {
                if (status.Warning is { } warning)
                {
                    warnings.Add(warning);
                }
            }

            return warnings;
        }
    }

    /// <summary>Each wanted location's state, sorted by location: for <c>/api/v1/carbon</c>, <c>/metrics</c> and the warnings.</summary>
    public List<CarbonLocationStatus> Locations(DateTimeOffset now)
    {
        var list = new List<CarbonLocationStatus>(_entries.Count);
        foreach (var (location, entry) in _entries)
        {
            var forecast = _source.Local ? LocalForecast(entry, now) : null;
            var state = entry.State;
            var usable = forecast ?? (state.Good is { } good && Usable(good, state.FetchedAt, now) ? good : null);
            var fetchedAt = _source.Local ? forecast?.GeneratedAt : state.FetchedAt;
            string? warning = null;
            if (!_source.Local && state.Error is { } error)
            {
                warning = usable is not null
                    ? $"carbon: {_spec.Display} failing for {location} since {Clock(state.FailingSince!.Value)}: {error}; using the forecast fetched at {Clock(state.FetchedAt!.Value)} until {Clock(ExpiresAt(usable, state.FetchedAt!.Value))}"
                    : $"carbon: no usable forecast for {location} ({(state.Good is null ? "none fetched yet" : "the last one expired")}): {error}; jobs there are not deferred";
            }

            list.Add(new CarbonLocationStatus(
                location,
                _spec.Display,
                usable?.IntensityAt(now),
                usable?.End,
                fetchedAt,
                usable is null ? (state.Error is null ? "pending" : "expired") : state.Error is null ? "fresh" : "stale",
                warning));
        }

        list.Sort(static (a, b) => string.CompareOrdinal(a.Location, b.Location));
        return list;
    }

    /// <summary>When the next remote fetch is due; null when no location is wanted (or the source is local).</summary>
    public DateTimeOffset? NextDue()
    {
        if (_source.Local)
        {
            return null;
        }

        DateTimeOffset? next = null;
        foreach (var entry in _entries.Values)
        {
            if (next is null || entry.NextFetchAt < next)
            {
                next = entry.NextFetchAt;
            }
        }

        return next;
    }

    /// <summary>
    /// Fetches every location whose refresh is due, a few at a time; each fetch is bounded by the source's
    /// timeout and a failure only marks its location. Called by one worker at a time.
    /// </summary>
    public async Task RefreshDueAsync(CancellationToken cancellationToken)
    {
        var now = _time.GetUtcNow();
        var due = new List<(string Location, Entry Entry)>();
        foreach (var (location, entry) in _entries)
        {
            if (location != _fixedLocation && now - entry.LastAskedAt > ForgetAfter)
            {
                _entries.TryRemove(location, out _);
            }
            else if (!_source.Local && entry.NextFetchAt <= now)
            {
                due.Add((location, entry));
            }
        }

        await Parallel.ForEachAsync(
            due,
            new ParallelOptions { MaxDegreeOfParallelism = ParallelFetches, CancellationToken = cancellationToken },
            async (item, ct) => await FetchAsync(item.Location, item.Entry, ct).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private async Task FetchAsync(string location, Entry entry, CancellationToken cancellationToken)
    {
        var before = entry.State;
        string error;
        try
        {
            var forecast = await _source.FetchAsync(location, _time.GetUtcNow(), cancellationToken).ConfigureAwait(false);
            var at = _time.GetUtcNow();
            entry.State = new EntryState(forecast, at, null, null);
            entry.Failures = 0;
            entry.NextFetchAt = at + _refresh;
            entry.ExpiryLogged = false;
            if (before.Error is not null)
            {
                Log.Recovered(_logger, location, _spec.Display);
            }

            return;
        }
        catch (CarbonSourceException ex)
        {
            error = ex.Message;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            // A source's own bug must not stop refreshing the others: counted as a failure, with its stack logged.
            Log.FetchCrashed(_logger, location, ex);
            error = ex.Message;
        }

        var now = _time.GetUtcNow();
        entry.State = before with { Error = error, FailingSince = before.FailingSince ?? now };
        entry.Failures++;
        var retry = FirstRetry * Math.Pow(2, Math.Min(entry.Failures - 1, 16));
        entry.NextFetchAt = now + (retry < _refresh ? retry : _refresh);
        if (entry.Failures == 1)
        {
            if (before.Good is { } good && Usable(good, before.FetchedAt, now))
            {
                Log.FailingStale(_logger, location, error, Clock(ExpiresAt(good, before.FetchedAt!.Value)));
            }
            else
            {
                Log.FailingNone(_logger, location, error);
                entry.ExpiryLogged = true;
            }
        }
        else if (!entry.ExpiryLogged && !(before.Good is { } kept && Usable(kept, before.FetchedAt, now)))
        {
            entry.ExpiryLogged = true;
            Log.Expired(_logger, location, error);
        }
    }

    private Entry? Want(string location)
    {
        var now = _time.GetUtcNow();
        if (_entries.TryGetValue(location, out var entry))
        {
            entry.LastAskedAt = now;
            return entry;
        }

        if (_entries.Count >= MaxLocations || location.Length is 0 or > 200)
        {
            return null;
        }

        var added = false;
        entry = _entries.GetOrAdd(location, key =>
        {
            added = true;
            return new Entry(now) { Location = key };
        });
        if (added)
        {
            NewLocation.Pulse();
        }

        return entry;
    }

    // Static and file forecasts are cheap (about a hundred points from memory); one is kept until a
    // refresh period has passed, and recomputed by whichever reader comes then.
    private CarbonForecast LocalForecast(Entry entry, DateTimeOffset now)
    {
        var state = entry.State;
        if (state.Good is { } good && state.FetchedAt is { } at && now >= at && now - at < _refresh && now - at < TimeSpan.FromMinutes(10))
        {
            return good;
        }

        var computed = _source.FetchAsync(entry.Location, now, CancellationToken.None).GetAwaiter().GetResult();
        entry.State = new EntryState(computed, now, null, null);
        return computed;
    }

    private bool Usable(CarbonForecast forecast, DateTimeOffset? fetchedAt, DateTimeOffset now) =>
        fetchedAt is { } at && now - at <= _maxAge && forecast.End is { } end && now < end;

    private DateTimeOffset ExpiresAt(CarbonForecast forecast, DateTimeOffset fetchedAt)
    {
        var byAge = fetchedAt + _maxAge;
        return forecast.End is { } end && end < byAge ? end : byAge;
    }

    private static string Clock(DateTimeOffset time) => time.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture);

    /// <summary>What is known of one location; <see cref="State"/> is replaced whole, so readers see one consistent state.</summary>
    private sealed class Entry(DateTimeOffset wantedAt)
    {
        private volatile EntryState _state = EntryState.Empty;

        public required string Location { get; init; }

        public EntryState State
        {
            get => _state;
            set => _state = value;
        }

        // Written by every reader that asks (a long, atomic on 64-bit), read by the refresh pass.
        private long _lastAskedTicks = wantedAt.UtcTicks;

        public DateTimeOffset LastAskedAt
        {
            get => new(Volatile.Read(ref _lastAskedTicks), TimeSpan.Zero);
            set => Volatile.Write(ref _lastAskedTicks, value.UtcTicks);
        }

        // The worker's own, touched by one refresh pass at a time.
        public DateTimeOffset NextFetchAt { get; set; } = wantedAt;

        public int Failures { get; set; }

        public bool ExpiryLogged { get; set; }
    }

    private sealed record EntryState(CarbonForecast? Good, DateTimeOffset? FetchedAt, string? Error, DateTimeOffset? FailingSince)
    {
        public static readonly EntryState Empty = new(null, null, null, null);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2760, Level = LogLevel.Warning, Message = "Carbon forecast for {Location} failed: {Reason}; the last good forecast is used until {Until}")]
        public static partial void FailingStale(ILogger logger, string location, string reason, string until);

        [LoggerMessage(EventId = 2761, Level = LogLevel.Warning, Message = "Carbon forecast for {Location} failed: {Reason}; there is no usable forecast, so jobs there are not deferred")]
        public static partial void FailingNone(ILogger logger, string location, string reason);

        [LoggerMessage(EventId = 2762, Level = LogLevel.Warning, Message = "The last good carbon forecast for {Location} expired while the source still fails ({Reason}); jobs there are no longer deferred")]
        public static partial void Expired(ILogger logger, string location, string reason);

        [LoggerMessage(EventId = 2763, Level = LogLevel.Information, Message = "Carbon forecast for {Location} fetched again from {Source}")]
        public static partial void Recovered(ILogger logger, string location, string source);

        [LoggerMessage(EventId = 2764, Level = LogLevel.Error, Message = "Carbon forecast for {Location} failed unexpectedly; it is retried")]
        public static partial void FetchCrashed(ILogger logger, string location, Exception exception);
    }
}

/// <summary>One location's carbon state: what <c>/api/v1/carbon</c> lists and <c>/metrics</c> exports.</summary>
/// <param name="Location">The location (zone, region).</param>
/// <param name="Source">The source, as people see it.</param>
/// <param name="GramsPerKwh">The intensity in use now; null when there is no usable forecast.</param>
/// <param name="Horizon">Where the usable forecast ends.</param>
/// <param name="FetchedAt">When the forecast in use (or the last good one) was fetched or computed.</param>
/// <param name="State"><c>fresh</c>, <c>stale</c> (the source fails; the last good forecast is used), <c>expired</c> (it fails and nothing is usable) or <c>pending</c> (not fetched yet).</param>
/// <param name="Warning">What people should know, when something is wrong.</param>
internal sealed record CarbonLocationStatus(string Location, string Source, double? GramsPerKwh, DateTimeOffset? Horizon, DateTimeOffset? FetchedAt, string State, string? Warning);
