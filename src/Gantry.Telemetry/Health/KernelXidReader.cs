using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Health;

/// <summary>Where a <see cref="KernelXidReader"/> starts in the kernel log.</summary>
internal readonly record struct KernelLogStart
{
    private KernelLogStart(bool fromEnd, ulong? afterSequence) => (FromEnd, AfterSequence) = (fromEnd, afterSequence);

    /// <summary>Only what is logged from now on (the default: an agent counts XIDs since it started).</summary>
    public static KernelLogStart End { get; } = new(true, null);

    /// <summary>Everything the kernel still holds.</summary>
    public static KernelLogStart Beginning { get; } = new(false, null);

    /// <summary>The records after <paramref name="sequence"/> (<see cref="KernelXid.Sequence"/> of the last one handled).</summary>
    public static KernelLogStart After(ulong sequence) => new(false, sequence);

    /// <summary>Whether what is logged before the reader opens is skipped.</summary>
    internal bool FromEnd { get; }

    /// <summary>Records up to and including this sequence number are skipped.</summary>
    internal ulong? AfterSequence { get; }
}

/// <summary>What the reader is doing, for <c>/status</c> and the logs.</summary>
internal enum KernelLogState
{
    /// <summary>Not opened yet.</summary>
    NotStarted,

    /// <summary>Open and read on every poll.</summary>
    Following,

    /// <summary>The agent may not read the kernel log (no <c>CAP_SYSLOG</c> while <c>kernel.dmesg_restrict</c> is 1).</summary>
    PermissionDenied,

    /// <summary>The log cannot be opened or read for another reason (no such file, not Linux).</summary>
    Unavailable,
}

/// <summary>The reader's state and, when it is not reading, why, in words for a person.</summary>
internal sealed record KernelLogStatus(KernelLogState State, string? Message);

/// <summary>Settings of a <see cref="KernelXidReader"/>.</summary>
internal sealed class KernelXidReaderOptions
{
    /// <summary>The kernel log; a regular file or a FIFO in the same format stands in for it in tests.</summary>
    public string Path { get; init; } = "/dev/kmsg";

    /// <summary>Where to start.</summary>
    public KernelLogStart Start { get; init; } = KernelLogStart.End;

    /// <summary>How often <see cref="KernelXidReader.FollowAsync"/> reads what arrived.</summary>
    public TimeSpan PollInterval { get; init; } = TimeSpan.FromMilliseconds(500);

    /// <summary>How long after a failed open (or read) the log is tried again.</summary>
    public TimeSpan RetryInterval { get; init; } = TimeSpan.FromSeconds(60);
}

/// <summary>
/// Follows the kernel log for NVIDIA XIDs. Reads never block: each <see cref="Poll"/> takes
/// what has arrived and returns. <c>/dev/kmsg</c> gives one record per read; a regular file or
/// FIFO gives bytes, so lines are put together across reads (a partial last line waits for the
/// rest). Records the kernel overwrote before they were read (<c>EPIPE</c>) are counted in
/// <see cref="OverwrittenCount"/> and logged, and reading goes on from the oldest record still
/// held. When the log may not be read, <see cref="Status"/> says so and it is logged once, not
/// at every retry. <see cref="Poll"/> and <see cref="FollowAsync"/> are for one caller at a time;
/// <see cref="Status"/> may be read from any thread.
/// </summary>
internal sealed class KernelXidReader : IDisposable
{
    // /dev/kmsg refuses a read into a buffer smaller than the record (EINVAL); records are at
    // most 8 KiB (CONSOLE_EXT_LOG_MAX) with their dictionary.
    private const int BufferSize = 16 * 1024;

    // Bounds one poll's work when a writer keeps up with the reader.
    private const int MaxReadsPerPoll = 10_000;

    private readonly KernelXidReaderOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private readonly KernelLogOpener _open;
    private readonly byte[] _pending = new byte[BufferSize];
    private int _pendingLength;
    private bool _skippingLongLine;
    private KernelLogHandle? _handle;
    private long _lastOpenAttempt;
    private bool _openAttempted;
    private volatile KernelLogStatus _status = new(KernelLogState.NotStarted, null);
    private ulong? _lastSequence;
    private ulong? _skipThrough;
    private long _overwritten;

    /// <summary>Creates a reader of the kernel log; nothing is opened before the first poll.</summary>
    public KernelXidReader(KernelXidReaderOptions options, ILogger<KernelXidReader> logger, TimeProvider timeProvider)
        : this(options, logger, timeProvider, KernelLogFile.Open)
    {
    }

    /// <summary>A reader whose log is opened by <paramref name="open"/> (tests script the kernel's answers).</summary>
    internal KernelXidReader(KernelXidReaderOptions options, ILogger logger, TimeProvider timeProvider, KernelLogOpener open)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(open);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(options.PollInterval, TimeSpan.Zero);
        _options = options;
        _logger = logger;
        _time = timeProvider;
        _open = open;
        _skipThrough = options.Start.AfterSequence;
    }

    /// <summary>Whether the log is being read, and if not, why.</summary>
    public KernelLogStatus Status => _status;

    /// <summary>The sequence number of the last record read; resume with <see cref="KernelLogStart.After"/>.</summary>
    public ulong? LastSequence => _lastSequence;

    /// <summary>How many times the kernel reported records overwritten before they were read.</summary>
    public long OverwrittenCount => Interlocked.Read(ref _overwritten);

    /// <summary>
    /// Reads every record that has arrived and adds the XIDs among them to
    /// <paramref name="xids"/>; returns how many it added. Opens the log first if it is not open
    /// (at most once per <see cref="KernelXidReaderOptions.RetryInterval"/> after a failure).
    /// </summary>
    public int Poll(ICollection<KernelXid> xids)
    {
        ArgumentNullException.ThrowIfNull(xids);
        if (_handle is null && !TryOpen())
        {
            return 0;
        }

        var added = 0;
        var overwritten = 0;
        for (var reads = 0; reads < MaxReadsPerPoll && _handle is not null; reads++)
        {
            var free = _pending.AsSpan(_pendingLength);
            var count = _handle.Read(free, out var errno);
            if (count > 0)
            {
                _pendingLength += count;
                added += TakeLines(xids);
                continue;
            }

            if (count == 0 || errno == Errno.Again)
            {
                break;
            }

            if (errno == Errno.Pipe)
            {
                // The kernel moved this reader on to the oldest record it still holds.
                overwritten++;
                Interlocked.Increment(ref _overwritten);
                continue;
            }

            if (errno != Errno.Interrupted)
            {
                Fail(errno);
            }
        }

        if (overwritten > 0)
        {
            HealthLog.RecordsOverwritten(_logger, _options.Path, overwritten);
        }

        return added;
    }

    /// <summary>
    /// Polls every <see cref="KernelXidReaderOptions.PollInterval"/> and hands each XID to
    /// <paramref name="onXid"/>, until <paramref name="cancellationToken"/> is cancelled (then
    /// it throws <see cref="OperationCanceledException"/>). A round that fails is logged and the
    /// loop goes on.
    /// </summary>
    public async Task FollowAsync(Action<KernelXid> onXid, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(onXid);
        var batch = new List<KernelXid>();
        using var timer = new PeriodicTimer(_options.PollInterval, _time);
        do
        {
            batch.Clear();
            try
            {
                Poll(batch);
                foreach (var xid in batch)
                {
                    onXid(xid);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                HealthLog.PollFailed(_logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(cancellationToken).ConfigureAwait(false));
    }

    /// <summary>Closes the log.</summary>
    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
    }

    private bool TryOpen()
    {
        var now = _time.GetTimestamp();
        if (_openAttempted && _time.GetElapsedTime(_lastOpenAttempt, now) < _options.RetryInterval)
        {
            return false;
        }

        _openAttempted = true;
        _lastOpenAttempt = now;
        var handle = _open(_options.Path, out var errno);
        if (handle is null)
        {
            if (errno is Errno.Access or Errno.Perm)
            {
                SetStatus(KernelLogState.PermissionDenied,
                    $"The agent may not read the kernel log {_options.Path} (errno {errno}: it needs CAP_SYSLOG, or kernel.dmesg_restrict=0); " +
                    "XIDs that only the kernel log reports (79, 119, 120) are not seen");
            }
            else
            {
                SetStatus(KernelLogState.Unavailable,
                    $"The kernel log {_options.Path} cannot be opened (errno {errno}); XIDs that only the kernel log reports (79, 119, 120) are not seen");
            }

            return false;
        }

        _handle = handle;
        _pendingLength = 0;
        _skippingLongLine = false;
        if (_lastSequence is { } last)
        {
            // Opened again after a failure: a new descriptor starts at the oldest record, so go
            // on after the last one read rather than from the end, which would miss what came between.
            _skipThrough = last;
        }
        else if (_options.Start.FromEnd)
        {
            _handle.SeekToEnd();
        }

        SetStatus(KernelLogState.Following, null);
        return true;
    }

    private void Fail(int errno)
    {
        _handle?.Dispose();
        _handle = null;
        _pendingLength = 0;
        _lastOpenAttempt = _time.GetTimestamp();
        HealthLog.ReadFailed(_logger, _options.Path, errno, _options.RetryInterval.TotalSeconds);
        _status = new KernelLogStatus(KernelLogState.Unavailable, $"Reading the kernel log {_options.Path} failed (errno {errno})");
    }

    /// <summary>Moves to <paramref name="state"/>, logging only when the state changes: a failure is reported once, not at every retry.</summary>
    private void SetStatus(KernelLogState state, string? message)
    {
        var previous = _status;
        _status = new KernelLogStatus(state, message);
        if (previous.State == state)
        {
            return;
        }

        switch (state)
        {
            case KernelLogState.Following:
                HealthLog.Following(_logger, _options.Path);
                break;
            case KernelLogState.PermissionDenied:
                HealthLog.PermissionDenied(_logger, message!);
                break;
            case KernelLogState.Unavailable:
                HealthLog.Unavailable(_logger, message!);
                break;
            default:
                break;
        }
    }

    /// <summary>Handles every complete line in the pending bytes and keeps the incomplete rest.</summary>
    private int TakeLines(ICollection<KernelXid> xids)
    {
        var added = 0;
        var span = _pending.AsSpan(0, _pendingLength);
        int newline;
        while ((newline = span.IndexOf((byte)'\n')) >= 0)
        {
            if (_skippingLongLine)
            {
                _skippingLongLine = false;
            }
            else if (TakeRecord(span[..newline], out var xid))
            {
                xids.Add(xid);
                added++;
            }

            span = span[(newline + 1)..];
        }

        if (span.Length == _pending.Length)
        {
            // A line longer than any kernel record: drop it, and what follows up to its end.
            if (!_skippingLongLine)
            {
                HealthLog.LineTooLong(_logger, _pending.Length);
            }

            _skippingLongLine = true;
            span = [];
        }

        span.CopyTo(_pending);
        _pendingLength = span.Length;
        return added;
    }

    private bool TakeRecord(ReadOnlySpan<byte> line, out KernelXid xid)
    {
        xid = null!;
        if (line.IsEmpty || line[0] == (byte)' ' || !KmsgRecord.TryParse(line, out var record))
        {
            // Dictionary lines (" SUBSYSTEM=pci") belong to the record before them.
            return false;
        }

        if (record.Sequence <= _skipThrough)
        {
            return false;
        }

        _skipThrough = null;
        _lastSequence = record.Sequence;
        if (line.IndexOf(KernelXidParser.MarkerUtf8) < 0 || !KernelXidParser.TryParse(record.Message, out var parsed))
        {
            return false;
        }

        xid = parsed with { Sequence = record.Sequence, TimestampMicroseconds = record.TimestampMicroseconds, ObservedAt = _time.GetUtcNow() };
        HealthLog.Xid(_logger, xid.Xid, xid.PciBusId, xid.Text);
        return true;
    }
}
