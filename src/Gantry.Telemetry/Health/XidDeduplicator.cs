namespace Gantry.Telemetry.Health;

/// <summary>Where an XID was seen.</summary>
internal enum XidSource
{
    /// <summary>NVML's XID event (<c>nvmlEventSetWait</c>).</summary>
    Nvml,

    /// <summary>The driver's line in the kernel log.</summary>
    KernelLog,
}

/// <summary>
/// Counts an XID once when both NVML's event path and the kernel log report it. An observation
/// from one source is a duplicate when the other source reported the same XID on the same GPU
/// (by PCI bus id) within <see cref="Window"/> and that report has not been matched yet; each
/// report matches at most one from the other side, so a burst of the same XID is counted as
/// often as either source saw it. Repeats from one source are never merged. An XID without a bus
/// id cannot be matched and is always counted. Thread-safe: the NVML event thread and the
/// kernel log reader call it at once.
/// </summary>
internal sealed class XidDeduplicator
{
    /// <summary>How far apart the two sources' reports of one XID may be: both are read within a second of it.</summary>
    public static readonly TimeSpan DefaultWindow = TimeSpan.FromSeconds(10);

    // Unmatched reports kept per GPU, XID and source: a storm of one XID cannot grow memory.
    private const int MaxPendingPerKey = 256;

    private readonly Lock _gate = new();
    private readonly Dictionary<(string BusId, ulong Xid), Pending> _pending = [];
    private DateTimeOffset _lastSweep = DateTimeOffset.MinValue;

    /// <summary>Creates a deduplicator matching reports up to <paramref name="window"/> apart.</summary>
    public XidDeduplicator(TimeSpan window)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(window, TimeSpan.Zero);
        Window = window;
    }

    /// <summary>How far apart two sources' reports of one XID may be and still be one XID.</summary>
    public TimeSpan Window { get; }

    /// <summary>
    /// Records one report; true when it is new and should be counted, false when it is the
    /// other source's report of an XID already counted.
    /// </summary>
    /// <param name="source">Which source saw it.</param>
    /// <param name="pciBusId">The GPU's PCI bus id in any common spelling (see <see cref="PciBusId.Normalize"/>).</param>
    /// <param name="xid">The XID number.</param>
    /// <param name="at">When the agent saw it, on the clock both sources are stamped with.</param>
    public bool Observe(XidSource source, string? pciBusId, ulong xid, DateTimeOffset at)
    {
        var busId = pciBusId is null ? null : PciBusId.Normalize(pciBusId);
        if (busId is null)
        {
            return true;
        }

        lock (_gate)
        {
            SweepIfDue(at);
            var key = (busId, xid);
            if (!_pending.TryGetValue(key, out var pending))
            {
                pending = new Pending();
                _pending[key] = pending;
            }

            var other = pending.Of(source == XidSource.Nvml ? XidSource.KernelLog : XidSource.Nvml);
            while (other.Count > 0 && at - other.Peek() > Window)
            {
                other.Dequeue();
            }

            if (other.Count > 0 && other.Peek() - at <= Window)
            {
                other.Dequeue();
                return false;
            }

            var own = pending.Of(source);
            if (own.Count == MaxPendingPerKey)
            {
                own.Dequeue();
            }

            own.Enqueue(at);
            return true;
        }
    }

    /// <summary>Drops reports too old to match anything, at most once per window, so keys of past XIDs do not pile up.</summary>
    private void SweepIfDue(DateTimeOffset now)
    {
        if (now - _lastSweep < Window)
        {
            return;
        }

        _lastSweep = now;
        List<(string, ulong)>? empty = null;
        foreach (var (key, pending) in _pending)
        {
            pending.DropBefore(now - Window);
            if (pending.IsEmpty)
            {
                (empty ??= []).Add(key);
            }
        }

        if (empty is not null)
        {
            foreach (var key in empty)
            {
                _pending.Remove(key);
            }
        }
    }

    /// <summary>The unmatched reports of one GPU and XID, oldest first, per source.</summary>
    private sealed class Pending
    {
        private readonly Queue<DateTimeOffset> _nvml = new();
        private readonly Queue<DateTimeOffset> _kernelLog = new();

        public bool IsEmpty => _nvml.Count == 0 && _kernelLog.Count == 0;

        public Queue<DateTimeOffset> Of(XidSource source) => source == XidSource.Nvml ? _nvml : _kernelLog;

        public void DropBefore(DateTimeOffset cutoff)
        {
            while (_nvml.Count > 0 && _nvml.Peek() < cutoff)
            {
                _nvml.Dequeue();
            }

            while (_kernelLog.Count > 0 && _kernelLog.Peek() < cutoff)
            {
                _kernelLog.Dequeue();
            }
        }
    }
}
