using System.Threading.Channels;
using Gantry.Core.Protocol;
using Gantry.Server.Live;
using Gantry.Telemetry.Exposition;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Audit;

/// <summary>
/// The audit log's queue: requests put their record on it (<see cref="Record"/>: never blocks, never
/// touches the store) and <see cref="AuditWriter"/> stores what is queued in batches. Readers first wait,
/// briefly, until what was queued before they asked is stored, so a caller sees its own change.
/// </summary>
/// <remarks>
/// The queue holds <see cref="Capacity"/> records while the store is unreachable. Past it a record is
/// dropped, and said so: an error log line that carries the whole record, and
/// <c>gantry_server_audit_records_dropped_total</c> on /metrics (<see cref="Render"/>).
/// </remarks>
internal sealed partial class AuditLog(IAuditStore store, TimeProvider time, ILogger<AuditLog> logger)
{
    /// <summary>Records queued at most, waiting for the store.</summary>
    public const int Capacity = 10_000;

    /// <summary>How long a reader waits for earlier records to be stored before it reads anyway.</summary>
    private static readonly TimeSpan ReadWait = TimeSpan.FromSeconds(2);

    private readonly Channel<AuditRecord> _queue = Channel.CreateBounded<AuditRecord>(new BoundedChannelOptions(Capacity) { SingleReader = true, FullMode = BoundedChannelFullMode.Wait });
    private readonly Signal _stored = new();
    private long _queued;
    private long _storedCount;
    private long _dropped;

    /// <summary>The clock records are stamped with.</summary>
    public DateTimeOffset Now => time.GetUtcNow();

    /// <summary>Records dropped because the queue was full (the store unreachable for long).</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Records queued and not yet stored.</summary>
    public long Pending => Interlocked.Read(ref _queued) - Interlocked.Read(ref _storedCount);

    /// <summary>What <see cref="AuditWriter"/> takes from.</summary>
    internal ChannelReader<AuditRecord> Queue => _queue.Reader;

    /// <summary>Queues a record; when the queue is full, logs it as an error instead.</summary>
    public void Record(AuditRecord record)
    {
        ArgumentNullException.ThrowIfNull(record);
        if (_queue.Writer.TryWrite(record))
        {
            Interlocked.Increment(ref _queued);
            return;
        }

        var dropped = Interlocked.Increment(ref _dropped);
        LogDropped(logger, record.Time, record.Actor, record.Address, record.Action, record.Target, record.Status, dropped);
    }

    /// <summary>Called by the writer once <paramref name="count"/> records are stored.</summary>
    internal void Stored(int count)
    {
        Interlocked.Add(ref _storedCount, count);
        _stored.Pulse();
    }

    /// <summary>Called by the writer for records it gave up on at shutdown (each logged).</summary>
    internal void Lost(IReadOnlyList<AuditRecord> records)
    {
        foreach (var record in records)
        {
            var dropped = Interlocked.Increment(ref _dropped);
            LogDropped(logger, record.Time, record.Actor, record.Address, record.Action, record.Target, record.Status, dropped);
        }

        Interlocked.Add(ref _storedCount, records.Count);
    }

    /// <summary>The records that match <paramref name="query"/>, newest first, once those queued before the call are stored (or <see cref="ReadWait"/> passed).</summary>
    public async Task<IReadOnlyList<AuditEntry>> ReadAsync(AuditQuery query, CancellationToken cancellationToken)
    {
        var target = Interlocked.Read(ref _queued);
        var deadline = time.GetUtcNow() + ReadWait;
        while (Interlocked.Read(ref _storedCount) < target)
        {
            var next = _stored.Next;
            var left = deadline - time.GetUtcNow();
            if (Interlocked.Read(ref _storedCount) >= target || left <= TimeSpan.Zero)
            {
                break;
            }

            try
            {
                await next.WaitAsync(left, time, cancellationToken).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                break;
            }
        }

        return store.ReadAudit(query);
    }

    /// <summary>The queue's figures on the server's <c>/metrics</c>.</summary>
    public void Render(PrometheusTextWriter w)
    {
        ArgumentNullException.ThrowIfNull(w);
        w.Family("gantry_server_audit_records_pending", "gauge", "Audit records queued and not yet stored.");
        w.Begin().Value(Pending);
        w.Family("gantry_server_audit_records_dropped_total", "counter", "Audit records not stored (the queue was full, or the store refused them at shutdown); each was logged instead.");
        w.Begin().Value(Dropped);
    }

    [LoggerMessage(EventId = 2970, Level = LogLevel.Error, Message = "Audit record dropped ({Dropped} so far; the store has been unreachable too long): {Time:o} {Actor} from {Address} {Action} {Target} -> {Status}")]
    private static partial void LogDropped(ILogger logger, DateTimeOffset time, string actor, string? address, string action, string? target, int status, long dropped);
}
