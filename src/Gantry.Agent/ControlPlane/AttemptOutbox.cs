using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.ControlPlane;

/// <summary>
/// Delivers what the job runner reports to the control plane: per attempt, events and log uploads
/// go out strictly in order, each retried with backoff until the server takes it. Output is
/// batched (sent when <see cref="LogBatchSize"/> characters are waiting, when <see cref="LogLinger"/>
/// passed, or at once when an event follows it), so an attempt's remaining output always goes out
/// before its <c>ended</c> event and a short job costs two or three requests in all. A 409 means
/// the server fenced the attempt: its process is stopped and everything queued for it dropped.
/// </summary>
internal sealed class AttemptOutbox : IAttemptSink, IAsyncDisposable
{
    public static readonly TimeSpan LogLinger = TimeSpan.FromMilliseconds(200);
    public const int LogBatchSize = 64 * 1024;

    /// <summary>Output buffered per attempt while the server is unreachable before more is dropped.</summary>
    public const int MaxBufferedChars = 16 * 1024 * 1024;

    private readonly Lock _gate = new();
    private readonly Dictionary<AttemptKey, AttemptQueue> _queues = [];
    private readonly ControlPlaneClient _client;
    private readonly NodeSession _session;
    private readonly ServerConnection _connection;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _pumps = [];

    public AttemptOutbox(ControlPlaneClient client, NodeSession session, ServerConnection connection, TimeProvider time, ILogger<AttemptOutbox> logger)
    {
        _client = client;
        _session = session;
        _connection = connection;
        _time = time;
        _logger = logger;
    }

    /// <summary>Called with an attempt the server fenced (409), to stop its process.</summary>
    public Action<AttemptKey>? Fenced { get; set; }

    /// <summary>Attempts with an <c>ended</c> event not yet delivered (the server still counts them as live).</summary>
    public List<AttemptKey> Undelivered()
    {
        lock (_gate)
        {
            var keys = new List<AttemptKey>(_queues.Count);
            foreach (var (key, queue) in _queues)
            {
                if (!queue.Fenced)
                {
                    keys.Add(key);
                }
            }

            return keys;
        }
    }

    /// <summary>True when nothing is waiting to be delivered.</summary>
    public bool Idle
    {
        get
        {
            lock (_gate)
            {
                return _queues.Count == 0;
            }
        }
    }

    public void Event(AttemptKey key, AttemptEvent attemptEvent)
    {
        ArgumentNullException.ThrowIfNull(attemptEvent);
        var queue = QueueFor(key);
        var ended = attemptEvent.Type == AttemptEventType.Ended;
        lock (queue.Gate)
        {
            if (queue.Fenced)
            {
                if (ended)
                {
                    Forget(key, queue);
                }

                return;
            }

            queue.Items.Add(new Item(attemptEvent, null));
            queue.EndQueued |= ended;
            Wake(key, queue);
        }
    }

    public void Output(AttemptKey key, LogSource stream, string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        if (text.Length == 0)
        {
            return;
        }

        var queue = QueueFor(key);
        lock (queue.Gate)
        {
            var offset = queue.Offsets[(int)stream];
            queue.Offsets[(int)stream] = offset + text.Length;
            if (queue.Fenced)
            {
                return;
            }

            if (queue.BufferedChars + text.Length > MaxBufferedChars)
            {
                // Later chunks keep their true offsets, so the server sees a gap, not shifted text.
                if (!queue.DroppingOutput)
                {
                    queue.DroppingOutput = true;
                    AgentLog.OutputDropped(_logger, key.JobId, key.Attempt, MaxBufferedChars);
                }

                return;
            }

            queue.BufferedChars += text.Length;
            if (queue.Items.Count > 0 && queue.Items[^1] is { Logs: { Sealed: false } open })
            {
                if (open.Chunks[^1] is var last && last.Stream == stream && last.Offset + last.Data.Length == offset)
                {
                    open.Chunks[^1] = last with { Data = last.Data + text };
                }
                else
                {
                    open.Chunks.Add(new LogChunk { Stream = stream, Offset = offset, Data = text });
                }

                open.Chars += text.Length;
            }
            else
            {
                var batch = new LogBatch(_time.GetTimestamp());
                batch.Chunks.Add(new LogChunk { Stream = stream, Offset = offset, Data = text });
                batch.Chars = text.Length;
                queue.Items.Add(new Item(null, batch));
            }

            Wake(key, queue);
        }
    }

    /// <summary>Waits until everything queued was delivered or dropped, or the token fires.</summary>
    public async Task FlushAsync(CancellationToken cancellationToken)
    {
        while (!Idle)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, cancellationToken).ConfigureAwait(false);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        Task[] pumps;
        lock (_gate)
        {
            pumps = [.. _pumps];
        }

        await Task.WhenAll(pumps).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private AttemptQueue QueueFor(AttemptKey key)
    {
        lock (_gate)
        {
            if (!_queues.TryGetValue(key, out var queue))
            {
                _queues[key] = queue = new AttemptQueue();
            }

            return queue;
        }
    }

    private void Forget(AttemptKey key, AttemptQueue queue)
    {
        lock (_gate)
        {
            if (_queues.TryGetValue(key, out var current) && ReferenceEquals(current, queue))
            {
                _queues.Remove(key);
            }
        }
    }

    /// <summary>Starts the attempt's pump, or nudges the running one. Called under the queue's lock.</summary>
    private void Wake(AttemptKey key, AttemptQueue queue)
    {
        if (queue.Pumping)
        {
            queue.Signal.TrySetResult();
            return;
        }

        queue.Pumping = true;
        lock (_gate)
        {
            if (_stopping.IsCancellationRequested)
            {
                return;
            }

            _pumps.RemoveAll(static t => t.IsCompleted);
            _pumps.Add(Task.Run(() => PumpAsync(key, queue, _stopping.Token)));
        }
    }

    private async Task PumpAsync(AttemptKey key, AttemptQueue queue, CancellationToken cancellationToken)
    {
        var backoff = _client.NewBackoff();
        try
        {
            while (true)
            {
                Item item;
                Task? wait = null;
                lock (queue.Gate)
                {
                    if (queue.Items.Count == 0 || queue.Fenced)
                    {
                        queue.Pumping = false;
                        return;
                    }

                    item = queue.Items[0];
                    if (item.Logs is { Sealed: false } logs)
                    {
                        var age = _time.GetElapsedTime(logs.CreatedAt);
                        if (queue.Items.Count == 1 && logs.Chars < LogBatchSize && age < LogLinger)
                        {
                            queue.Signal = new(TaskCreationOptions.RunContinuationsAsynchronously);
                            wait = Task.WhenAny(queue.Signal.Task, Task.Delay(LogLinger - age, _time, cancellationToken));
                        }
                        else
                        {
                            logs.Sealed = true;
                        }
                    }
                }

                if (wait is not null)
                {
                    await wait.ConfigureAwait(false);
                    cancellationToken.ThrowIfCancellationRequested();
                    continue;
                }

                var registration = await _session.WaitAsync(cancellationToken).ConfigureAwait(false);
                var result = item.Event is { } attemptEvent
                    ? await _client.PostEventAsync(key, registration.Credential, attemptEvent, cancellationToken).ConfigureAwait(false)
                    : await _client.PostLogsAsync(key, registration.Credential, new LogUpload { Epoch = key.Epoch, Chunks = item.Logs!.Chunks }, cancellationToken).ConfigureAwait(false);

                if (result.Ok || (!result.Transient && result.Status != 401))
                {
                    _connection.Succeeded();
                    backoff.Reset();
                    // 409: a stale epoch or an attempt no longer live; 404/403: not (or no longer) this node's.
                    if (result.Status is 409 or 404 or 403)
                    {
                        Fence(key, queue);
                        continue;
                    }

                    if (!result.Ok)
                    {
                        // A request the server will never take (400): retrying would block the attempt forever.
                        AgentLog.UploadRefused(_logger, key.JobId, key.Attempt, result.Status, result.Detail ?? "");
                    }

                    Delivered(key, queue, item);
                    continue;
                }

                if (result.Status == 401)
                {
                    _session.Invalidate(registration);
                    continue;
                }

                if (result.Error is { } error)
                {
                    _connection.Failed(error);
                }

                await _connection.WaitOutBackoffAsync(backoff.Next(), cancellationToken).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // The agent is stopping.
        }
    }

    private void Delivered(AttemptKey key, AttemptQueue queue, Item item)
    {
        lock (queue.Gate)
        {
            queue.Items.RemoveAt(0);
            if (item.Logs is { } logs)
            {
                queue.BufferedChars -= logs.Chars;
            }

            if (item.Event is { Type: AttemptEventType.Ended })
            {
                Forget(key, queue);
            }
        }
    }

    private void Fence(AttemptKey key, AttemptQueue queue)
    {
        bool endQueued;
        lock (queue.Gate)
        {
            queue.Fenced = true;
            queue.Items.Clear();
            queue.BufferedChars = 0;
            endQueued = queue.EndQueued;
            if (endQueued)
            {
                Forget(key, queue);
            }
        }

        AgentLog.AttemptFenced(_logger, key.JobId, key.Attempt, key.Epoch);
        if (!endQueued)
        {
            // Its process still runs (or has not reported its end yet): stop it; its end is dropped.
            Fenced?.Invoke(key);
        }
    }

    private sealed record Item(AttemptEvent? Event, LogBatch? Logs);

    private sealed class LogBatch(long createdAt)
    {
        public long CreatedAt { get; } = createdAt;
        public List<LogChunk> Chunks { get; } = [];
        public int Chars { get; set; }

        /// <summary>Set once the batch is being sent: later output goes into a new batch.</summary>
        public bool Sealed { get; set; }
    }

    private sealed class AttemptQueue
    {
        public Lock Gate { get; } = new();
        public List<Item> Items { get; } = [];
        public long[] Offsets { get; } = new long[2];
        public int BufferedChars { get; set; }
        public bool Pumping { get; set; }
        public bool Fenced { get; set; }
        public bool EndQueued { get; set; }
        public bool DroppingOutput { get; set; }
        public TaskCompletionSource Signal { get; set; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
