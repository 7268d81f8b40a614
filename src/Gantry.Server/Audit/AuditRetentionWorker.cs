using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Audit;

/// <summary>
/// Deletes audit records older than <see cref="ServerOptions.AuditRetention"/>, oldest first in batches
/// of <see cref="Batch"/>: at start and then every <see cref="Period"/> of the injected clock.
/// </summary>
internal sealed partial class AuditRetentionWorker(IAuditStore store, ServerOptions options, TimeProvider time, ILogger<AuditRetentionWorker> logger) : BackgroundService
{
    /// <summary>Records deleted per statement, so that writers wait little.</summary>
    internal const int Batch = 5000;

    private static readonly TimeSpan Period = TimeSpan.FromMinutes(10);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.AuditRetention is null
            ? Task.CompletedTask
            : Retention.RunAsync(Period, time, PurgeAsync, ex => LogPurgeFailed(logger, ex), stoppingToken);

    /// <summary>Deletes every record older than the retention; returns how many went.</summary>
    internal async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        if (options.AuditRetention is not { } retention)
        {
            return 0;
        }

        var cutoff = time.GetUtcNow() - retention;
        long total = 0;
        int count;
        do
        {
            count = store.PurgeAuditBefore(cutoff, Batch);
            total += count;
            await Task.Yield();
        }
        while (count == Batch && !cancellationToken.IsCancellationRequested);

        if (total > 0)
        {
            LogPurged(logger, total, cutoff);
        }

        return total;
    }

    [LoggerMessage(EventId = 2974, Level = LogLevel.Information, Message = "Purged {Records} audit records made before {Cutoff:u}")]
    private static partial void LogPurged(ILogger logger, long records, DateTimeOffset cutoff);

    [LoggerMessage(EventId = 2975, Level = LogLevel.Error, Message = "Purging old audit records failed")]
    private static partial void LogPurgeFailed(ILogger logger, Exception exception);
}
