using System.Globalization;
using Gantry.Core.Carbon;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Server.Carbon;
using Gantry.Server.Storage;

namespace Gantry.Server.Jobs;

/// <summary>
/// Carbon-aware deferral (docs/carbon.md). A deferrable job (a deadline and an expected runtime)
/// submitted while a carbon forecast covers the locations its selector allows is planned by
/// <see cref="CarbonPlanner.Default"/> and held out of the pending queue until its planned start:
/// held keys sit in a set ordered by planned start, and each pass takes only those that are due
/// (<see cref="ReleaseDeferred"/>), so a pass never scans every held or pending job. A due job is
/// re-planned on the forecast then current (the planner keeps the plan unless the fresh forecast finds
/// a clearly better window) and either held again for a later start or queued. The planner never plans
/// later than deadline − expected runtime; with no forecast the job is queued at once.
/// <para>
/// The plan is stored with the job (its row's <c>planned_*</c> columns) whenever it is held or held
/// again, so a restarted server or a new leader holds it still (<see cref="Restore"/>). A queued job
/// keeps its plan's location: until deadline − expected runtime it is placed only on nodes there
/// (<see cref="PinOf"/>), then on any node its selector allows.
/// </para>
/// </summary>
internal sealed partial class JobQueue
{
    /// <summary>
    /// A held job is queued this long before its planned start: a scheduling pass runs at least once a
    /// second, so a job due between two passes is queued by the earlier one, never after its start.
    /// </summary>
    private static readonly TimeSpan ReleaseAhead = TimeSpan.FromSeconds(1);

    private readonly SortedSet<(DateTimeOffset Start, long Id)> _held = [];

    /// <summary>How many jobs (or arrays) are held for a cleaner window now.</summary>
    public int DeferredCount
    {
        get
        {
            lock (_lock)
            {
                return _held.Count;
            }
        }
    }

    /// <summary>
    /// The plan for a submission, made outside the queue's lock: null when it is not deferrable, no
    /// source is configured, no forecast covers it, or the best window is now.
    /// </summary>
    private CarbonPlan? PlanFor(JobSubmission spec, DateTimeOffset now)
    {
        if (spec.Deadline is not { } deadline || spec.ExpectedRuntimeSeconds is not { } seconds || Carbon is not { Configured: true } carbon)
        {
            return null;
        }

        var forecasts = ForecastsFor(carbon, spec.Selector);
        var plan = forecasts.Count == 0 ? null : CarbonPlanner.Default.Plan(now, deadline, TimeSpan.FromSeconds(seconds), forecasts);
        return plan is { } p && !p.RunsNow(now) ? p : null;
    }

    /// <summary>
    /// The forecasts of the locations a selector allows: its own <c>zone</c> when it names one, else
    /// those of the ready nodes that match it (one pass over the ready nodes, per deferrable
    /// submission and per re-plan, never per scheduling pass), else the server-wide location.
    /// </summary>
    private List<CarbonForecast> ForecastsFor(ICarbonIntensity carbon, IReadOnlyDictionary<string, string> selector)
    {
        var locations = new HashSet<string>(StringComparer.Ordinal);
        if (selector.ContainsKey("zone"))
        {
            if (carbon.LocationOf(selector) is { } pinned)
            {
                locations.Add(pinned);
            }
        }
        else
        {
            foreach (var node in _nodes.SchedulingNodes())
            {
                if (Matches(node.Labels, selector) && carbon.LocationOf(node.Labels) is { } location)
                {
                    locations.Add(location);
                }
            }

            if (locations.Count == 0 && carbon.LocationOf(selector) is { } fallback)
            {
                locations.Add(fallback);
            }
        }

        var forecasts = new List<CarbonForecast>(locations.Count);
        foreach (var location in locations)
        {
            if (carbon.Forecast(location) is { } forecast)
            {
                forecasts.Add(forecast);
            }
        }

        return forecasts;
    }

    private static bool Matches(IReadOnlyDictionary<string, string> labels, IReadOnlyDictionary<string, string> selector)
    {
        foreach (var (key, value) in selector)
        {
            if (!labels.TryGetValue(key, out var has) || has != value)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// Holds a pending job for its plan (under the lock), in place of adding it to the pending queue; the
    /// caller writes the job's row, which then carries the plan.
    /// </summary>
    private void Hold(JobRecord job, CarbonPlan plan)
    {
        _held.Add((plan.Start, job.Id));
        job.HeldPlan = plan;
        job.PlannedLocation = plan.Location;
    }

    /// <summary>
    /// At start: a pending job whose row carries a plan is held again, or queued when its planned start
    /// has come (it keeps its location, so the pin still holds). Under construction, before any pass.
    /// </summary>
    private void Restore(JobRecord job, JobRow row, DateTimeOffset now)
    {
        if (row.PlannedStart is { } start && row.PlannedLocation is { } location && start > now + ReleaseAhead)
        {
            // The "now" figure is read live for the wait reason; the planned one is what was stored.
            var grams = row.PlannedGramsPerKwh ?? 0;
            Hold(job, new CarbonPlan(start, location, grams, grams));
            return;
        }

        _pending.Add(job.Key);
    }

    /// <summary>
    /// Takes the held jobs whose planned start has come, re-plans each on the current forecast and
    /// queues it, or holds it again when the planner moves it later. Work is bounded by the jobs due.
    /// Returns how many were queued.
    /// </summary>
    public int ReleaseDeferred()
    {
        List<(JobRecord Job, CarbonPlan Plan)>? due = null;
        DateTimeOffset now;
        lock (_lock)
        {
            now = _time.GetUtcNow();
            while (_held.Count > 0 && _held.Min.Start <= now + ReleaseAhead)
            {
                var first = _held.Min;
                _held.Remove(first);
                if (_live.TryGetValue(first.Id, out var job) && job.HeldPlan is { } plan)
                {
                    (due ??= []).Add((job, plan));
                }
            }
        }

        if (due is null)
        {
            return 0;
        }

        // Re-plan outside the lock (the forecasts and the node list have their own).
        var replans = new CarbonPlan?[due.Count];
        for (var i = 0; i < due.Count; i++)
        {
            var (job, plan) = due[i];
            if (Carbon is { Configured: true } carbon && job.Spec.Deadline is { } deadline && job.Spec.ExpectedRuntimeSeconds is { } seconds)
            {
                var forecasts = ForecastsFor(carbon, job.Spec.Selector);
                replans[i] = forecasts.Count == 0 ? null : CarbonPlanner.Default.Replan(plan, now, deadline, TimeSpan.FromSeconds(seconds), forecasts);
            }
        }

        var queued = 0;
        lock (_lock)
        {
            var writes = new List<Action<IStateWriter>>(due.Count);
            for (var i = 0; i < due.Count; i++)
            {
                var job = due[i].Job;
                if (!StillPending(job.Key) || job.HeldPlan is null)
                {
                    continue; // cancelled while held
                }

                if (replans[i] is { } plan && plan.Start > now + ReleaseAhead)
                {
                    Hold(job, plan);
                }
                else
                {
                    // Queued: the start goes from its row, the location stays (the pin, PinOf).
                    job.HeldPlan = null;
                    _pending.Add(job.Key);
                    queued++;
                }

                var row = job.ToRow();
                writes.Add(w => w.UpdateJob(row));
            }

            Commit(writes);
        }

        if (queued > 0)
        {
            _signals.SchedulerWake.Pulse();
            _signals.Changed.Pulse();
        }

        return queued;
    }

    /// <summary>Drops a job's hold and plan (it was cancelled); the caller writes its row. Under the lock.</summary>
    private void Unhold(JobRecord job)
    {
        if (job.HeldPlan is { } plan)
        {
            _held.Remove((plan.Start, job.Id));
            job.HeldPlan = null;
        }

        job.PlannedLocation = null;
    }

    /// <summary>
    /// Whether a queued job's plan pins it to a location (<see cref="PinOf"/>): not when every node shares
    /// the server's one <c>--carbon-location</c> (the location of a node without labels), where a pin
    /// would change nothing. Asked once per pass.
    /// </summary>
    private bool Pinning() => Carbon is { Configured: true } carbon && carbon.LocationOf(NoLabels) is null;

    /// <summary>
    /// The pin of a queued job that was planned for a location: until its latest start (deadline −
    /// expected runtime) only nodes there may take it. Null for any other job, and from its latest start.
    /// </summary>
    private static LocationPin? PinOf(JobRecord job, DateTimeOffset now) =>
        job.PlannedLocation is { } location && job.Spec.Deadline is { } deadline && job.Spec.ExpectedRuntimeSeconds is { } seconds
            && deadline - TimeSpan.FromSeconds(seconds) is var until && now < until
            ? new LocationPin(location, until)
            : null;

    private bool StillPending(PendingKey key) =>
        _live.TryGetValue(key.Id, out var job) ? job.State == JobState.Pending && !job.CancelRequested : ArrayOf(key.Id) is { Remaining: > 0 };

    /// <summary>
    /// The wait reason of a held job, with figures read now: <c>deferred for carbon: now 312 g/kWh,
    /// planned 03:00 at 148 g/kWh</c>. Null when the job is not held. Under the lock.
    /// </summary>
    private string? HeldReason(JobRecord job)
    {
        if (job.HeldPlan is not { } plan)
        {
            return null;
        }

        var now = _time.GetUtcNow();
        var current = Carbon?.IntensityAt(plan.Location, now) ?? plan.NowGramsPerKwh;
        var at = plan.Start - now < TimeSpan.FromHours(24) ? plan.Start.UtcDateTime.ToString("HH:mm", CultureInfo.InvariantCulture) : plan.Start.UtcDateTime.ToString("yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
        return string.Create(CultureInfo.InvariantCulture, $"deferred for carbon: now {current:0} g/kWh, planned {at} at {plan.PlannedGramsPerKwh:0} g/kWh ({plan.Location}, UTC)");
    }

    /// <summary>When a held job is planned to start; null when it is not held. Under the lock.</summary>
    private DateTimeOffset? PlannedStartOf(long id) => _live.TryGetValue(id, out var job) ? job.HeldPlan?.Start : null;
}
