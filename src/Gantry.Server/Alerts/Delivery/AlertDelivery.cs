using System.Collections.Concurrent;
using System.Globalization;
using System.Net.Http.Headers;
using System.Reflection;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Configuration;
using Gantry.Server.Live;
using Gantry.Server.Storage;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Alerts.Delivery;

/// <summary>Limits of <see cref="AlertDelivery"/>; tests shorten them.</summary>
internal sealed record DeliveryTuning
{
    /// <summary>The defaults.</summary>
    public static DeliveryTuning Default { get; } = new();

    /// <summary>Notifications kept undelivered; past it the oldest Alertmanager re-sends go first.</summary>
    public int MaxEntries { get; init; } = 10_000;

    /// <summary>The wait after a first failed attempt; it doubles with each further one (with jitter).</summary>
    public TimeSpan FirstRetry { get; init; } = TimeSpan.FromSeconds(1);

    /// <summary>The longest wait between two attempts.</summary>
    public TimeSpan MaxRetry { get; init; } = TimeSpan.FromMinutes(5);

    /// <summary>How long one POST may take, answer included.</summary>
    public TimeSpan RequestTimeout { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>The wait before a store write that failed is tried again.</summary>
    public TimeSpan StoreRetry { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>
/// Delivers alerts to Alertmanager (<c>POST /api/v2/alerts</c>) and webhooks (Alertmanager's webhook
/// payload, version 4, signed: <see cref="WebhookSignature"/>), at least once and across restarts.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="Publish"/> turns notices into outbox entries, one per receiver: for each Alertmanager
/// one entry carrying every notice; for each webhook one entry per alert name carrying the notices
/// that report a change (webhooks are not sent re-sends). Each entry is stored (alert document of kind
/// <see cref="DocumentKind"/>) before Publish returns; a store that is down leaves it in memory, and
/// the write is retried every <see cref="DeliveryTuning.StoreRetry"/> until it lands, so nothing is lost
/// while the process lives.
/// </para>
/// <para>
/// <see cref="RunAsync"/> (leader only) posts entries; per receiver URL strictly oldest first, so a
/// resolve never overtakes the firing it ends, receivers independently of each other. A 2xx deletes
/// the entry; a network error, a timeout, a 408, 429 or 5xx keeps it at the head of its receiver's
/// queue and retries with exponential backoff and jitter (<see cref="DeliveryTuning.FirstRetry"/>
/// doubling up to <see cref="DeliveryTuning.MaxRetry"/>, or a longer <c>Retry-After</c>); any other
/// answer (a 4xx: the receiver refuses the payload and always will) drops it with a warning.
/// </para>
/// <para>
/// Coalescing: a new Alertmanager entry replaces an older undelivered one for the same URL when it
/// carries every alert the older one carried (Alertmanager keeps the latest state per alert, so
/// nothing is lost). The outbox holds at most <see cref="DeliveryTuning.MaxEntries"/> entries; past
/// it the oldest entry that only re-sends firing alerts to Alertmanager is dropped first, then the
/// oldest entry of any kind, each counted in <see cref="Dropped"/>.
/// </para>
/// <para>
/// Threading: Publish and the loop share one lock; store writes happen under it (so memory and store
/// change in the same order), HTTP requests outside it. The counters are read without it.
/// </para>
/// </remarks>
internal sealed partial class AlertDelivery : IAlertSink, IDisposable
{
    /// <summary>The alert documents' kind of an undelivered notification.</summary>
    public const string DocumentKind = "notification";

    /// <summary><see cref="OutboxDocument.Kind"/> of an Alertmanager post.</summary>
    public const string AlertmanagerKind = "alertmanager";

    /// <summary><see cref="OutboxDocument.Kind"/> of a webhook post.</summary>
    public const string WebhookKind = "webhook";

    /// <summary>A firing alert's <c>endsAt</c> in a webhook payload, as Alertmanager sends it: Go's zero time.</summary>
    public static readonly DateTimeOffset FiringEndsAt = DateTimeOffset.MinValue;

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    private static readonly string UserAgent = "Gantry/" + (typeof(AlertDelivery).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown");

    private readonly Lock _gate = new();
    private readonly SortedDictionary<ulong, Entry> _outbox = [];
    private readonly Dictionary<string, Lane> _lanes = new(StringComparer.Ordinal);
    private readonly HashSet<Entry> _dirty = [];
    private readonly HashSet<string> _pendingDeletes = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _lastErrors = new(StringComparer.Ordinal);
    private readonly Signal _wake = new();
    private readonly IStateStore _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly DeliveryTuning _tuning;
    private readonly HttpClient _http;
    private readonly string[] _alertmanagers;
    private readonly string[] _webhooks;
    private readonly string? _secret;
    private readonly string _externalUrl;

    private ulong _lastId;
    private DateTimeOffset _storeRetryAt = DateTimeOffset.MinValue;
    private bool _storeFailing;
    private bool _overflowing;
    private int _running;
    private int _queued;
    private long _sent;
    private long _failedAttempts;
    private long _dropped;

    /// <summary>Delivery to <see cref="ServerOptions.Alertmanagers"/> and <see cref="ServerOptions.AlertWebhooks"/>, with the undelivered notifications of <paramref name="state"/>.</summary>
    public AlertDelivery(IStateStore store, StoredState state, ServerOptions options, TimeProvider time, ILogger<AlertDelivery> logger)
        : this(store, state, options, time, logger, DeliveryTuning.Default, handler: null)
    {
    }

    /// <summary>As the public constructor, with other limits and, when given, <paramref name="handler"/> for the requests (not disposed here).</summary>
    internal AlertDelivery(IStateStore store, StoredState state, ServerOptions options, TimeProvider time, ILogger<AlertDelivery> logger, DeliveryTuning tuning, HttpMessageHandler? handler)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(time);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(tuning);
        ArgumentOutOfRangeException.ThrowIfLessThan(tuning.MaxEntries, 1);
        _store = store;
        _time = time;
        _logger = logger;
        _tuning = tuning;
        _alertmanagers = [.. options.Alertmanagers.Select(u => u.AbsoluteUri).Distinct(StringComparer.Ordinal)];
        _webhooks = [.. options.AlertWebhooks.Select(u => u.AbsoluteUri).Distinct(StringComparer.Ordinal)];
        _secret = string.IsNullOrEmpty(options.AlertWebhookSecret) ? null : options.AlertWebhookSecret;
        _externalUrl = (options.ExternalUrl ?? options.AdvertiseUrl ?? options.Scheme + "://" + options.Listen).TrimEnd('/');

        // Redirects are not followed: a POST redirected becomes a GET, and a moved receiver is a setting to fix.
        _http = handler is null
            ? new HttpClient(new SocketsHttpHandler { AllowAutoRedirect = false, PooledConnectionLifetime = TimeSpan.FromMinutes(5) }, disposeHandler: true)
            : new HttpClient(handler, disposeHandler: false);
        _http.Timeout = tuning.RequestTimeout;
        _http.DefaultRequestHeaders.TryAddWithoutValidation("User-Agent", UserAgent);

        Load(state);
    }

    /// <summary>Notifications waiting to be delivered.</summary>
    public int Queued => Volatile.Read(ref _queued);

    /// <summary>Notifications a receiver accepted (2xx), since start.</summary>
    public long Sent => Interlocked.Read(ref _sent);

    /// <summary>Attempts that failed and will be retried (network error, timeout, 408, 429, 5xx), since start.</summary>
    public long Failed => Interlocked.Read(ref _failedAttempts);

    /// <summary>Notifications given up: refused by their receiver (a 4xx) or pushed out of a full outbox, since start.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// The last failure per receiver (its URL as configured) whose latest attempt failed: "HTTP 503
    /// Service Unavailable", "Connection refused (host:9093)"; a receiver leaves it once a post succeeds.
    /// </summary>
    public IReadOnlyDictionary<string, string> LastErrors => _lastErrors;

    /// <inheritdoc/>
    public void Publish(IReadOnlyList<AlertNotice> notices, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(notices);
        if (notices.Count == 0 || (_alertmanagers.Length == 0 && _webhooks.Length == 0))
        {
            return;
        }

        // The payloads are built outside the lock: they depend on the notices alone.
        var created = new List<Entry>();
        if (_alertmanagers.Length > 0)
        {
            var body = JsonSerializer.SerializeToUtf8Bytes(ToPostable(notices), DeliveryJson.Default.ListPostableAlert);
            var fingerprints = notices.Select(n => n.Fingerprint).Distinct(StringComparer.Ordinal).ToArray();
            var resend = !notices.Any(n => n.Changed);
            foreach (var receiver in _alertmanagers)
            {
                created.Add(new Entry
                {
                    Kind = AlertmanagerKind,
                    Receiver = receiver,
                    Url = receiver.TrimEnd('/') + "/api/v2/alerts",
                    Body = body,
                    Alerts = fingerprints,
                    Resend = resend,
                    QueuedAt = now,
                    NextAttemptAt = now,
                });
            }
        }

        if (_webhooks.Length > 0)
        {
            foreach (var group in GroupChanges(notices))
            {
                var body = JsonSerializer.SerializeToUtf8Bytes(ToWebhook(group), DeliveryJson.Default.WebhookMessage);
                var fingerprints = group.Select(n => n.Fingerprint).Distinct(StringComparer.Ordinal).ToArray();
                foreach (var receiver in _webhooks)
                {
                    created.Add(new Entry
                    {
                        Kind = WebhookKind,
                        Receiver = receiver,
                        Url = receiver,
                        Body = body,
                        Alerts = fingerprints,
                        QueuedAt = now,
                        NextAttemptAt = now,
                    });
                }
            }
        }

        if (created.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            foreach (var entry in created)
            {
                entry.Id = NextId(now);
                if (entry.Kind == AlertmanagerKind)
                {
                    Coalesce(entry);
                }

                Add(entry);
                _dirty.Add(entry);
            }

            Bound();
            FlushStore(now);
            Volatile.Write(ref _queued, _outbox.Count);
        }

        _wake.Pulse();
    }

    /// <summary>
    /// Posts due notifications until <paramref name="cancellationToken"/> fires; wakes at once on
    /// <see cref="Publish"/>, otherwise when the next retry falls due. Run on the leader only, one at a time.
    /// </summary>
    public async Task RunAsync(CancellationToken cancellationToken)
    {
        if (Interlocked.Exchange(ref _running, 1) == 1)
        {
            throw new InvalidOperationException("alert delivery is already running");
        }

        var sending = new List<Task>();
        try
        {
            while (!cancellationToken.IsCancellationRequested)
            {
                // Taken before the outbox is looked at: a Publish or a finished post after the look still wakes the wait.
                var wake = _wake.Next;
                TimeSpan wait;
                try
                {
                    var now = _time.GetUtcNow();
                    List<Entry> due;
                    lock (_gate)
                    {
                        if (now >= _storeRetryAt)
                        {
                            FlushStore(now);
                        }

                        due = TakeDue(now);
                        wait = NextWake(now);
                    }

                    sending.RemoveAll(t => t.IsCompleted);
                    foreach (var entry in due)
                    {
                        sending.Add(SendAsync(entry, cancellationToken));
                    }
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    Log.LoopFailed(_logger, ex);
                    wait = TimeSpan.FromSeconds(1);
                }

                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
                await Task.WhenAny(wake, Task.Delay(wait, _time, stop.Token)).ConfigureAwait(false);
                await stop.CancelAsync().ConfigureAwait(false);
            }
        }
        finally
        {
            // The posts in flight see the cancellation and leave their entries queued.
            await Task.WhenAll(sending).ConfigureAwait(false);
            Volatile.Write(ref _running, 0);
        }
    }

    /// <summary>Closes the HTTP client; stop <see cref="RunAsync"/> first.</summary>
    public void Dispose() => _http.Dispose();

    private void Load(StoredState state)
    {
        var now = _time.GetUtcNow();
        var loaded = new List<Entry>();
        var unconfigured = 0;
        foreach (var document in state.AlertDocuments)
        {
            if (document.Kind != DocumentKind)
            {
                continue;
            }

            if (!ulong.TryParse(document.Id, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var id))
            {
                Log.UnreadableNotification(_logger, document.Id, "its id is not the outbox's");
                _pendingDeletes.Add(document.Id);
                continue;
            }

            OutboxDocument? stored;
            try
            {
                stored = JsonSerializer.Deserialize(document.Body, DeliveryJson.Default.OutboxDocument);
            }
            catch (Exception ex) when (ex is JsonException or FormatException)
            {
                Log.UnreadableNotification(_logger, document.Id, ex.Message);
                _pendingDeletes.Add(document.Id);
                continue;
            }

            _lastId = Math.Max(_lastId, id);
            var receivers = stored?.Kind switch
            {
                AlertmanagerKind => _alertmanagers,
                WebhookKind => _webhooks,
                _ => [],
            };
            if (stored is null || !receivers.Contains(stored.Receiver, StringComparer.Ordinal))
            {
                // The receiver is no longer configured (or the document is not one of ours): nothing to send it to.
                unconfigured++;
                _pendingDeletes.Add(document.Id);
                continue;
            }

            loaded.Add(new Entry
            {
                Id = id,
                Kind = stored.Kind,
                Receiver = stored.Receiver,
                Url = stored.Url,
                Body = Encoding.UTF8.GetBytes(stored.Payload.GetRawText()),
                Alerts = [.. stored.Alerts],
                Resend = stored.Resend,
                QueuedAt = stored.QueuedAt,
                Attempts = stored.Attempts,
                LastError = stored.LastError,
                // After a restart every receiver gets a fresh first try.
                NextAttemptAt = now,
                Stored = true,
            });
        }

        loaded.Sort((a, b) => a.Id.CompareTo(b.Id));
        foreach (var entry in loaded)
        {
            Add(entry);
        }

        Volatile.Write(ref _queued, _outbox.Count);
        if (loaded.Count > 0)
        {
            Log.Loaded(_logger, loaded.Count);
        }

        if (unconfigured > 0)
        {
            Log.Unconfigured(_logger, unconfigured);
        }
    }

    /// <summary>A sortable unique id: microseconds since the epoch, bumped past the last one handed out (16 hex digits).</summary>
    private ulong NextId(DateTimeOffset now)
    {
        var micros = (ulong)Math.Max(0, (now - DateTimeOffset.UnixEpoch).Ticks / 10);
        _lastId = Math.Max(micros, _lastId + 1);
        return _lastId;
    }

    private void Add(Entry entry)
    {
        if (!_lanes.TryGetValue(entry.Url, out var lane))
        {
            lane = new Lane();
            _lanes.Add(entry.Url, lane);
        }

        entry.Lane = lane;
        entry.Node = lane.Entries.AddLast(entry);
        _outbox.Add(entry.Id, entry);
    }

    private void Remove(Entry entry)
    {
        _outbox.Remove(entry.Id);
        entry.Lane.Entries.Remove(entry.Node!);
        _dirty.Remove(entry);
        if (entry.Stored)
        {
            _pendingDeletes.Add(entry.DocumentId);
        }
    }

    /// <summary>Drops the older undelivered Alertmanager entries of the same URL whose every alert <paramref name="newer"/> carries.</summary>
    private void Coalesce(Entry newer)
    {
        if (!_lanes.TryGetValue(newer.Url, out var lane) || lane.Entries.Count == 0)
        {
            return;
        }

        var carried = newer.Alerts.ToHashSet(StringComparer.Ordinal);
        for (var node = lane.Entries.First; node is not null;)
        {
            var older = node.Value;
            node = node.Next;
            if (older.Kind == AlertmanagerKind && !older.InFlight && older.Alerts.All(carried.Contains))
            {
                // The newer one takes over the older's standing: not a mere re-send if the older reported a change.
                newer.Resend &= older.Resend;
                Remove(older);
            }
        }
    }

    /// <summary>Keeps the outbox within <see cref="DeliveryTuning.MaxEntries"/>.</summary>
    private void Bound()
    {
        while (_outbox.Count > _tuning.MaxEntries)
        {
            Entry? victim = null;
            Entry? oldest = null;
            foreach (var entry in _outbox.Values)
            {
                if (entry.InFlight)
                {
                    continue;
                }

                oldest ??= entry;
                if (entry.Kind == AlertmanagerKind && entry.Resend)
                {
                    victim = entry;
                    break;
                }
            }

            victim ??= oldest;
            if (victim is null)
            {
                return;
            }

            Remove(victim);
            Interlocked.Increment(ref _dropped);
            if (!_overflowing)
            {
                _overflowing = true;
                Log.OutboxFull(_logger, _tuning.MaxEntries);
            }
        }
    }

    /// <summary>Stores what changed (new or retried entries) and deletes what went; under the lock.</summary>
    private void FlushStore(DateTimeOffset now)
    {
        if (_dirty.Count == 0 && _pendingDeletes.Count == 0)
        {
            return;
        }

        var puts = new List<(Entry Entry, string Body)>(_dirty.Count);
        foreach (var entry in _dirty)
        {
            puts.Add((entry, ToDocument(entry)));

            // From the first try on, its document is deleted when it goes: a write reported failed may
            // still have landed, and deleting a document that is not there does nothing.
            entry.Stored = true;
        }

        try
        {
            _store.Write(w =>
            {
                foreach (var (entry, body) in puts)
                {
                    w.PutAlertDocument(DocumentKind, entry.DocumentId, body, now);
                }

                foreach (var id in _pendingDeletes)
                {
                    w.DeleteAlertDocument(DocumentKind, id);
                }
            });
        }
        catch (Exception ex) when (StoreUnavailableException.Covers(ex))
        {
            _storeRetryAt = now + _tuning.StoreRetry;
            if (!_storeFailing)
            {
                _storeFailing = true;
                Log.StoreUnavailable(_logger, _outbox.Count, ex.GetBaseException().Message);
            }

            return;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Not a passing outage, but the notifications are still kept and the write retried.
            _storeRetryAt = now + _tuning.StoreRetry;
            _storeFailing = true;
            Log.StoreFailed(_logger, ex);
            return;
        }

        _dirty.Clear();
        _pendingDeletes.Clear();
        if (_storeFailing)
        {
            _storeFailing = false;
            Log.StoreBack(_logger);
        }
    }

    /// <summary>The head of every receiver's queue that is due and not being sent; marks them sent.</summary>
    private List<Entry> TakeDue(DateTimeOffset now)
    {
        var due = new List<Entry>();
        foreach (var lane in _lanes.Values)
        {
            if (!lane.Sending && lane.Entries.First?.Value is { } head && head.NextAttemptAt <= now)
            {
                lane.Sending = true;
                due.Add(head);
            }
        }

        return due;
    }

    /// <summary>How long the loop may sleep: until the next retry or store write falls due, a minute at most.</summary>
    private TimeSpan NextWake(DateTimeOffset now)
    {
        var next = now + TimeSpan.FromMinutes(1);
        foreach (var lane in _lanes.Values)
        {
            if (!lane.Sending && lane.Entries.First?.Value is { } head && head.NextAttemptAt < next)
            {
                next = head.NextAttemptAt;
            }
        }

        if ((_dirty.Count > 0 || _pendingDeletes.Count > 0) && _storeRetryAt < next)
        {
            next = _storeRetryAt;
        }

        return next > now ? next - now : TimeSpan.Zero;
    }

    private async Task SendAsync(Entry entry, CancellationToken cancellationToken)
    {
        // Off the loop's thread: a slow receiver never holds up another.
        await Task.Yield();
        Outcome outcome;
        string? error = null;
        TimeSpan? retryAfter = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Post, entry.Url) { Content = new ByteArrayContent(entry.Body) };
            request.Content.Headers.ContentType = Json;
            if (entry.Kind == WebhookKind && _secret is not null)
            {
                request.Headers.TryAddWithoutValidation(WebhookSignature.HeaderName, WebhookSignature.Sign(_secret, entry.Body, _time.GetUtcNow()));
            }

            using var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (response.IsSuccessStatusCode)
            {
                outcome = Outcome.Delivered;
            }
            else if (status is 408 or 429 or >= 500)
            {
                outcome = Outcome.Retry;
                error = $"HTTP {status.ToString(CultureInfo.InvariantCulture)} {response.ReasonPhrase}";
                retryAfter = RetryAfter(response.Headers.RetryAfter);
            }
            else
            {
                outcome = Outcome.Refused;
                var said = await ReadStartAsync(response.Content, cancellationToken).ConfigureAwait(false);
                error = $"HTTP {status.ToString(CultureInfo.InvariantCulture)} {response.ReasonPhrase}" + (said.Length > 0 ? ": " + said : "");
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            outcome = Outcome.Stopped;
        }
        catch (OperationCanceledException)
        {
            outcome = Outcome.Retry;
            error = $"no answer within {_tuning.RequestTimeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)}s";
        }
        catch (HttpRequestException ex)
        {
            outcome = Outcome.Retry;
            error = ex.Message;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.SendFailed(_logger, entry.Receiver, ex);
            outcome = Outcome.Retry;
            error = ex.Message;
        }

        try
        {
            Settle(entry, outcome, error, retryAfter);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Log.LoopFailed(_logger, ex);
        }
    }

    private void Settle(Entry entry, Outcome outcome, string? error, TimeSpan? retryAfter)
    {
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            entry.Lane.Sending = false;
            switch (outcome)
            {
                case Outcome.Delivered:
                    Remove(entry);
                    Interlocked.Increment(ref _sent);
                    _lastErrors.TryRemove(entry.Receiver, out _);
                    if (entry.Attempts > 0)
                    {
                        Log.Delivered(_logger, entry.Receiver, entry.Attempts);
                    }

                    break;
                case Outcome.Refused:
                    Remove(entry);
                    Interlocked.Increment(ref _dropped);
                    _lastErrors[entry.Receiver] = error!;
                    Log.Refused(_logger, entry.Receiver, error!);
                    break;
                case Outcome.Retry:
                    entry.Attempts++;
                    var delay = Backoff(entry.Attempts);
                    if (retryAfter is { } asked && asked > delay)
                    {
                        delay = asked < _tuning.MaxRetry ? asked : _tuning.MaxRetry;
                    }

                    entry.NextAttemptAt = now + delay;
                    entry.LastError = error;
                    _dirty.Add(entry);
                    Interlocked.Increment(ref _failedAttempts);
                    _lastErrors[entry.Receiver] = error!;
                    Log.Failed(_logger, entry.Receiver, entry.Attempts, delay, error!);
                    break;
                default:
                    break;
            }

            FlushStore(now);
            Volatile.Write(ref _queued, _outbox.Count);
            if (_outbox.Count <= _tuning.MaxEntries / 2)
            {
                _overflowing = false;
            }
        }

        _wake.Pulse();
    }

    /// <summary>The wait after <paramref name="attempts"/> failed attempts: the doubled delay, its upper half drawn at random.</summary>
    private TimeSpan Backoff(int attempts)
    {
        var ceiling = Math.Min(_tuning.MaxRetry.Ticks, _tuning.FirstRetry.Ticks * Math.Pow(2, Math.Min(attempts - 1, 30)));
        var fraction = 0.5 + (RandomNumberGenerator.GetInt32(1_000_000) / 2_000_000.0);
        return TimeSpan.FromTicks((long)(ceiling * fraction));
    }

    private TimeSpan? RetryAfter(RetryConditionHeaderValue? header) => header switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - _time.GetUtcNow(),
        _ => null,
    };

    /// <summary>The start of a refusal's body, for the log (Alertmanager says what it did not like).</summary>
    private static async Task<string> ReadStartAsync(HttpContent content, CancellationToken cancellationToken)
    {
        var buffer = new byte[512];
        var stream = await content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
        await using (stream.ConfigureAwait(false))
        {
            var read = await stream.ReadAtLeastAsync(buffer, buffer.Length, throwOnEndOfStream: false, cancellationToken).ConfigureAwait(false);
            return Encoding.UTF8.GetString(buffer, 0, read).Trim();
        }
    }

    private static List<PostableAlert> ToPostable(IReadOnlyList<AlertNotice> notices)
    {
        var alerts = new List<PostableAlert>(notices.Count);
        foreach (var notice in notices)
        {
            alerts.Add(new PostableAlert
            {
                Labels = notice.Labels.ToDictionary(),
                Annotations = notice.Annotations,
                StartsAt = notice.StartsAt,
                EndsAt = notice.EndsAt,
                GeneratorUrl = notice.GeneratorUrl,
            });
        }

        return alerts;
    }

    /// <summary>The notices that report a change, by alert name in the order the names first appear.</summary>
    private static List<List<AlertNotice>> GroupChanges(IReadOnlyList<AlertNotice> notices)
    {
        var groups = new List<List<AlertNotice>>();
        var byName = new Dictionary<string, List<AlertNotice>>(StringComparer.Ordinal);
        foreach (var notice in notices)
        {
            if (!notice.Changed)
            {
                continue;
            }

            var name = notice.Labels.Get("alertname");
            if (!byName.TryGetValue(name, out var group))
            {
                group = [];
                byName.Add(name, group);
                groups.Add(group);
            }

            group.Add(notice);
        }

        return groups;
    }

    private WebhookMessage ToWebhook(List<AlertNotice> group)
    {
        var name = group[0].Labels.Get("alertname");
        var alerts = new List<WebhookAlert>(group.Count);
        var firing = false;
        foreach (var notice in group)
        {
            firing |= !notice.Resolved;
            alerts.Add(new WebhookAlert
            {
                Status = notice.Resolved ? "resolved" : "firing",
                Labels = notice.Labels.ToDictionary(),
                Annotations = notice.Annotations,
                StartsAt = notice.StartsAt,
                EndsAt = notice.Resolved ? notice.EndsAt : FiringEndsAt,
                GeneratorUrl = notice.GeneratorUrl,
                Fingerprint = notice.Fingerprint,
            });
        }

        return new WebhookMessage
        {
            // Alertmanager's group key: the route ("{}" for the root) and the group's labels.
            GroupKey = "{}:" + LabelSet.Of("alertname", name),
            Status = firing ? "firing" : "resolved",
            GroupLabels = new Dictionary<string, string>(StringComparer.Ordinal) { ["alertname"] = name },
            CommonLabels = Common(alerts, a => a.Labels),
            CommonAnnotations = Common(alerts, a => a.Annotations),
            ExternalUrl = _externalUrl,
            Alerts = alerts,
        };
    }

    /// <summary>The pairs every alert has (same name, same value).</summary>
    private static Dictionary<string, string> Common(List<WebhookAlert> alerts, Func<WebhookAlert, IReadOnlyDictionary<string, string>> pairs)
    {
        var common = new Dictionary<string, string>(pairs(alerts[0]), StringComparer.Ordinal);
        for (var i = 1; i < alerts.Count && common.Count > 0; i++)
        {
            var other = pairs(alerts[i]);
            foreach (var (name, value) in common.ToList())
            {
                if (!other.TryGetValue(name, out var otherValue) || !string.Equals(value, otherValue, StringComparison.Ordinal))
                {
                    common.Remove(name);
                }
            }
        }

        return common;
    }

    private static string ToDocument(Entry entry)
    {
        using var payload = JsonDocument.Parse(entry.Body);
        return JsonSerializer.Serialize(
            new OutboxDocument
            {
                Kind = entry.Kind,
                Receiver = entry.Receiver,
                Url = entry.Url,
                Alerts = entry.Alerts,
                Resend = entry.Resend,
                Attempts = entry.Attempts,
                QueuedAt = entry.QueuedAt,
                NextAttemptAt = entry.NextAttemptAt,
                LastError = entry.LastError,
                Payload = payload.RootElement,
            },
            DeliveryJson.Default.OutboxDocument);
    }

    private enum Outcome
    {
        Delivered,
        Retry,
        Refused,
        Stopped,
    }

    /// <summary>One receiver URL's entries, oldest first; only the head is ever being sent.</summary>
    private sealed class Lane
    {
        public LinkedList<Entry> Entries { get; } = new();

        public bool Sending { get; set; }
    }

    /// <summary>An outbox entry: one POST to one receiver. Mutable fields change under the delivery's lock.</summary>
    private sealed class Entry
    {
        public ulong Id { get; set; }

        public string DocumentId => Id.ToString("x16", CultureInfo.InvariantCulture);

        public required string Kind { get; init; }

        public required string Receiver { get; init; }

        public required string Url { get; init; }

        public required byte[] Body { get; init; }

        public required string[] Alerts { get; init; }

        public bool Resend { get; set; }

        public required DateTimeOffset QueuedAt { get; init; }

        public int Attempts { get; set; }

        public DateTimeOffset NextAttemptAt { get; set; }

        public string? LastError { get; set; }

        /// <summary>It was (or may have been) written to the store: its document is deleted when it goes.</summary>
        public bool Stored { get; set; }

        public Lane Lane { get; set; } = null!;

        public LinkedListNode<Entry>? Node { get; set; }

        /// <summary>Being posted right now: the head of a lane that is sending.</summary>
        public bool InFlight => Lane.Sending && ReferenceEquals(Lane.Entries.First, Node);
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2650, Level = LogLevel.Warning, Message = "Alert notification to {Receiver} failed (attempt {Attempt}), retrying in {Delay}: {Reason}")]
        public static partial void Failed(ILogger logger, string receiver, int attempt, TimeSpan delay, string reason);

        [LoggerMessage(EventId = 2651, Level = LogLevel.Warning, Message = "{Receiver} refused an alert notification, which is dropped: {Reason}")]
        public static partial void Refused(ILogger logger, string receiver, string reason);

        [LoggerMessage(EventId = 2652, Level = LogLevel.Information, Message = "Alert notifications reach {Receiver} again (after {Attempts} failed attempts)")]
        public static partial void Delivered(ILogger logger, string receiver, int attempts);

        [LoggerMessage(EventId = 2653, Level = LogLevel.Warning, Message = "More than {Max} alert notifications are undelivered: the oldest are dropped (Alertmanager re-sends first)")]
        public static partial void OutboxFull(ILogger logger, int max);

        [LoggerMessage(EventId = 2654, Level = LogLevel.Warning, Message = "Undelivered alert notifications cannot be stored ({Reason}); the {Count} queued are kept in memory and the write is retried")]
        public static partial void StoreUnavailable(ILogger logger, int count, string reason);

        [LoggerMessage(EventId = 2655, Level = LogLevel.Error, Message = "Storing undelivered alert notifications failed; they are kept in memory and the write is retried")]
        public static partial void StoreFailed(ILogger logger, Exception exception);

        [LoggerMessage(EventId = 2656, Level = LogLevel.Information, Message = "Undelivered alert notifications are stored again")]
        public static partial void StoreBack(ILogger logger);

        [LoggerMessage(EventId = 2657, Level = LogLevel.Information, Message = "{Count} undelivered alert notifications loaded; sending them")]
        public static partial void Loaded(ILogger logger, int count);

        [LoggerMessage(EventId = 2658, Level = LogLevel.Information, Message = "{Count} stored alert notifications are for receivers no longer configured; deleting them")]
        public static partial void Unconfigured(ILogger logger, int count);

        [LoggerMessage(EventId = 2659, Level = LogLevel.Warning, Message = "Stored alert notification {Id} cannot be read and is deleted: {Reason}")]
        public static partial void UnreadableNotification(ILogger logger, string id, string reason);

        [LoggerMessage(EventId = 2660, Level = LogLevel.Error, Message = "Sending an alert notification to {Receiver} failed unexpectedly; retrying")]
        public static partial void SendFailed(ILogger logger, string receiver, Exception exception);

        [LoggerMessage(EventId = 2661, Level = LogLevel.Error, Message = "Alert delivery failed; going on")]
        public static partial void LoopFailed(ILogger logger, Exception exception);
    }
}
