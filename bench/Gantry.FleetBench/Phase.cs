using System.Diagnostics;

namespace Gantry.FleetBench;

/// <summary>
/// What the heartbeats of one stretch of the run did. A heartbeat belongs to the phase that was
/// current when it fell due, whenever it is answered. Latency is measured from the due time (the
/// open-loop schedule), so a server that falls behind shows as latency, not as a lower rate; the
/// lag (due time to the moment the driver started the heartbeat, before any wait for a free
/// connection) says how much of it was the driver's own delay, or, for a heartbeat sent late behind
/// its node's unanswered previous one, that wait. Thread-safe: heartbeats are counted on the
/// heartbeat client's thread, the figures are read on another.
/// </summary>
internal sealed class Phase(string name, long? startedAt = null)
{
    private readonly Lock _lock = new();
    private readonly List<long> _latencies = new(1 << 16);
    private readonly List<long> _lags = new(1 << 16);
    private readonly Dictionary<string, long> _errors = new(StringComparer.Ordinal);
    private long _outstanding;
    private long _coalesced;
    private long _skipped;

    /// <summary>The phase's name in the results ("steady", "blip", "placement").</summary>
    public string Name { get; } = name;

    /// <summary>When the phase began (<see cref="Stopwatch"/> ticks): its first heartbeat's due time.</summary>
    public long StartedAt { get; } = startedAt ?? Stopwatch.GetTimestamp();

    /// <summary>When the phase ended, 0 while it runs.</summary>
    public long EndedAt { get; private set; }

    /// <summary>Requests started for this phase and not answered yet.</summary>
    public long Outstanding => Interlocked.Read(ref _outstanding);

    /// <summary>Heartbeats that fell due while the node's previous one was still unanswered: sent when it was (latency still counts from their due time).</summary>
    public long Coalesced => Interlocked.Read(ref _coalesced);

    /// <summary>Heartbeats dropped because a node already had one waiting behind an unanswered one.</summary>
    public long Skipped => Interlocked.Read(ref _skipped);

    public void Started(long lagTicks)
    {
        Interlocked.Increment(ref _outstanding);
        lock (_lock)
        {
            _lags.Add(lagTicks);
        }
    }

    public void Answered(long latencyTicks)
    {
        lock (_lock)
        {
            _latencies.Add(latencyTicks);
        }

        Interlocked.Decrement(ref _outstanding);
    }

    public void Failed(string what)
    {
        lock (_lock)
        {
            _errors[what] = _errors.GetValueOrDefault(what) + 1;
        }

        Interlocked.Decrement(ref _outstanding);
    }

    public void Coalesce() => Interlocked.Increment(ref _coalesced);

    public void Skip() => Interlocked.Increment(ref _skipped);

    public void End() => EndedAt = Stopwatch.GetTimestamp();

    /// <summary>Waits (up to <paramref name="limit"/>) until every request of the phase was answered or failed.</summary>
    public async Task DrainAsync(TimeSpan limit, CancellationToken cancellationToken)
    {
        var until = Stopwatch.GetTimestamp() + (long)(limit.TotalSeconds * Stopwatch.Frequency);
        while (Outstanding > 0 && Stopwatch.GetTimestamp() < until)
        {
            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>The phase's figures, as result lines <c>name.key=value</c>.</summary>
    public void Report(Results results)
    {
        long[] latencies;
        long[] lags;
        KeyValuePair<string, long>[] errors;
        lock (_lock)
        {
            latencies = [.. _latencies];
            lags = [.. _lags];
            errors = [.. _errors];
        }

        Array.Sort(latencies);
        Array.Sort(lags);
        var seconds = Seconds((EndedAt == 0 ? Stopwatch.GetTimestamp() : EndedAt) - StartedAt);
        var failed = errors.Sum(e => e.Value);
        results.Add(Name, "seconds", seconds, "F1");
        results.Add(Name, "answered", latencies.Length);
        results.Add(Name, "failed", failed);
        results.Add(Name, "coalesced", Coalesced);
        results.Add(Name, "skipped", Skipped);
        results.Add(Name, "unanswered", Outstanding);
        results.Add(Name, "rate", latencies.Length / seconds, "F0");
        if (latencies.Length > 0)
        {
            results.Add(Name, "p50_ms", Ms(Percentile(latencies, 0.50)), "F1");
            results.Add(Name, "p90_ms", Ms(Percentile(latencies, 0.90)), "F1");
            results.Add(Name, "p99_ms", Ms(Percentile(latencies, 0.99)), "F1");
            results.Add(Name, "p999_ms", Ms(Percentile(latencies, 0.999)), "F1");
            results.Add(Name, "max_ms", Ms(latencies[^1]), "F1");
        }

        if (lags.Length > 0)
        {
            results.Add(Name, "lag_p50_ms", Ms(Percentile(lags, 0.50)), "F1");
            results.Add(Name, "lag_p99_ms", Ms(Percentile(lags, 0.99)), "F1");
        }

        if (errors.Length > 0)
        {
            results.Add(Name, "errors", string.Join(", ", errors.OrderByDescending(e => e.Value).Select(e => $"{e.Key} ×{e.Value}")));
        }
    }

    /// <summary>Nearest-rank percentile of sorted values.</summary>
    public static long Percentile(long[] sorted, double p) =>
        sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    public static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    public static double Seconds(long ticks) => (double)ticks / Stopwatch.Frequency;
}
