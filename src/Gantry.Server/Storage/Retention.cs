namespace Gantry.Server.Storage;

/// <summary>The loop of the workers that purge old history from the store (jobs, audit records).</summary>
internal static class Retention
{
    /// <summary>
    /// Runs <paramref name="purge"/> at once and then every <paramref name="period"/> of
    /// <paramref name="time"/> until <paramref name="stoppingToken"/> is cancelled; a failing pass is
    /// handed to <paramref name="failed"/> and the loop goes on.
    /// </summary>
    public static async Task RunAsync(TimeSpan period, TimeProvider time, Func<CancellationToken, Task> purge, Action<Exception> failed, CancellationToken stoppingToken)
    {
        ArgumentNullException.ThrowIfNull(purge);
        ArgumentNullException.ThrowIfNull(failed);
        try
        {
            using var timer = new PeriodicTimer(period, time);
            do
            {
                try
                {
                    await purge(stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    failed(ex);
                }
            }
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }
}
