using System.Buffers;
using System.Runtime.CompilerServices;

namespace Gantry.Cli.Http;

/// <summary>
/// Splits a newline-delimited JSON stream into lines as bytes arrive, so each record is handled the
/// moment its line is complete (a followed log shows output as the job writes it).
/// </summary>
internal static class NdjsonReader
{
    /// <summary>
    /// Yields each non-empty line without its line end. A yielded buffer is valid until the next
    /// iteration. A last line without a trailing newline is yielded too.
    /// </summary>
    public static async IAsyncEnumerable<ReadOnlyMemory<byte>> ReadLinesAsync(Stream stream, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(stream);
        var buffer = ArrayPool<byte>.Shared.Rent(16 * 1024);
        try
        {
            int start = 0, end = 0;
            while (true)
            {
                if (end == buffer.Length)
                {
                    if (start > 0)
                    {
                        // Move the unfinished line to the front.
                        Buffer.BlockCopy(buffer, start, buffer, 0, end - start);
                        end -= start;
                        start = 0;
                    }
                    else
                    {
                        // One line fills the buffer: grow it.
                        var larger = ArrayPool<byte>.Shared.Rent(buffer.Length * 2);
                        Buffer.BlockCopy(buffer, 0, larger, 0, end);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }
                }

                var read = await stream.ReadAsync(buffer.AsMemory(end), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    var rest = Trim(buffer.AsMemory(start, end - start));
                    if (!rest.IsEmpty)
                    {
                        yield return rest;
                    }

                    yield break;
                }

                var scanFrom = end;
                end += read;
                while (true)
                {
                    var newline = buffer.AsSpan(scanFrom, end - scanFrom).IndexOf((byte)'\n');
                    if (newline < 0)
                    {
                        break;
                    }

                    var lineEnd = scanFrom + newline;
                    var line = Trim(buffer.AsMemory(start, lineEnd - start));
                    start = scanFrom = lineEnd + 1;
                    if (!line.IsEmpty)
                    {
                        yield return line;
                    }
                }

                if (start == end)
                {
                    start = end = 0;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static ReadOnlyMemory<byte> Trim(ReadOnlyMemory<byte> line)
    {
        var span = line.Span;
        var length = span.Length;
        while (length > 0 && span[length - 1] is (byte)'\r' or (byte)' ' or (byte)'\t')
        {
            length--;
        }

        return line[..length];
    }
}
