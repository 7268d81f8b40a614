using System.Threading.Channels;
using Gantry.Core.Protocol;

namespace Gantry.Server.Telemetry;

/// <summary>
/// The hand-off between heartbeats and the telemetry store: a bounded queue of summaries.
/// <see cref="Enqueue"/> never blocks and never does I/O, so a heartbeat's answer is not delayed;
/// when the writer falls behind and the queue is full the summary is dropped and counted.
/// </summary>
internal sealed class TelemetryIngest
{
    /// <summary>Summaries the queue holds: 10,000 nodes' worth of heartbeats, 5 s at the default interval.</summary>
    public const int Capacity = 10_000;

    // A sample stamped by an agent whose clock is this far off the server's is stamped with the
    // server's time instead, so one skewed node cannot write into the past or the future.
    private static readonly TimeSpan MaxSkew = TimeSpan.FromMinutes(1);

    private readonly Channel<TelemetryItem> _queue = Channel.CreateBounded<TelemetryItem>(new BoundedChannelOptions(Capacity)
    {
        SingleReader = true,
        SingleWriter = false,
        FullMode = BoundedChannelFullMode.Wait,
    });

    private readonly TimeProvider _time;
    private long _dropped;

    public TelemetryIngest(TimeProvider time) => _time = time;

    /// <summary>The fleet's energy since midnight, integrated from every summary queued.</summary>
    public EnergyToday Energy { get; } = new();

    /// <summary>Summaries dropped because the queue was full.</summary>
    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>The writer's end of the queue.</summary>
    public ChannelReader<TelemetryItem> Reader => _queue.Reader;

    /// <summary>Queues a heartbeat's summary (nothing when null); false when it was dropped.</summary>
    public bool Enqueue(string nodeId, NodeSummary? summary)
    {
        if (summary is null)
        {
            return true;
        }

        var now = _time.GetUtcNow();
        var at = summary.SampledAt;
        if (at > now + MaxSkew || at < now - MaxSkew)
        {
            at = now;
        }

        Energy.Add(nodeId, at, summary);
        if (_queue.Writer.TryWrite(new TelemetryItem(nodeId, at, summary)))
        {
            return true;
        }

        Interlocked.Increment(ref _dropped);
        return false;
    }
}
