namespace Gantry.Telemetry.Health;

/// <summary>One XID the log kept, with the sequence number a reader acknowledges it by.</summary>
/// <param name="Sequence">Rises by one per XID kept, from 1, for the life of the log.</param>
/// <param name="Gpu">The GPU's NVML index.</param>
/// <param name="Xid">The XID number.</param>
/// <param name="At">When the agent saw it (its clock).</param>
/// <param name="Source">The path that saw it first.</param>
/// <param name="Text">The driver's words, from the kernel log; null from NVML.</param>
internal sealed record LoggedXid(long Sequence, int Gpu, ulong Xid, DateTimeOffset At, XidSource Source, string? Text);

/// <summary>
/// Every XID the agent sees, from NVML's events and the kernel log, counted once
/// (<see cref="XidDeduplicator"/>): per-GPU counts for <c>/metrics</c>, and a queue of the XIDs a
/// reader (the heartbeat) has not acknowledged yet. The kernel log names a GPU by PCI bus id, NVML by
/// index; <see cref="SetGpu"/> maps one to the other. Thread-safe: the NVML event thread, the
/// kernel-log reader, the sampler and the heartbeat call it at once.
/// </summary>
internal sealed class XidLog
{
    /// <summary>XIDs kept per GPU until acknowledged; past it the oldest go (a storm cannot grow memory).</summary>
    public const int MaxPendingPerGpu = 256;

    private static readonly IReadOnlyDictionary<ulong, ulong> NoCounts = new Dictionary<ulong, ulong>();

    private readonly Lock _gate = new();
    private readonly XidDeduplicator _deduplicator;
    private readonly Dictionary<int, string> _busIdByIndex = [];
    private readonly Dictionary<string, int> _indexByBusId = new(StringComparer.Ordinal);
    private readonly Dictionary<int, Dictionary<ulong, ulong>> _counts = [];
    private readonly Dictionary<int, ulong> _last = [];
    private readonly Queue<LoggedXid> _pending = new();
    private readonly Dictionary<int, int> _pendingPerGpu = [];
    private long _sequence;
    private long _unattributed;
    private long _dropped;

    /// <summary>A log whose two sources' reports of one XID are matched up to <paramref name="window"/> apart.</summary>
    public XidLog(TimeSpan window) => _deduplicator = new XidDeduplicator(window);

    /// <summary>A log with <see cref="XidDeduplicator.DefaultWindow"/>.</summary>
    public XidLog()
        : this(XidDeduplicator.DefaultWindow)
    {
    }

    /// <summary>XIDs whose GPU could not be told (a bus id no sampled GPU has): counted here only.</summary>
    public long Unattributed => Interlocked.Read(ref _unattributed);

    /// <summary>XIDs dropped unacknowledged because a GPU had <see cref="MaxPendingPerGpu"/> waiting.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>Tells the log which PCI bus id GPU <paramref name="index"/> has (NVML's, any spelling).</summary>
    public void SetGpu(int index, string? pciBusId)
    {
        if (pciBusId is null || PciBusId.Normalize(pciBusId) is not { } busId)
        {
            return;
        }

        lock (_gate)
        {
            if (_busIdByIndex.TryGetValue(index, out var old))
            {
                _indexByBusId.Remove(old);
            }

            _busIdByIndex[index] = busId;
            _indexByBusId[busId] = index;
        }
    }

    /// <summary>
    /// Records one report of an XID: from NVML by GPU index, from the kernel log by bus id. True when
    /// it is new and was kept; false when it is the other path's report of one already kept, or its
    /// GPU is unknown (then only <see cref="Unattributed"/> counts it).
    /// </summary>
    public bool Observe(XidSource source, int? gpu, string? pciBusId, ulong xid, DateTimeOffset at, string? text = null)
    {
        lock (_gate)
        {
            var busId = pciBusId is null ? null : PciBusId.Normalize(pciBusId);
            if (gpu is { } known)
            {
                busId ??= _busIdByIndex.GetValueOrDefault(known);
            }
            else if (busId is not null && _indexByBusId.TryGetValue(busId, out var mapped))
            {
                gpu = mapped;
            }

            if (!_deduplicator.Observe(source, busId, xid, at))
            {
                return false;
            }

            if (gpu is not { } index)
            {
                _unattributed++;
                return false;
            }

            if (!_counts.TryGetValue(index, out var counts))
            {
                counts = [];
                _counts[index] = counts;
            }

            counts[xid] = counts.GetValueOrDefault(xid) + 1;
            _last[index] = xid;
            var waiting = _pendingPerGpu.GetValueOrDefault(index);
            if (waiting >= MaxPendingPerGpu)
            {
                DropOldestOf(index);
                _dropped++;
                waiting--;
            }

            _pending.Enqueue(new LoggedXid(++_sequence, index, xid, at, source, text));
            _pendingPerGpu[index] = waiting + 1;
            return true;
        }
    }

    /// <summary>A copy of one GPU's XID counts by XID number; empty before its first.</summary>
    public IReadOnlyDictionary<ulong, ulong> CountsFor(int index)
    {
        lock (_gate)
        {
            return _counts.TryGetValue(index, out var counts) ? new Dictionary<ulong, ulong>(counts) : NoCounts;
        }
    }

    /// <summary>The most recent XID of one GPU; null before its first.</summary>
    public ulong? LastFor(int index)
    {
        lock (_gate)
        {
            return _last.TryGetValue(index, out var xid) ? xid : null;
        }
    }

    /// <summary>The XIDs not acknowledged yet, oldest first (empty when there are none: no allocation).</summary>
    public IReadOnlyList<LoggedXid> Unacknowledged()
    {
        lock (_gate)
        {
            return _pending.Count == 0 ? [] : [.. _pending];
        }
    }

    /// <summary>Forgets the XIDs up to and including <paramref name="sequence"/>: the server has them.</summary>
    public void Acknowledge(long sequence)
    {
        lock (_gate)
        {
            while (_pending.TryPeek(out var first) && first.Sequence <= sequence)
            {
                _pending.Dequeue();
                var left = _pendingPerGpu[first.Gpu] - 1;
                if (left == 0)
                {
                    _pendingPerGpu.Remove(first.Gpu);
                }
                else
                {
                    _pendingPerGpu[first.Gpu] = left;
                }
            }
        }
    }

    /// <summary>Removes GPU <paramref name="index"/>'s oldest waiting XID; under the lock (rare: a storm on one GPU).</summary>
    private void DropOldestOf(int index)
    {
        var kept = new Queue<LoggedXid>(_pending.Count);
        var dropped = false;
        while (_pending.TryDequeue(out var item))
        {
            if (!dropped && item.Gpu == index)
            {
                dropped = true;
                continue;
            }

            kept.Enqueue(item);
        }

        while (kept.TryDequeue(out var item))
        {
            _pending.Enqueue(item);
        }
    }
}
