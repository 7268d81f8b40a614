using System.Text;
using Gantry.Cli.Http;

namespace Gantry.Cli.Tests;

public sealed class NdjsonReaderTests
{
    private static async Task<List<string>> ReadAll(Stream stream)
    {
        var lines = new List<string>();
        await foreach (var line in NdjsonReader.ReadLinesAsync(stream, CancellationToken.None))
        {
            lines.Add(Encoding.UTF8.GetString(line.Span));
        }

        return lines;
    }

    [Fact]
    public async Task ReadLinesAsync_OneByteAtATime_YieldsWholeLines()
    {
        var text = "{\"a\":1}\r\n\n{\"b\":\"é\"}\n{\"c\":3}";

        var lines = await ReadAll(new TrickleStream(Encoding.UTF8.GetBytes(text)));

        Assert.Equal(["{\"a\":1}", "{\"b\":\"é\"}", "{\"c\":3}"], lines);
    }

    [Fact]
    public async Task ReadLinesAsync_LineLongerThanBuffer_GrowsTheBuffer()
    {
        var longLine = "{\"data\":\"" + new string('x', 100_000) + "\"}";

        var lines = await ReadAll(new MemoryStream(Encoding.UTF8.GetBytes("{}\n" + longLine + "\n{}\n")));

        Assert.Equal(["{}", longLine, "{}"], lines);
    }

    /// <summary>Hands out one byte per read, as a slow network would.</summary>
    private sealed class TrickleStream(byte[] data) : MemoryStream(data)
    {
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
            base.ReadAsync(buffer[..Math.Min(1, buffer.Length)], cancellationToken);
    }
}
