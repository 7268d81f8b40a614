using System.Globalization;
using System.Text;

namespace Gantry.Cli.Http;

/// <summary>
/// Reads an HTTP/1.1 answer off a connection: header lines, then the body in whichever framing the
/// server chose (<c>Content-Length</c>, <c>chunked</c>, or until the connection closes). Keeps what
/// it read ahead in one buffer, so the body starts exactly where the header ended.
/// </summary>
/// <remarks>
/// Every read takes <c>async</c>: false reads the connection synchronously, and the returned task is
/// then already complete. A CLI call reads its answer that way (no thread-pool hops, no state-machine
/// boxes to compile at start-up); streams that stay open (followed logs, <c>gantry top</c>) read asynchronously.
/// </remarks>
internal sealed class Http1Reader(Stream connection)
{
    /// <summary>Longest header section accepted, status line included; a longer one is not from our server.</summary>
    public const int MaxHeaderBytes = 64 * 1024;

    /// <summary>Longest chunk-size line accepted (hex size plus extensions).</summary>
    private const int MaxChunkLineBytes = 1024;

    private readonly byte[] _buffer = new byte[16 * 1024];
    private int _start;
    private int _end;

    /// <summary>
    /// Reads one line ending in CRLF (a bare LF is accepted too) and returns it without its end, as
    /// Latin-1 text; a line longer than <paramref name="maxBytes"/> is refused.
    /// </summary>
    public async ValueTask<string> ReadLineAsync(int maxBytes, bool async, CancellationToken cancellationToken)
    {
        var line = new StringBuilder();
        var budget = maxBytes;
        while (true)
        {
            if (_start == _end && await FillAsync(async, cancellationToken).ConfigureAwait(false) == 0)
            {
                throw new IOException("the server closed the connection before its answer ended");
            }

            var span = _buffer.AsSpan(_start, _end - _start);
            var newline = span.IndexOf((byte)'\n');
            var take = newline < 0 ? span.Length : newline + 1;
            budget -= take;
            if (budget < 0)
            {
                throw new IOException("the answer's header is too long to be from a Gantry server");
            }

            line.Append(Encoding.Latin1.GetString(span[..(newline < 0 ? take : newline)]));
            _start += take;
            if (newline >= 0)
            {
                return line.Length > 0 && line[^1] == '\r' ? line.ToString(0, line.Length - 1) : line.ToString();
            }
        }
    }

    /// <summary>Reads up to <paramref name="destination"/>'s length: what is buffered first, then straight from the connection. 0 at its end.</summary>
    public async ValueTask<int> ReadAsync(Memory<byte> destination, bool async, CancellationToken cancellationToken)
    {
        if (_start < _end)
        {
            var count = Math.Min(destination.Length, _end - _start);
            _buffer.AsMemory(_start, count).CopyTo(destination);
            _start += count;
            return count;
        }

        if (destination.Length >= _buffer.Length)
        {
            return async ? await connection.ReadAsync(destination, cancellationToken).ConfigureAwait(false) : connection.Read(destination.Span);
        }

        return await FillAsync(async, cancellationToken).ConfigureAwait(false) == 0
            ? 0
            : await ReadAsync(destination, async, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads a chunk's size line (<c>1a3f;ext=1</c>).</summary>
    public async ValueTask<long> ReadChunkSizeAsync(bool async, CancellationToken cancellationToken)
    {
        var line = await ReadLineAsync(MaxChunkLineBytes, async, cancellationToken).ConfigureAwait(false);
        var semicolon = line.IndexOf(';', StringComparison.Ordinal);
        var digits = (semicolon < 0 ? line : line[..semicolon]).Trim();
        if (digits.Length is 0 or > 15 || !long.TryParse(digits, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var size))
        {
            throw new IOException($"the server sent a malformed chunk size '{Shorten(line)}'");
        }

        return size;
    }

    /// <summary>The result of a read made with <c>async: false</c>, which has completed by the time it returns.</summary>
    internal static T Completed<T>(ValueTask<T> read) =>
        read.IsCompleted ? read.Result : read.AsTask().GetAwaiter().GetResult();

    /// <summary>Shows at most 40 characters of what the server sent, for error messages.</summary>
    internal static string Shorten(string text) => text.Length > 40 ? text[..40] + "…" : text;

    private async ValueTask<int> FillAsync(bool async, CancellationToken cancellationToken)
    {
        _start = 0;
        _end = async ? await connection.ReadAsync(_buffer, cancellationToken).ConfigureAwait(false) : connection.Read(_buffer);
        return _end;
    }
}
