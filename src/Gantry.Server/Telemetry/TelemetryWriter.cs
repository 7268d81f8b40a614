using Gantry.Server.Anomalies;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Telemetry;

/// <summary>
/// Drains <see cref="TelemetryIngest"/> into <see cref="TelemetryStore"/>: whatever is queued
/// (up to <see cref="MaxBatch"/> summaries) is written in one transaction. Under load, summaries
/// pile up while a batch is written and the next batch takes them all (group commit); when idle,
/// a summary is written as soon as it arrives. A failed batch is logged and dropped. Each batch then feeds
/// <see cref="AnomalyRegistry"/>, whose only writer this thread is (off the heartbeat's path).
/// </summary>
internal sealed class TelemetryWriter(TelemetryIngest ingest, TelemetryStore store, AnomalyRegistry anomalies, ILogger<TelemetryWriter> logger) : BackgroundService
{
    /// <summary>Most summaries written in one transaction (9 rows each for an 8-GPU node).</summary>
    public const int MaxBatch = 2_000;

    private long _batches;

    /// <summary>Batches written so far (tests wait on it).</summary>
    public long Batches => Interlocked.Read(ref _batches);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var batch = new TelemetryItem[MaxBatch];
        var reader = ingest.Reader;
        try
        {
            while (await reader.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                var count = 0;
                while (count < batch.Length && reader.TryRead(out var item))
                {
                    batch[count++] = item;
                }

                try
                {
                    store.Write(batch.AsSpan(0, count));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // Whatever went wrong with this batch, the next one and the server go on.
                    TelemetryLog.WriteFailed(logger, count, ex);
                }

                try
                {
                    anomalies.Observe(batch.AsSpan(0, count));
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    // A bug in scoring must not stop the history being written.
                    TelemetryLog.AnomaliesFailed(logger, count, ex);
                }

                // Let go of the summaries: the queue may stay empty for a long time.
                Array.Clear(batch, 0, count);
                Interlocked.Increment(ref _batches);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: what is still queued is lost, as with a killed process.
        }
    }
}
