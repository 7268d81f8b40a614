using BenchmarkDotNet.Attributes;
using Gantry.Agent.Sampling;
using Gantry.Telemetry.Exposition;
using Gantry.Telemetry.Model;

namespace Gantry.Benchmarks;

/// <summary>
/// Scrape rendering: what the agent does once per sample (<see cref="SnapshotPublisher.Publish"/>)
/// so that scrapes only copy bytes. <see cref="Render"/> is <see cref="PrometheusRenderer.Render(NodeSnapshot, bool)"/>
/// of a real sample of this machine plus 8 simulated GPUs; <see cref="Gzip"/> is the gzip body
/// <see cref="Rendering.MetricsGzip"/> makes on the first <c>Accept-Encoding: gzip</c> scrape.
/// </summary>
[MemoryDiagnoser]
public class ScrapeBenchmark
{
    private NodeSnapshot _snapshot = null!;
    private byte[] _text = null!;
    private byte[] _status = null!;

    /// <summary>With <c>--dcgm-compat</c>: dcgm-exporter's families as well.</summary>
    [Params(false, true)]
    public bool DcgmCompat { get; set; }

    [GlobalSetup]
    public async Task Setup()
    {
        _snapshot = (await NodeSample.TakeAsync(CancellationToken.None).ConfigureAwait(false)).Current;
        _text = PrometheusRenderer.Render(_snapshot, DcgmCompat);
        _status = StatusJson.Render(_snapshot);
    }

    [Benchmark]
    public byte[] Render() => PrometheusRenderer.Render(_snapshot, DcgmCompat);

    // A fresh Rendering each time: MetricsGzip compresses once per instance and caches.
    [Benchmark]
    public byte[] Gzip() => new Rendering(_snapshot, _text, _status).MetricsGzip;

    /// <summary>Body sizes for the report: (plain bytes, gzip bytes, samples, lines) of a fresh sample.</summary>
    internal static async Task<(int Plain, int Gzip, int Samples, int Lines)> SizesAsync(bool dcgmCompat, CancellationToken cancellationToken)
    {
        var snapshot = (await NodeSample.TakeAsync(cancellationToken).ConfigureAwait(false)).Current;
        var text = PrometheusRenderer.Render(snapshot, dcgmCompat);
        var gzip = new Rendering(snapshot, text, []).MetricsGzip;
        int lines = 0, samples = 0;
        var start = 0;
        for (var i = 0; i < text.Length; i++)
        {
            if (text[i] == (byte)'\n')
            {
                lines++;
                if (text[start] != (byte)'#')
                {
                    samples++;
                }

                start = i + 1;
            }
        }

        return (text.Length, gzip.Length, samples, lines);
    }
}
