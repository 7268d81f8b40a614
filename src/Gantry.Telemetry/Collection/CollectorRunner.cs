using Gantry.Telemetry.Model;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Collection;

/// <summary>
/// Runs one collector in isolation: on the thread pool, under a timeout, at most one reading
/// in flight. A reading still running from the previous sample (a hung filesystem, a stuck
/// driver call) is not started again; the sample goes on without it and says why.
/// </summary>
internal sealed class CollectorRunner<T>(ICollector<T> collector, TimeProvider timeProvider, ILogger logger) where T : class
{
    private Task<T>? _inFlight;
    private ulong _errors;
    private string? _lastError;
    private DateTimeOffset? _lastErrorAt;
    private bool _failing;

    public string Name => collector.Name;

    /// <summary>The latest result, or null when this round failed.</summary>
    public T? Value { get; private set; }

    public CollectorStatus Status { get; private set; } = new(collector.Name, false, 0, 0, null, null);

    public async Task RunAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var started = timeProvider.GetTimestamp();
        string? error = null;
        Exception? exception = null;
        T? value = null;
        if (_inFlight is { IsCompleted: false })
        {
            error = "the previous reading has not finished yet (the collector is hung or slower than the interval)";
        }
        else
        {
            _inFlight = Task.Run(() => collector.CollectAsync(cancellationToken).AsTask(), cancellationToken);
            try
            {
                value = await _inFlight.WaitAsync(timeout, timeProvider, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                error = $"timed out after {timeout.TotalSeconds:0.###}s";
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                throw;
            }
            catch (Exception ex)
            {
                error = ex.Message;
                exception = ex;
            }
        }

        var duration = timeProvider.GetElapsedTime(started).TotalSeconds;
        Value = value;
        if (error is null)
        {
            if (_failing)
            {
                CollectionLog.CollectorRecovered(logger, Name);
                _failing = false;
            }

            Status = new CollectorStatus(Name, true, duration, _errors, _lastError, _lastErrorAt);
            return;
        }

        _errors++;
        _lastError = error;
        _lastErrorAt = timeProvider.GetUtcNow();
        if (!_failing)
        {
            // Logged when a collector starts failing, not on every sample it keeps failing.
            CollectionLog.CollectorFailed(logger, exception, Name, error);
            _failing = true;
        }

        Status = new CollectorStatus(Name, false, duration, _errors, _lastError, _lastErrorAt);
    }

    /// <summary>For tests: whether a reading is still running.</summary>
    internal bool InFlight => _inFlight is { IsCompleted: false };
}
