using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Configuration;
using Gantry.Server.Jobs;
using Gantry.Server.Observability;
using Gantry.Server.Storage;

namespace Gantry.Server.Logs;

/// <summary>
/// Job output: agents upload chunks at offsets (a retried upload stores nothing twice), people read
/// it by sequence number. It lives in the store only; the job queue says whether an upload's attempt
/// may still write and wakes followers.
/// </summary>
internal sealed class JobLogs(IStateStore store, JobQueue jobs, ServerOptions options, ServerMetrics metrics)
{
    /// <summary>
    /// Stores an upload's chunks, up to <see cref="ServerOptions.MaxJobLogChars"/> per stream
    /// (<see cref="LogLimit"/>); chunks already stored are skipped.
    /// </summary>
    public ReportOutcome Append(string nodeId, long jobId, int attempt, LogUpload upload)
    {
        ArgumentNullException.ThrowIfNull(upload);
        var outcome = jobs.CheckUpload(nodeId, jobId, attempt, upload.Epoch);
        if (outcome != ReportOutcome.Accepted)
        {
            return outcome;
        }

        var stored = 0;
        store.Write(w =>
        {
            foreach (var uploaded in upload.Chunks)
            {
                foreach (var chunk in LogLimit.Clip(uploaded, options.MaxJobLogChars))
                {
                    if (w.InsertLog(jobId, attempt, chunk.Stream, chunk.Offset, chunk.Data))
                    {
                        stored += chunk.Data.Length;
                    }
                }
            }
        });
        metrics.LogCharacters.Add(stored);
        jobs.OutputArrived(jobId);
        return outcome;
    }

    /// <summary>Up to <paramref name="limit"/> chunks of a job's output after <paramref name="afterSeq"/>.</summary>
    public List<LogRecord> Read(long jobId, long afterSeq, int limit) => store.ReadLogs(jobId, afterSeq, limit);
}
