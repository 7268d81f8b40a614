using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Core.Jobs;

/// <summary>
/// The cap on how much of one attempt's output stream is stored (<c>gantry server --max-job-log</c>).
/// Chunks carry their offset in the stream, so the cap needs no running count: text before the
/// limit is kept, the chunk that crosses it is cut there, and one note at exactly the limit's
/// offset says the rest was dropped. Uploads may be retried, and the store ignores a chunk whose
/// (stream, offset) it already holds, so the note is stored once however often it is produced.
/// </summary>
public static class LogLimit
{
    /// <summary>The default: 64 MiB of text per attempt and stream.</summary>
    public const long DefaultChars = 64L * 1024 * 1024;

    /// <summary>The smallest limit accepted.</summary>
    public const long MinChars = 4 * 1024;

    /// <summary>
    /// The chunks of <paramref name="chunk"/> to store under a limit of <paramref name="limit"/>
    /// characters per stream: the chunk itself when it ends within the limit; its part before the
    /// limit (never splitting a surrogate pair) and the note when it crosses it; only the note when
    /// it starts at or after it.
    /// </summary>
    public static IEnumerable<LogChunk> Clip(LogChunk chunk, long limit)
    {
        ArgumentNullException.ThrowIfNull(chunk);
        if (chunk.Offset + chunk.Data.Length <= limit)
        {
            yield return chunk;
            yield break;
        }

        if (chunk.Offset < limit)
        {
            var keep = (int)(limit - chunk.Offset);
            if (keep > 0 && char.IsHighSurrogate(chunk.Data[keep - 1]))
            {
                keep--;
            }

            if (keep > 0)
            {
                yield return chunk with { Data = chunk.Data[..keep] };
            }
        }

        yield return new LogChunk { Stream = chunk.Stream, Offset = limit, Data = Note(chunk.Stream, limit) };
    }

    /// <summary>The line stored where a stream's output stops being kept.</summary>
    public static string Note(LogSource stream, long limit) =>
        $"\n[gantry: {(stream == LogSource.Stdout ? "stdout" : "stderr")} passed the server's limit of {Sizes.Format(limit)} per job attempt (--max-job-log); the rest of it was not stored]\n";
}
