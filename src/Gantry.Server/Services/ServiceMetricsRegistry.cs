using Gantry.Core.Protocol;
using Gantry.Server.Jobs;

namespace Gantry.Server.Services;

/// <summary>
/// Each live service's health and figures, fed by its agent's heartbeats (docs/service-health.md):
/// generated and prompt tokens per second from the deltas of vLLM's counters (a counter that went
/// down was reset: its new value is the increase), requests running and waiting as read, the GPU
/// power of its attempt from the energy figures the same heartbeat carries, and tokens per joule:
/// generated tokens over the GPU energy used while they were generated. A service keeps a short
/// history (<see cref="HistoryCapacity"/> points, one per heartbeat that brought new figures) for
/// the dashboard.
/// <para>
/// Work per heartbeat is O(reports) (the node's own service attempts), under one lock held for field
/// updates only. Entries are dropped by <see cref="Sweep"/> once their job is no longer live, so
/// memory is bounded by the live services; nothing here is stored: the figures are live ones.
/// </para>
/// </summary>
internal sealed class ServiceMetricsRegistry(TimeProvider time) : IServiceMetrics
{
    /// <summary>History points kept per service: 30 minutes at the default 5 s heartbeat.</summary>
    public const int HistoryCapacity = 360;

    /// <summary>The note of a service without a metrics endpoint (Ollama).</summary>
    public const string NoEndpointNote = "no metrics endpoint: measured by GPU energy alone";

    /// <summary>The longest message kept from an agent's report.</summary>
    private const int MaxMessageChars = 500;

    /// <summary>A service not reported for this long has no current figures (its attempt ended, its node went quiet).</summary>
    public static readonly TimeSpan StaleAfter = TimeSpan.FromMinutes(2);

    /// <summary>The shortest interval between two energy readings that power is figured over.</summary>
    public static readonly TimeSpan MinEnergyInterval = TimeSpan.FromSeconds(1);

    private readonly Lock _gate = new();
    private readonly Dictionary<long, Entry> _entries = [];

    /// <summary>Live services known.</summary>
    public int Count
    {
        get
        {
            lock (_gate)
            {
                return _entries.Count;
            }
        }
    }

    /// <summary>
    /// Takes one heartbeat's service reports (already checked to be the node's live attempts) with its
    /// attempts' energy figures.
    /// </summary>
    public void Observe(string nodeId, IReadOnlyList<ServiceAttemptView> reports, IReadOnlyList<AttemptEnergyReport>? energy)
    {
        ArgumentNullException.ThrowIfNull(nodeId);
        ArgumentNullException.ThrowIfNull(reports);
        var now = time.GetUtcNow();
        lock (_gate)
        {
            foreach (var view in reports)
            {
                var report = view.Report;
                if (!_entries.TryGetValue(report.JobId, out var entry))
                {
                    _entries[report.JobId] = entry = new Entry(report.JobId);
                }

                entry.Update(nodeId, view, EnergyOf(energy, report.JobId, report.Attempt), now);
            }
        }
    }

    /// <inheritdoc />
    public ServiceMetricsInfo? For(long jobId)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            return _entries.TryGetValue(jobId, out var entry) && now - entry.LastSeen <= StaleAfter ? entry.Info : null;
        }
    }

    /// <summary>One service as the dashboard, discovery and /metrics see it; null when unknown.</summary>
    public ServiceView? View(long jobId)
    {
        var now = time.GetUtcNow();
        lock (_gate)
        {
            return _entries.TryGetValue(jobId, out var entry) ? entry.ToView(now) : null;
        }
    }

    /// <summary>Every live service, by job id: copies of immutable parts taken under the lock (no I/O).</summary>
    /// <param name="views">Cleared and filled.</param>
    public void Views(List<ServiceView> views)
    {
        ArgumentNullException.ThrowIfNull(views);
        views.Clear();
        var now = time.GetUtcNow();
        lock (_gate)
        {
            views.EnsureCapacity(_entries.Count);
            foreach (var entry in _entries.Values)
            {
                views.Add(entry.ToView(now));
            }
        }

        views.Sort(static (a, b) => a.JobId.CompareTo(b.JobId));
    }

    /// <summary>A service's history, oldest first; empty when unknown.</summary>
    public ServicePoint[] History(long jobId)
    {
        lock (_gate)
        {
            return _entries.TryGetValue(jobId, out var entry) ? entry.HistoryCopy() : [];
        }
    }

    /// <summary>Drops the services whose job is no longer live (<paramref name="isLive"/>); returns how many. One pass over the live services.</summary>
    public int Sweep(Func<long, bool> isLive)
    {
        ArgumentNullException.ThrowIfNull(isLive);
        List<long> ids;
        lock (_gate)
        {
            ids = [.. _entries.Keys];
        }

        // Asked outside this lock: the job queue takes its own.
        var gone = new List<long>();
        foreach (var id in ids)
        {
            if (!isLive(id))
            {
                gone.Add(id);
            }
        }

        lock (_gate)
        {
            foreach (var id in gone)
            {
                _entries.Remove(id);
            }
        }

        return gone.Count;
    }

    /// <summary>Remembers the host of <paramref name="jobId"/>'s node as its agent advertises it (resolved by the caller, outside the lock).</summary>
    public void SetHost(long jobId, string nodeId, string host)
    {
        lock (_gate)
        {
            if (_entries.TryGetValue(jobId, out var entry) && entry.NodeId == nodeId)
            {
                entry.Host = host;
            }
        }
    }

    private static AttemptEnergyReport? EnergyOf(IReadOnlyList<AttemptEnergyReport>? energy, long jobId, int attempt)
    {
        if (energy is null)
        {
            return null;
        }

        // A node's attempts are few (at most one per GPU or so): a scan is cheaper than a dictionary.
        foreach (var e in energy)
        {
            if (e.JobId == jobId && e.Attempt == attempt)
            {
                return e;
            }
        }

        return null;
    }

    private static string? Trim(string? message) =>
        message is { Length: > MaxMessageChars } ? string.Concat(message.AsSpan(0, MaxMessageChars - 1), "…") : message;

    /// <summary>One service; every field guarded by the registry's lock.</summary>
    private sealed class Entry(long jobId)
    {
        private readonly ServicePoint[] _history = new ServicePoint[HistoryCapacity];
        private int _historyStart;
        private int _historyCount;

        // Counter baselines: the previous scrape and energy reading of the current attempt.
        private DateTimeOffset? _scrapedAt;
        private double? _generated;
        private double? _prompt;
        private DateTimeOffset? _energyAt;
        private double? _energy;

        // Tokens and joules since tokens per joule was last figured: the scrapes and the energy readings
        // come at their own times, so each is summed until both moved.
        private double _pendingTokens;
        private double _pendingJoules;
        private bool _pendingScrape;
        private bool _simulated;

        // The latest rates, carried over heartbeats that bring no new reading.
        private double? _generatedRate;
        private double? _promptRate;
        private double? _power;
        private double? _tokensPerJoule;

        public long JobId { get; } = jobId;
        public string NodeId { get; private set; } = "";
        public int Attempt { get; private set; }
        public string? Name { get; private set; }
        public ServiceSpec? Spec { get; private set; }
        public DateTimeOffset? StartedAt { get; private set; }
        public string? Host { get; set; }
        public ServiceHealth Health { get; private set; }
        public string? Message { get; private set; }
        public DateTimeOffset LastSeen { get; private set; }
        public ServiceMetricsInfo? Info { get; private set; }
        public double? RequestsRunning { get; private set; }
        public double? RequestsWaiting { get; private set; }

        public void Update(string nodeId, ServiceAttemptView view, AttemptEnergyReport? energy, DateTimeOffset now)
        {
            var report = view.Report;
            if (report.Attempt != Attempt || nodeId != NodeId)
            {
                // A new attempt (a restart, or a move to another node): its counters start over.
                Attempt = report.Attempt;
                if (nodeId != NodeId)
                {
                    Host = null;
                }

                NodeId = nodeId;
                _scrapedAt = _energyAt = null;
                _generated = _prompt = _energy = null;
                _pendingTokens = _pendingJoules = 0;
                _pendingScrape = false;
                _generatedRate = _promptRate = _power = _tokensPerJoule = null;
                _simulated = false;
            }

            Name = view.Name;
            Spec = view.Spec;
            StartedAt = view.StartedAt;
            Health = report.Health;
            Message = Trim(report.Message);
            LastSeen = now;
            var fresh = false;
            string? note = null;

            if (report.ScrapedAt is { } at && report.MetricsError is null)
            {
                if (at != _scrapedAt)
                {
                    if (_scrapedAt is { } before && at > before)
                    {
                        var seconds = (at - before).TotalSeconds;
                        if (report.GeneratedTokensTotal is { } generated && _generated is { } g0)
                        {
                            var increase = Increase(g0, generated);
                            _generatedRate = increase / seconds;
                            _pendingTokens += increase;
                            _pendingScrape = true;
                        }

                        if (report.PromptTokensTotal is { } prompt && _prompt is { } p0)
                        {
                            _promptRate = Increase(p0, prompt) / seconds;
                        }
                    }

                    _scrapedAt = at;
                    _generated = report.GeneratedTokensTotal;
                    _prompt = report.PromptTokensTotal;
                    fresh = true;
                }

                RequestsRunning = report.RequestsRunning;
                RequestsWaiting = report.RequestsWaiting;
            }
            else
            {
                // No endpoint, or a failed read: its figures are left out, never shown as 0.
                note = report.MetricsError is { } error ? Trim(error) : NoEndpointNote;
                _generatedRate = _promptRate = _tokensPerJoule = null;
                RequestsRunning = RequestsWaiting = null;
                _pendingTokens = 0;
                _pendingScrape = false;
            }

            // Two readings less than a second apart (the attempt's start reading and the first sample, say)
            // are not divided: a small slip between the counter's time and its timestamp would read as a
            // spike of kilowatts. The later reading waits for the next one instead.
            if (energy is not null && !(_energyAt is { } earlier && energy.MeasuredAt > earlier && energy.MeasuredAt - earlier < MinEnergyInterval))
            {
                if (_energyAt is { } before && energy.MeasuredAt > before && _energy is { } e0 && energy.GpuEnergyJoules >= e0)
                {
                    var joules = energy.GpuEnergyJoules - e0;
                    _power = joules / (energy.MeasuredAt - before).TotalSeconds;
                    _pendingJoules += joules;
                    fresh = true;
                }
                else if (_energyAt is null && energy.MeasuredAt - energy.Since >= MinEnergyInterval)
                {
                    _power = energy.AverageGpuPowerWatts;
                    fresh |= _power is not null;
                }

                _energyAt = energy.MeasuredAt;
                _energy = energy.GpuEnergyJoules;
                _simulated = energy.Simulated;
            }

            if (_pendingScrape && _pendingJoules > 0)
            {
                _tokensPerJoule = _pendingTokens / _pendingJoules;
                _pendingTokens = _pendingJoules = 0;
                _pendingScrape = false;
            }

            Info = new ServiceMetricsInfo
            {
                At = now,
                GeneratedTokensPerSecond = _generatedRate,
                PromptTokensPerSecond = _promptRate,
                RequestsRunning = RequestsRunning,
                RequestsWaiting = RequestsWaiting,
                GpuPowerWatts = _power,
                TokensPerJoule = _tokensPerJoule,
                Note = note,
                Simulated = _simulated ? true : null,
            };

            if (fresh)
            {
                Add(new ServicePoint(now, _generatedRate, _power, _tokensPerJoule, Health));
            }
        }

        public ServicePoint[] HistoryCopy()
        {
            var copy = new ServicePoint[_historyCount];
            for (var i = 0; i < _historyCount; i++)
            {
                copy[i] = _history[(_historyStart + i) % HistoryCapacity];
            }

            return copy;
        }

        public ServiceView ToView(DateTimeOffset now) => new(
            JobId,
            Name,
            NodeId,
            Attempt,
            Host,
            Spec?.Port ?? Spec?.Health?.Port,
            Spec?.MetricsPath,
            Health,
            Message,
            now - LastSeen <= StaleAfter ? Info : null,
            LastSeen,
            StartedAt);

        /// <summary>A counter's increase: a counter lower than before was reset, and its value is all new.</summary>
        private static double Increase(double before, double now) => now >= before ? now - before : now;

        private void Add(ServicePoint point)
        {
            if (_historyCount < HistoryCapacity)
            {
                _history[(_historyStart + _historyCount++) % HistoryCapacity] = point;
            }
            else
            {
                _history[_historyStart] = point;
                _historyStart = (_historyStart + 1) % HistoryCapacity;
            }
        }
    }
}

/// <summary>One point of a service's history.</summary>
internal readonly record struct ServicePoint(DateTimeOffset At, double? GeneratedTokensPerSecond, double? GpuPowerWatts, double? TokensPerJoule, ServiceHealth Health);

/// <summary>A service as the registry knows it (<see cref="ServiceMetricsRegistry.Views"/>).</summary>
/// <param name="JobId">The service's job.</param>
/// <param name="Name">The job's name.</param>
/// <param name="NodeId">The node its attempt runs on.</param>
/// <param name="Attempt">The attempt reported last.</param>
/// <param name="Host">The node's host as its agent advertises it; null until resolved.</param>
/// <param name="Port">The port it serves on; null when unknown.</param>
/// <param name="MetricsPath">Its metrics endpoint's path; null for none.</param>
/// <param name="Health">As its agent reported last.</param>
/// <param name="Message">Why (a failed check).</param>
/// <param name="Metrics">Its figures; null when stale or never measured.</param>
/// <param name="LastSeen">When its agent reported last.</param>
/// <param name="StartedAt">When its attempt started.</param>
internal sealed record ServiceView(
    long JobId,
    string? Name,
    string NodeId,
    int Attempt,
    string? Host,
    int? Port,
    string? MetricsPath,
    ServiceHealth Health,
    string? Message,
    ServiceMetricsInfo? Metrics,
    DateTimeOffset LastSeen,
    DateTimeOffset? StartedAt)
{
    /// <summary>The name people see: the job's name, else <c>job-ID</c>.</summary>
    public string DisplayName => Name ?? "job-" + JobId.ToString(System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>Its health as the API spells it (<c>starting</c>, <c>healthy</c>, …).</summary>
    public string HealthName => Health switch
    {
        ServiceHealth.Starting => "starting",
        ServiceHealth.Healthy => "healthy",
        ServiceHealth.Unhealthy => "unhealthy",
        _ => "restarting",
    };

    /// <summary>Restarts of its current run, as its attempt number tells (the services feature's count is the authority).</summary>
    public int Restarts => Math.Max(0, Attempt - 1);
}
