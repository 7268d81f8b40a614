namespace Gantry.Cli.Http;

/// <summary>
/// An HTTP/1.1 answer's body: ends after <c>Content-Length</c> bytes, after the last chunk of a
/// <c>chunked</c> body, or when the server closes the connection (no length given). A connection that
/// closes before a declared end is an <see cref="IOException"/>, never a silently short body.
/// Owns the connection and closes it when disposed.
/// </summary>
internal sealed class Http1BodyStream : Stream
{
    private readonly Http1Reader _reader;
    private readonly Stream _connection;
    private readonly bool _chunked;
    private long _remaining;
    private bool _inChunk;
    private bool _done;

    private Http1BodyStream(Http1Reader reader, Stream connection, bool chunked, long remaining, bool done)
    {
        _reader = reader;
        _connection = connection;
        _chunked = chunked;
        _remaining = remaining;
        _done = done;
    }

    /// <summary>A body of exactly <paramref name="length"/> bytes.</summary>
    public static Http1BodyStream WithLength(Http1Reader reader, Stream connection, long length) =>
        new(reader, connection, chunked: false, length, done: length == 0);

    /// <summary>A body in <c>Transfer-Encoding: chunked</c>.</summary>
    public static Http1BodyStream Chunked(Http1Reader reader, Stream connection) =>
        new(reader, connection, chunked: true, remaining: 0, done: false);

    /// <summary>A body that ends when the connection does.</summary>
    public static Http1BodyStream UntilClose(Http1Reader reader, Stream connection) =>
        new(reader, connection, chunked: false, remaining: -1, done: false);

    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => false;

    public override long Length => throw new NotSupportedException();

    public override long Position
    {
        get => throw new NotSupportedException();
        set => throw new NotSupportedException();
    }

    public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default) =>
        ReadCoreAsync(buffer, async: true, cancellationToken);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadCoreAsync(buffer.AsMemory(offset, count), async: true, cancellationToken).AsTask();

    /// <summary>Reads synchronously: the task below completes before it returns.</summary>
    public override int Read(byte[] buffer, int offset, int count) =>
        Http1Reader.Completed(ReadCoreAsync(buffer.AsMemory(offset, count), async: false, CancellationToken.None));

    public override void Flush()
    {
    }

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _connection.Dispose();
        }

        base.Dispose(disposing);
    }

    private async ValueTask<int> ReadCoreAsync(Memory<byte> buffer, bool async, CancellationToken cancellationToken)
    {
        if (_done || buffer.IsEmpty)
        {
            return 0;
        }

        if (_chunked && !_inChunk)
        {
            _remaining = await _reader.ReadChunkSizeAsync(async, cancellationToken).ConfigureAwait(false);
            if (_remaining == 0)
            {
                await SkipTrailersAsync(async, cancellationToken).ConfigureAwait(false);
                _done = true;
                return 0;
            }

            _inChunk = true;
        }

        var want = _remaining < 0 ? buffer.Length : (int)Math.Min(buffer.Length, _remaining);
        var read = await _reader.ReadAsync(buffer[..want], async, cancellationToken).ConfigureAwait(false);
        if (read == 0)
        {
            if (_remaining < 0)
            {
                _done = true;
                return 0;
            }

            throw new IOException("the server closed the connection before its answer ended");
        }

        if (_remaining > 0)
        {
            _remaining -= read;
            if (_remaining == 0)
            {
                if (_chunked)
                {
                    await EndChunkAsync(async, cancellationToken).ConfigureAwait(false);
                }
                else
                {
                    _done = true;
                }
            }
        }

        return read;
    }

    private async ValueTask EndChunkAsync(bool async, CancellationToken cancellationToken)
    {
        _inChunk = false;
        var end = await _reader.ReadLineAsync(maxBytes: 1024, async, cancellationToken).ConfigureAwait(false);
        if (end.Length != 0)
        {
            throw new IOException("the server sent a chunk longer than its size");
        }
    }

    private async ValueTask SkipTrailersAsync(bool async, CancellationToken cancellationToken)
    {
        var budget = Http1Reader.MaxHeaderBytes;
        while (true)
        {
            var line = await _reader.ReadLineAsync(budget, async, cancellationToken).ConfigureAwait(false);
            if (line.Length == 0)
            {
                return;
            }

            budget -= line.Length + 2;
        }
    }
}
