using System.Collections.Concurrent;
using System.Text;
using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>Keeps every call the job runner makes, in order.</summary>
internal sealed class RecordingSink : IAttemptSink
{
    private readonly Lock _gate = new();
    private readonly List<(AttemptKey Key, AttemptEvent? Event, LogSource Stream, string? Text)> _calls = [];
    private readonly ConcurrentDictionary<AttemptKey, TaskCompletionSource<AttemptEvent>> _started = new();
    private readonly ConcurrentDictionary<AttemptKey, TaskCompletionSource<AttemptEvent>> _ended = new();

    public void Event(AttemptKey key, AttemptEvent attemptEvent)
    {
        lock (_gate)
        {
            _calls.Add((key, attemptEvent, default, null));
        }

        var map = attemptEvent.Type == AttemptEventType.Started ? _started : _ended;
        map.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult(attemptEvent);
    }

    public void Output(AttemptKey key, LogSource stream, string text)
    {
        lock (_gate)
        {
            _calls.Add((key, null, stream, text));
        }
    }

    public Task<AttemptEvent> StartedAsync(AttemptKey key) =>
        _started.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(TimeSpan.FromSeconds(30));

    public Task<AttemptEvent> EndedAsync(AttemptKey key) =>
        _ended.GetOrAdd(key, _ => new(TaskCreationOptions.RunContinuationsAsynchronously)).Task.WaitAsync(TimeSpan.FromSeconds(30));

    public List<(AttemptEvent? Event, LogSource Stream, string? Text)> CallsFor(AttemptKey key)
    {
        lock (_gate)
        {
            return _calls.Where(c => c.Key == key).Select(c => (c.Event, c.Stream, c.Text)).ToList();
        }
    }

    public string Text(AttemptKey key, LogSource stream)
    {
        var text = new StringBuilder();
        foreach (var call in CallsFor(key))
        {
            if (call.Text is not null && call.Stream == stream)
            {
                text.Append(call.Text);
            }
        }

        return text.ToString();
    }
}
