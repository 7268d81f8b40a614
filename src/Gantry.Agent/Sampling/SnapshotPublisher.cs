using System.IO.Compression;
using System.Threading.Channels;
using Gantry.Telemetry.Exposition;
using Gantry.Telemetry.Model;

namespace Gantry.Agent.Sampling;

/// <summary>
/// One sample, rendered once: Prometheus text, its gzip form (made on first demand) and JSON.
/// Scrapes serve these bytes and do no I/O and no rendering of their own.
/// </summary>
public sealed class Rendering(NodeSnapshot snapshot, byte[] metrics, byte[] status)
{
    private byte[]? _metricsGzip;

    public NodeSnapshot Snapshot { get; } = snapshot;
    public byte[] Metrics { get; } = metrics;
    public byte[] Status { get; } = status;

    /// <summary>The Prometheus text gzip-compressed; computed once per sample, on first demand.</summary>
    public byte[] MetricsGzip => _metricsGzip ??= Compress(Metrics);

    private static byte[] Compress(byte[] data)
    {
        using var output = new MemoryStream(data.Length / 4);
        using (var gzip = new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            gzip.Write(data);
        }

        return output.ToArray();
    }
}

/// <summary>
/// Holds the latest <see cref="Rendering"/> and fans each new one out to <c>/events</c>
/// subscribers. Slow subscribers drop old samples rather than hold memory.
/// </summary>
public sealed class SnapshotPublisher
{
    private readonly Lock _gate = new();
    private readonly List<Channel<Rendering>> _subscribers = [];
    private readonly TaskCompletionSource<Rendering> _first = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile Rendering? _latest;

    /// <summary>The latest rendering, or null before the first sample.</summary>
    public Rendering? Latest => _latest;

    /// <summary>Completes with the first rendering (at once when there is one).</summary>
    public Task<Rendering> FirstAsync(CancellationToken cancellationToken) => _first.Task.WaitAsync(cancellationToken);

    /// <summary>More Prometheus text appended to each sample's rendering (the GPUs' power caps); null for none.</summary>
    internal Func<byte[]>? ExtraMetrics { get; set; }

    /// <summary>Renders and publishes a new snapshot.</summary>
    public Rendering Publish(NodeSnapshot snapshot, bool dcgmCompat)
    {
        var metrics = PrometheusRenderer.Render(snapshot, dcgmCompat);
        if (ExtraMetrics?.Invoke() is { Length: > 0 } extra)
        {
            metrics = [.. metrics, .. extra];
        }

        var rendering = new Rendering(snapshot, metrics, StatusJson.Render(snapshot));
        _latest = rendering;
        _first.TrySetResult(rendering);
        lock (_gate)
        {
            foreach (var channel in _subscribers)
            {
                channel.Writer.TryWrite(rendering);
            }
        }

        return rendering;
    }

    /// <summary>Subscribes to new renderings until the token is cancelled.</summary>
    public async IAsyncEnumerable<Rendering> SubscribeAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
    {
        var channel = Channel.CreateBounded<Rendering>(new BoundedChannelOptions(4) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_gate)
        {
            _subscribers.Add(channel);
        }

        try
        {
            while (await channel.Reader.WaitToReadAsync(cancellationToken).ConfigureAwait(false))
            {
                while (channel.Reader.TryRead(out var rendering))
                {
                    yield return rendering;
                }
            }
        }
        finally
        {
            lock (_gate)
            {
                _subscribers.Remove(channel);
            }
        }
    }
}
