using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Jobs;

/// <summary>
/// Purges jobs that ended longer than <see cref="ServerOptions.JobRetention"/> ago, with their
/// attempts, transitions and output, in batches: at start and then every ten minutes.
/// </summary>
internal sealed partial class JobRetentionWorker(IStateStore store, JobQueue jobs, ServerOptions options, TimeProvider time, ILogger<JobRetentionWorker> logger) : BackgroundService
{
    /// <summary>Jobs deleted per transaction, so that writers wait little.</summary>
    internal const int Batch = 5000;

    private static readonly TimeSpan Period = TimeSpan.FromMinutes(10);

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        options.JobRetention is null
            ? Task.CompletedTask
            : Retention.RunAsync(Period, time, PurgeAsync, ex => LogPurgeFailed(logger, ex), stoppingToken);

    /// <summary>Purges every job that ended before the retention; returns how many went.</summary>
    internal async Task<long> PurgeAsync(CancellationToken cancellationToken)
    {
        if (options.JobRetention is not { } retention)
        {
            return 0;
        }

        var cutoff = time.GetUtcNow() - retention;
        long total = 0;
        while (!cancellationToken.IsCancellationRequested)
        {
            var purged = store.PurgeEndedBefore(cutoff, Batch);
            jobs.Purged(purged);
            var count = purged.Values.Sum();
            total += count;
            if (count < Batch)
            {
                break;
            }

            // Let other writers in between batches.
            await Task.Yield();
        }

        if (total > 0)
        {
            LogPurged(logger, total, cutoff);
        }

        return total;
    }

    [LoggerMessage(EventId = 2350, Level = LogLevel.Information, Message = "Purged {Jobs} jobs that ended before {Cutoff:u}")]
    private static partial void LogPurged(ILogger logger, long jobs, DateTimeOffset cutoff);

    [LoggerMessage(EventId = 2351, Level = LogLevel.Error, Message = "Purging ended jobs failed")]
    private static partial void LogPurgeFailed(ILogger logger, Exception exception);
}
