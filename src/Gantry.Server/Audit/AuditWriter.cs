using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Audit;

/// <summary>
/// Stores what <see cref="AuditLog"/> queued, in batches of up to <see cref="Batch"/> records, one
/// transaction each. A batch the store refuses is kept and tried again with backoff (up to
/// <see cref="MaxBackoff"/>) until it is stored; meanwhile requests keep queueing. At shutdown what is
/// left gets one more try; what still cannot be stored is logged record by record.
/// </summary>
internal sealed partial class AuditWriter(IAuditStore store, AuditLog log, TimeProvider time, ILogger<AuditWriter> logger) : BackgroundService
{
    /// <summary>Records stored per transaction at most.</summary>
    internal const int Batch = 500;

    private static readonly TimeSpan FirstBackoff = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly List<AuditRecord> _batch = new(Batch);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            while (await log.Queue.WaitToReadAsync(stoppingToken).ConfigureAwait(false))
            {
                Take();
                await StoreAsync(stoppingToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // Stopping: StopAsync stores what is left.
        }
    }

    public override async Task StopAsync(CancellationToken cancellationToken)
    {
        await base.StopAsync(cancellationToken).ConfigureAwait(false);
        do
        {
            Take();
            if (_batch.Count == 0)
            {
                return;
            }

            try
            {
                store.AppendAudit(_batch);
                log.Stored(_batch.Count);
            }
            catch (Exception ex)
            {
                LogLostAtStop(logger, _batch.Count, ex);
                log.Lost(_batch);
            }

            _batch.Clear();
        }
        while (true);
    }

    /// <summary>Adds queued records to the batch (which may still hold one the store refused).</summary>
    private void Take()
    {
        while (_batch.Count < Batch && log.Queue.TryRead(out var record))
        {
            _batch.Add(record);
        }
    }

    private async Task StoreAsync(CancellationToken stoppingToken)
    {
        var backoff = FirstBackoff;
        var failing = false;
        while (true)
        {
            try
            {
                store.AppendAudit(_batch);
                log.Stored(_batch.Count);
                _batch.Clear();
                if (failing)
                {
                    LogRecovered(logger);
                }

                return;
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                if (!failing)
                {
                    LogStoreFailed(logger, _batch.Count, log.Pending, ex);
                    failing = true;
                }
            }

            await Task.Delay(backoff, time, stoppingToken).ConfigureAwait(false);
            backoff = backoff * 2 < MaxBackoff ? backoff * 2 : MaxBackoff;
        }
    }

    [LoggerMessage(EventId = 2971, Level = LogLevel.Error, Message = "Cannot store {Count} audit records ({Pending} queued); retrying with backoff, requests keep being recorded in memory")]
    private static partial void LogStoreFailed(ILogger logger, int count, long pending, Exception exception);

    [LoggerMessage(EventId = 2972, Level = LogLevel.Information, Message = "Audit records are stored again")]
    private static partial void LogRecovered(ILogger logger);

    [LoggerMessage(EventId = 2973, Level = LogLevel.Error, Message = "Stopping: {Count} audit records could not be stored; each is logged")]
    private static partial void LogLostAtStop(ILogger logger, int count, Exception exception);
}
