using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Core.Tests.Jobs;

public sealed class LogLimitTests
{
    private static LogChunk Chunk(long offset, string data, LogSource stream = LogSource.Stdout) => new() { Stream = stream, Offset = offset, Data = data };

    [Fact]
    public void Clip_ChunkEndingWithinOrAtTheLimit_KeptWhole()
    {
        var chunk = Chunk(90, "0123456789");
        Assert.Same(chunk, Assert.Single(LogLimit.Clip(chunk, 100)));
        Assert.Same(chunk, Assert.Single(LogLimit.Clip(chunk, long.MaxValue)));
    }

    [Fact]
    public void Clip_ChunkCrossingTheLimit_CutThereAndNoteAtTheLimitsOffset()
    {
        var clipped = LogLimit.Clip(Chunk(95, "0123456789", LogSource.Stderr), 100).ToList();

        Assert.Equal(2, clipped.Count);
        Assert.Equal(95, clipped[0].Offset);
        Assert.Equal("01234", clipped[0].Data);
        Assert.Equal(LogSource.Stderr, clipped[0].Stream);
        Assert.Equal(100, clipped[1].Offset);
        Assert.Equal(LogSource.Stderr, clipped[1].Stream);
        Assert.Equal(LogLimit.Note(LogSource.Stderr, 100), clipped[1].Data);
        Assert.Contains("stderr passed the server's limit of 100 bytes", clipped[1].Data, StringComparison.Ordinal);
        Assert.StartsWith("\n", clipped[1].Data, StringComparison.Ordinal);
        Assert.EndsWith("\n", clipped[1].Data, StringComparison.Ordinal);
    }

    [Fact]
    public void Clip_ChunksPastTheLimit_OnlyTheSameNote()
    {
        // Every later chunk yields the same (stream, offset) note, which the store keeps once.
        var first = Assert.Single(LogLimit.Clip(Chunk(100, "abc"), 100));
        var later = Assert.Single(LogLimit.Clip(Chunk(5000, "def"), 100));
        Assert.Equal(first, later);
        Assert.Equal(100, first.Offset);
    }

    [Fact]
    public void Clip_CutInsideASurrogatePair_KeepsThePairOut()
    {
        var clipped = LogLimit.Clip(Chunk(0, "ab\U0001F600cd"), 3).ToList();

        Assert.Equal("ab", clipped[0].Data);
        Assert.Equal(3, clipped[1].Offset);
    }

    [Fact]
    public void Note_SaysWhichStreamAndTheLimitInBinaryUnits()
    {
        Assert.Contains("stdout passed the server's limit of 64 MiB per job attempt (--max-job-log)", LogLimit.Note(LogSource.Stdout, LogLimit.DefaultChars), StringComparison.Ordinal);
    }
}
