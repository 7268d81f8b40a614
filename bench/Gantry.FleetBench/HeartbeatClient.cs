using System.Buffers.Text;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;

namespace Gantry.FleetBench;

/// <summary>A heartbeat to send: the node, its due time (<see cref="Stopwatch"/> ticks) and the phase it belongs to.</summary>
internal readonly record struct Heartbeat(int Node, long Due, Phase Phase);

/// <summary>
/// What becomes of a heartbeat: the answer's <paramref name="status"/> and the first bytes of its
/// <paramref name="body"/>, or the <paramref name="failure"/> (status 0) when there was no answer. Returns
/// true, with <paramref name="heartbeat"/> replaced, when the node has another heartbeat to send at once.
/// </summary>
internal delegate bool HeartbeatCompletion(ref Heartbeat heartbeat, int status, ReadOnlySpan<byte> body, string? failure);

/// <summary>
/// The driver's own HTTP/1.1 client for heartbeats, built to cost little CPU on the machine the driver
/// shares with the server (Linux only). One thread, named "heartbeats", does all of it: it calls the
/// schedule (which starts the heartbeats that are due and says when the next one is), and it drives a
/// fixed pool of keep-alive TCP connections to the server's address, non-blocking sockets in one epoll
/// set, sleeping in <c>epoll_pwait2</c> until the next heartbeat is due, an answer arrives or another
/// thread calls <see cref="Wake"/>. A heartbeat costs one send and, as a rule, one receive; nothing is
/// allocated for it, and no task, thread-pool work item or lock is involved.
/// <para>
/// Each connection carries one request at a time (no pipelining) and is opened when it is first needed.
/// The heartbeats the schedule starts join a first-in, first-out queue; when the schedule returns they
/// go to idle connections, and the rest wait for the next connection that is answered. Each node's
/// request line and headers (<c>Host</c>, <c>Authorization</c> with its credential, <c>Content-Type</c>)
/// are encoded once, when it registers; a request is that prefix, the body's <c>Content-Length</c> and
/// the body, copied into the connection's buffer. The answer is read into the connection's own buffer:
/// a body of <c>Content-Length</c> bytes, chunked (as Kestrel sends JSON), or up to the end of the
/// stream; the first 4 KiB of the body go to the completion.
/// </para>
/// <para>
/// A heartbeat fails, and its connection is closed and opened again for the next one, when the
/// connection cannot be opened or breaks ("SocketException" and the socket error), the server closes it
/// before the end of the answer ("IOException"), the answer is not HTTP/1.x ("InvalidDataException"),
/// or no answer has come within 60 s ("timeout"). On <see cref="Dispose"/> the heartbeats in flight or
/// queued fail as "stopped". An answer with <c>Connection: close</c> counts as usual; its connection is
/// opened again for the next heartbeat.
/// </para>
/// </summary>
internal sealed class HeartbeatClient : IDisposable
{
    private static readonly long RequestTimeout = 60 * Stopwatch.Frequency;

    private readonly IPEndPoint _endPoint;
    private readonly string _authority;
    private readonly byte[]?[] _heads;
    private readonly Func<int, byte[]> _body;
    private readonly HeartbeatCompletion _completion;
    private readonly Connection[] _connections;
    private readonly Stack<Connection> _idle;
    private readonly Queue<Heartbeat> _waiting = new(1024);
    private readonly Epoll _epoll;
    private readonly Thread _thread;
    private Func<long, long>? _schedule;
    private volatile bool _disposed;

    /// <param name="server">The server's base address (<c>http://</c>, an IP address or a host name).</param>
    /// <param name="nodes">Nodes that may register (indexes from 0).</param>
    /// <param name="connections">Keep-alive connections in the pool.</param>
    /// <param name="body">The current body of a node's heartbeat (shared arrays, never written to).</param>
    /// <param name="completion">Called on the client's thread with each heartbeat's outcome.</param>
    public HeartbeatClient(Uri server, int nodes, int connections, Func<int, byte[]> body, HeartbeatCompletion completion)
    {
        if (!OperatingSystem.IsLinux())
        {
            throw new PlatformNotSupportedException("the heartbeat client needs Linux (epoll)");
        }

        if (server.Scheme != Uri.UriSchemeHttp)
        {
            throw new InvalidOperationException($"the heartbeat client speaks plain HTTP only, not {server.Scheme}");
        }

        var address = IPAddress.TryParse(server.DnsSafeHost, out var parsed) ? parsed
            : Dns.GetHostAddresses(server.DnsSafeHost).OrderBy(a => a.AddressFamily == AddressFamily.InterNetwork ? 0 : 1).First();
        _endPoint = new IPEndPoint(address, server.Port);
        _authority = server.Authority;
        _heads = new byte[]?[nodes];
        _body = body;
        _completion = completion;
        _epoll = new Epoll();
        _connections = new Connection[connections];
        _idle = new Stack<Connection>(connections);
        for (var c = connections - 1; c >= 0; c--)
        {
            _connections[c] = new Connection(this, c);
            _idle.Push(_connections[c]);
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "heartbeats", Priority = ThreadPriority.AboveNormal };
    }

    /// <summary>Whether <paramref name="node"/> has registered (<see cref="Register"/>), so that it can heartbeat.</summary>
    public bool IsRegistered(int node) => Volatile.Read(ref _heads[node]) is not null;

    /// <summary>Encodes the request line and headers of <paramref name="node"/>'s heartbeats, up to the body's length.</summary>
    public void Register(int node, string nodeId, string credential)
    {
        if (!Ascii.IsValid(credential) || credential.AsSpan().ContainsAny('\r', '\n', '\0'))
        {
            throw new InvalidOperationException($"node {nodeId}: the credential cannot go into a header");
        }

        var head = $"POST /api/v1/nodes/{Uri.EscapeDataString(nodeId)}/heartbeat HTTP/1.1\r\nHost: {_authority}\r\nAuthorization: Bearer {credential}\r\nContent-Type: application/json\r\nContent-Length: ";
        Volatile.Write(ref _heads[node], Encoding.ASCII.GetBytes(head));
    }

    /// <summary>
    /// Starts the client's thread. It calls <paramref name="schedule"/> with the time (<see cref="Stopwatch"/>
    /// ticks) whenever it wakes; the schedule <see cref="Send"/>s what is due and returns when to call it again.
    /// </summary>
    public void Start(Func<long, long> schedule)
    {
        _schedule = schedule;
        _thread.Start();
    }

    /// <summary>
    /// Queues a heartbeat; it goes to an idle connection as soon as the schedule returns, or to the next
    /// connection that is answered. Only on the client's thread (from the schedule).
    /// </summary>
    public void Send(in Heartbeat heartbeat)
    {
        Debug.Assert(Thread.CurrentThread == _thread, "heartbeats are sent from the client's thread");
        _waiting.Enqueue(heartbeat);
    }

    /// <summary>Wakes the client's thread, so that it calls the schedule now (from any thread: a resume, a stop).</summary>
    public void Wake()
    {
        if (!_disposed)
        {
            _epoll.Wake();
        }
    }

    /// <summary>Stops the thread: the heartbeats in flight and queued fail as "stopped", the connections close.</summary>
    public void Dispose()
    {
        _disposed = true;
        if (_thread.IsAlive)
        {
            _epoll.Wake();
            _thread.Join();
        }
        else
        {
            _epoll.Dispose();
        }
    }

    private void Run()
    {
        var events = Epoll.EventBuffer(256);
        var watchAt = 0L;
        while (!_disposed)
        {
            var now = Stopwatch.GetTimestamp();
            var wakeAt = _schedule!(now);
            while (_waiting.Count > 0 && _idle.TryPop(out var idle))
            {
                idle.Begin(_waiting.Dequeue());
            }

            if (now >= watchAt)
            {
                foreach (var connection in _connections)
                {
                    connection.FailIfStartedBefore(now - RequestTimeout);
                }

                watchAt = now + Stopwatch.Frequency;
            }

            var count = _epoll.Wait(events, Math.Min(wakeAt, watchAt) - Stopwatch.GetTimestamp());
            for (var e = 0; e < count; e++)
            {
                var (tag, ready) = Epoll.Event(events, e);
                if (tag == Epoll.WakeTag)
                {
                    _epoll.TakeWake();
                    continue;
                }

                var connection = _connections[(int)(uint)tag];
                // An event of a socket closed since (its connection may already have a new one) is dropped.
                if ((uint)(tag >> 32) == connection.Generation)
                {
                    connection.OnReady(ready);
                }
            }
        }

        foreach (var connection in _connections)
        {
            connection.Stop();
        }

        while (_waiting.TryDequeue(out var heartbeat))
        {
            while (_completion(ref heartbeat, 0, default, "stopped"))
            {
            }
        }

        _epoll.Dispose();
    }

    /// <summary>
    /// One keep-alive connection, driven by the client's thread: <see cref="Begin"/> a heartbeat (connecting
    /// first if it has no socket), write the request, read the answer as it comes (<see cref="OnReady"/>),
    /// report it and go on with the next heartbeat, or be idle.
    /// </summary>
    private sealed class Connection(HeartbeatClient client, int index)
    {
        private readonly ResponseReader _reader = new();
        private byte[] _request = new byte[4096];
        private int _requestLength;
        private int _requestSent;
        private Socket? _socket;
        private bool _connecting;
        private bool _wantsWrite;
        private Heartbeat _heartbeat;

        // When the heartbeat in flight started (ticks), 0 with none.
        private long _busySince;

        /// <summary>Counts the sockets this connection has opened; an epoll event carries the one it is for.</summary>
        public uint Generation { get; private set; }

        private ulong Tag => ((ulong)Generation << 32) | (uint)index;

        /// <summary>Takes a heartbeat: writes its request, after connecting if need be.</summary>
        public void Begin(in Heartbeat heartbeat)
        {
            _heartbeat = heartbeat;
            if (Start() is { } failure)
            {
                Finish(0, failure);
            }
        }

        /// <summary>Starts the current heartbeat; a failure that happens at once is returned (nothing is reported then).</summary>
        private string? Start()
        {
            _busySince = Stopwatch.GetTimestamp();
            _requestLength = WriteRequest(_heartbeat.Node);
            _requestSent = 0;
            _reader.Begin();
            if (_socket is null && Connect() is { } failure)
            {
                return failure;
            }

            return _connecting ? null : Write();
        }

        /// <summary>Opens a non-blocking socket and starts connecting (on loopback this mostly completes at once).</summary>
        private string? Connect()
        {
            Socket socket;
            try
            {
                socket = new Socket(client._endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { Blocking = false, NoDelay = true };
            }
            catch (SocketException ex)
            {
                // No socket to be had (out of file descriptors).
                return Failure(ex.SocketErrorCode);
            }

            _socket = socket;
            Generation++;
            _reader.Reset();
            try
            {
                socket.Connect(client._endPoint);
                _connecting = false;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress)
            {
                _connecting = true;
            }
            catch (SocketException ex)
            {
                Close();
                return Failure(ex.SocketErrorCode);
            }

            _wantsWrite = _connecting;
            client._epoll.Add(socket.Handle, _connecting ? Epoll.In | Epoll.Out : Epoll.In, Tag);
            return null;
        }

        /// <summary>Sends what is left of the request; waits for the socket to be writable again if it is full.</summary>
        private string? Write()
        {
            while (_requestSent < _requestLength)
            {
                var sent = _socket!.Send(_request.AsSpan(_requestSent, _requestLength - _requestSent), SocketFlags.None, out var error);
                if (error == SocketError.WouldBlock)
                {
                    WantWrite(true);
                    return null;
                }

                if (error != SocketError.Success)
                {
                    Close();
                    return Failure(error);
                }

                _requestSent += sent;
            }

            WantWrite(false);
            return null;
        }

        private void WantWrite(bool write)
        {
            if (_wantsWrite != write)
            {
                _wantsWrite = write;
                client._epoll.Modify(_socket!.Handle, write ? Epoll.In | Epoll.Out : Epoll.In, Tag);
            }
        }

        /// <summary>The socket is readable, writable or failed.</summary>
        public void OnReady(uint ready)
        {
            if (_socket is null)
            {
                return;
            }

            string? failure = null;
            if (_connecting)
            {
                if ((ready & (Epoll.Out | Epoll.Err | Epoll.Hup)) == 0)
                {
                    return;
                }

                _connecting = false;
                var error = (SocketError)(int)_socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                if (error != SocketError.Success)
                {
                    Close();
                    failure = Failure(error);
                }
                else
                {
                    failure = Write();
                }
            }
            else if ((ready & Epoll.Out) != 0 && _requestSent < _requestLength)
            {
                failure = Write();
            }

            if (failure is null && _socket is not null && (ready & (Epoll.In | Epoll.Err | Epoll.Hup)) != 0)
            {
                failure = Read();
            }

            if (failure is not null)
            {
                Finish(0, failure);
            }
        }

        /// <summary>Receives once (the socket is level-triggered: more to read wakes the thread again) and completes the heartbeat when its answer is whole.</summary>
        private string? Read()
        {
            var read = _socket!.Receive(_reader.FreeSpace(), SocketFlags.None, out var error);
            if (error == SocketError.WouldBlock)
            {
                return null;
            }

            if (_busySince == 0)
            {
                // Idle: the server closed the connection (or sent what nobody asked for). A new one is opened when needed.
                Close();
                return null;
            }

            if (error != SocketError.Success)
            {
                Close();
                return Failure(error);
            }

            try
            {
                if (read == 0)
                {
                    _reader.EndOfStream();
                }
                else
                {
                    _reader.Received(read);
                }

                if (!_reader.Advance())
                {
                    return null;
                }
            }
            catch (Exception ex) when (ex is IOException or InvalidDataException)
            {
                Close();
                return ex.GetType().Name;
            }

            if (_reader.Close || _requestSent < _requestLength)
            {
                Close();
            }

            Finish(_reader.Status, null);
            return null;
        }

        /// <summary>
        /// Reports the heartbeat, then goes on with the next (the node's own next one, or the queue's first)
        /// until one is in flight, or becomes idle. A loop, not a recursion: with the server gone every
        /// heartbeat of a long queue fails at once.
        /// </summary>
        private void Finish(int status, string? failure)
        {
            while (true)
            {
                _busySince = 0;
                var more = client._completion(ref _heartbeat, status, failure is null ? _reader.Body : default, failure);
                if (client._waiting.Count > 0)
                {
                    if (more)
                    {
                        client._waiting.Enqueue(_heartbeat);
                    }

                    _heartbeat = client._waiting.Dequeue();
                }
                else if (!more)
                {
                    client._idle.Push(this);
                    return;
                }

                if (client._disposed)
                {
                    failure = "stopped";
                }
                else if ((failure = Start()) is null)
                {
                    return;
                }

                status = 0;
            }
        }

        /// <summary>Fails the heartbeat in flight as "timeout" if it started before <paramref name="startedBefore"/>.</summary>
        public void FailIfStartedBefore(long startedBefore)
        {
            if (_busySince != 0 && _busySince < startedBefore)
            {
                Close();
                Finish(0, "timeout");
            }
        }

        /// <summary>The client stops: the heartbeat in flight fails as "stopped" (and so does its node's next one), the socket closes.</summary>
        public void Stop()
        {
            Close();
            if (_busySince != 0)
            {
                _busySince = 0;
                while (client._completion(ref _heartbeat, 0, default, "stopped"))
                {
                }
            }
        }

        private static string Failure(SocketError error) => $"{nameof(SocketException)} {error}";

        /// <summary>Copies the node's request head, the body's length and the body into the request buffer; returns the request's length.</summary>
        private int WriteRequest(int node)
        {
            var head = client._heads[node]!;
            var body = client._body(node);
            var length = head.Length + 14 + body.Length;
            if (_request.Length < length)
            {
                _request = new byte[Math.Max(length, _request.Length * 2)];
            }

            var span = _request.AsSpan();
            head.CopyTo(span);
            var at = head.Length;
            body.Length.TryFormat(span[at..], out var digits);
            at += digits;
            "\r\n\r\n"u8.CopyTo(span[at..]);
            at += 4;
            body.CopyTo(span[at..]);
            return at + body.Length;
        }

        /// <summary>Closes the socket (which takes it out of the epoll set); the next heartbeat opens a new one.</summary>
        private void Close()
        {
            if (_socket is not null)
            {
                _socket.Dispose();
                _socket = null;
                Generation++;
                _connecting = false;
                _wantsWrite = false;
                _reader.Reset();
            }
        }
    }

    /// <summary>
    /// Reads HTTP/1.1 answers from one connection's bytes, one at a time: the status line and headers
    /// (at most 64 KiB), then a body of <c>Content-Length</c> bytes, chunked, or up to the end of the
    /// stream, skipping interim (1xx) answers. Keeps the body's first 4 KiB; reuses its buffers.
    /// </summary>
    private sealed class ResponseReader
    {
        private const int MaxHead = 64 * 1024;
        private const int MaxChunkLine = 4096;
        private const int KeptBody = 4096;

        private readonly byte[] _body = new byte[KeptBody];
        private byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;
        private int _bodyLength;
        private long _remaining;
        private State _state;

        private enum State
        {
            Head,
            Body,
            ChunkSize,
            ChunkData,
            ChunkEnd,
            Trailer,
            UntilClose,
            Done,
        }

        /// <summary>The answer's status code.</summary>
        public int Status { get; private set; }

        /// <summary>Whether the server closes the connection after this answer.</summary>
        public bool Close { get; private set; }

        /// <summary>The body's first bytes (up to 4 KiB).</summary>
        public ReadOnlySpan<byte> Body => _body.AsSpan(0, _bodyLength);

        /// <summary>A new connection: nothing buffered.</summary>
        public void Reset() => _start = _end = 0;

        /// <summary>Expects the next answer.</summary>
        public void Begin()
        {
            _state = State.Head;
            _bodyLength = 0;
            Status = 0;
            Close = false;
        }

        /// <summary>Room to receive into: after the bytes not read yet, moved to the front or in a larger buffer when needed.</summary>
        public Span<byte> FreeSpace()
        {
            if (_start == _end)
            {
                _start = _end = 0;
            }
            else if (_end == _buffer.Length)
            {
                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }
                else
                {
                    // Only a head can fill the buffer (a body is consumed as it comes), and Advance limits that.
                    Array.Resize(ref _buffer, _buffer.Length * 2);
                }
            }

            return _buffer.AsSpan(_end);
        }

        public void Received(int count) => _end += count;

        /// <summary>The server closed the connection: the end of a body that runs until then, or an unfinished answer.</summary>
        public void EndOfStream()
        {
            if (_state != State.UntilClose)
            {
                throw new IOException("the server closed the connection before the end of the answer");
            }

            _state = State.Done;
        }

        /// <summary>Consumes what has been received; true once the answer is complete.</summary>
        public bool Advance()
        {
            while (true)
            {
                var data = _buffer.AsSpan(_start, _end - _start);
                switch (_state)
                {
                    case State.Head:
                        var headEnd = data.IndexOf("\r\n\r\n"u8);
                        if (headEnd < 0)
                        {
                            return data.Length <= MaxHead ? false : throw new InvalidDataException("answer head over 64 KiB");
                        }

                        ReadHead(data[..(headEnd + 2)]);
                        _start += headEnd + 4;
                        continue;
                    case State.Body:
                    case State.ChunkData:
                        var take = (int)Math.Min(data.Length, _remaining);
                        Keep(data[..take]);
                        _start += take;
                        _remaining -= take;
                        if (_remaining > 0)
                        {
                            return false;
                        }

                        _state = _state == State.Body ? State.Done : State.ChunkEnd;
                        continue;
                    case State.ChunkSize:
                        var lineEnd = data.IndexOf("\r\n"u8);
                        if (lineEnd < 0)
                        {
                            return data.Length <= MaxChunkLine ? false : throw new InvalidDataException("chunk size line too long");
                        }

                        var line = data[..lineEnd];
                        if (!Utf8Parser.TryParse(line, out long size, out var digits, 'x') || digits == 0 || size < 0
                            || (digits < line.Length && line[digits] is not ((byte)';' or (byte)' ' or (byte)'\t')))
                        {
                            throw new InvalidDataException("bad chunk size");
                        }

                        _start += lineEnd + 2;
                        _remaining = size;
                        _state = size == 0 ? State.Trailer : State.ChunkData;
                        continue;
                    case State.ChunkEnd:
                        if (data.Length < 2)
                        {
                            return false;
                        }

                        if (!data.StartsWith("\r\n"u8))
                        {
                            throw new InvalidDataException("chunk not followed by CRLF");
                        }

                        _start += 2;
                        _state = State.ChunkSize;
                        continue;
                    case State.Trailer:
                        var fieldEnd = data.IndexOf("\r\n"u8);
                        if (fieldEnd < 0)
                        {
                            return data.Length <= MaxHead ? false : throw new InvalidDataException("trailer over 64 KiB");
                        }

                        _start += fieldEnd + 2;
                        if (fieldEnd == 0)
                        {
                            _state = State.Done;
                        }

                        continue;
                    case State.UntilClose:
                        Keep(data);
                        _start = _end;
                        return false;
                    default:
                        return true;
                }
            }
        }

        /// <summary>Reads the status line and the headers (each line ending in CRLF) and sets what follows.</summary>
        private void ReadHead(ReadOnlySpan<byte> head)
        {
            var lineEnd = head.IndexOf("\r\n"u8);
            var statusLine = head[..lineEnd];
            if (statusLine.Length < 12 || !statusLine.StartsWith("HTTP/1."u8) || statusLine[8] != (byte)' '
                || !char.IsAsciiDigit((char)statusLine[9]) || !char.IsAsciiDigit((char)statusLine[10]) || !char.IsAsciiDigit((char)statusLine[11])
                || (statusLine.Length > 12 && statusLine[12] != (byte)' '))
            {
                throw new InvalidDataException("bad status line");
            }

            Status = ((statusLine[9] - '0') * 100) + ((statusLine[10] - '0') * 10) + (statusLine[11] - '0');
            var keepAlive = statusLine[7] != (byte)'0';
            long contentLength = -1;
            var chunked = false;
            var transferEncoding = false;
            for (var fields = head[(lineEnd + 2)..]; !fields.IsEmpty;)
            {
                var end = fields.IndexOf("\r\n"u8);
                var field = fields[..end];
                fields = fields[(end + 2)..];
                var colon = field.IndexOf((byte)':');
                if (colon <= 0)
                {
                    throw new InvalidDataException("bad header line");
                }

                var name = field[..colon];
                var value = field[(colon + 1)..].Trim(" \t"u8);
                if (Ascii.EqualsIgnoreCase(name, "Content-Length"u8))
                {
                    if (!Utf8Parser.TryParse(value, out contentLength, out var consumed) || consumed != value.Length || contentLength < 0)
                    {
                        throw new InvalidDataException("bad Content-Length");
                    }
                }
                else if (Ascii.EqualsIgnoreCase(name, "Transfer-Encoding"u8))
                {
                    transferEncoding = true;
                    var last = value.LastIndexOf((byte)',');
                    chunked = Ascii.EqualsIgnoreCase(value[(last + 1)..].Trim(" \t"u8), "chunked"u8);
                }
                else if (Ascii.EqualsIgnoreCase(name, "Connection"u8))
                {
                    foreach (var range in value.Split((byte)','))
                    {
                        var token = value[range].Trim(" \t"u8);
                        if (Ascii.EqualsIgnoreCase(token, "close"u8))
                        {
                            Close = true;
                        }
                        else if (Ascii.EqualsIgnoreCase(token, "keep-alive"u8))
                        {
                            keepAlive = true;
                        }
                    }
                }
            }

            Close |= !keepAlive;
            if (Status is >= 100 and < 200)
            {
                // An interim answer (no body): the final one follows.
                Close = false;
                return;
            }

            (_state, _remaining) = Status is 204 or 304 ? (State.Done, 0)
                : chunked ? (State.ChunkSize, 0)
                : transferEncoding || contentLength < 0 ? (State.UntilClose, 0)
                : contentLength == 0 ? (State.Done, 0)
                : (State.Body, contentLength);
            Close |= _state == State.UntilClose;
        }

        private void Keep(ReadOnlySpan<byte> bytes)
        {
            var room = Math.Min(bytes.Length, KeptBody - _bodyLength);
            bytes[..room].CopyTo(_body.AsSpan(_bodyLength));
            _bodyLength += room;
        }
    }

    /// <summary>
    /// An epoll set (level-triggered) through libc: <c>epoll_pwait2</c> waits with nanosecond timeouts
    /// (Linux 5.11 and glibc 2.35 on), else <c>epoll_wait</c> with milliseconds, rounded up. An eventfd
    /// in the set (<see cref="WakeTag"/>) lets another thread end a wait (<see cref="Wake"/>).
    /// </summary>
    private sealed class Epoll : IDisposable
    {
        /// <summary>The tag of the wake-up eventfd's events.</summary>
        public const ulong WakeTag = ulong.MaxValue;

        public const uint In = 0x001;
        public const uint Out = 0x004;
        public const uint Err = 0x008;
        public const uint Hup = 0x010;

        private const int CloseOnExec = 0x80000;
        private const int NonBlocking = 0x800;
        private const int ControlAdd = 1;
        private const int ControlModify = 3;
        private const int Interrupted = 4;
        private const int NotImplemented = 38;

        // struct epoll_event is packed on x86 and x86-64 (12 bytes); elsewhere its 64-bit data is aligned (16).
        private static readonly int Stride = RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.X86 ? 12 : 16;

        private readonly int _fd;
        private readonly int _wake;
        private readonly byte[] _event = new byte[16];
        private readonly byte[] _counter = new byte[8];
        private bool _nanoseconds = true;

        public Epoll()
        {
            _fd = EpollCreate(CloseOnExec);
            _wake = EventFd(0, CloseOnExec | NonBlocking);
            if (_fd < 0 || _wake < 0)
            {
                throw new IOException($"epoll_create1 or eventfd failed: errno {Marshal.GetLastPInvokeError()}");
            }

            Control(ControlAdd, _wake, In, WakeTag);
        }

        /// <summary>Ends the current or next <see cref="Wait"/> (adds 1 to the eventfd's counter).</summary>
        public void Wake()
        {
            var one = new byte[8];
            one[0] = 1;
            _ = WriteDescriptor(_wake, one, 8);
        }

        /// <summary>Resets the eventfd after a <see cref="Wake"/> (reads its counter).</summary>
        public void TakeWake() => _ = ReadDescriptor(_wake, _counter, 8);

        public static byte[] EventBuffer(int events) => new byte[events * Stride];

        public void Add(nint socket, uint events, ulong tag) => Control(ControlAdd, socket, events, tag);

        public void Modify(nint socket, uint events, ulong tag) => Control(ControlModify, socket, events, tag);

        private void Control(int operation, nint socket, uint events, ulong tag)
        {
            MemoryMarshal.Write(_event, in events);
            MemoryMarshal.Write(_event.AsSpan(Stride - 8), in tag);
            if (EpollControl(_fd, operation, (int)socket, _event) != 0)
            {
                throw new IOException($"epoll_ctl failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }

        /// <summary>Waits up to <paramref name="ticks"/> (<see cref="Stopwatch"/> ticks, 0 or less: not at all) for events; returns how many there are.</summary>
        public int Wait(byte[] events, long ticks)
        {
            var max = events.Length / Stride;
            int count;
            if (_nanoseconds)
            {
                var nanoseconds = ticks <= 0 ? 0 : (long)(ticks * (1e9 / Stopwatch.Frequency));
                var timeout = new Timespec { Seconds = (nint)(nanoseconds / 1_000_000_000), Nanoseconds = (nint)(nanoseconds % 1_000_000_000) };
                try
                {
                    count = EpollWaitNanoseconds(_fd, events, max, ref timeout, 0);
                }
                catch (EntryPointNotFoundException)
                {
                    _nanoseconds = false;
                    return 0;
                }

                if (count < 0 && Marshal.GetLastPInvokeError() == NotImplemented)
                {
                    _nanoseconds = false;
                    return 0;
                }
            }
            else
            {
                var milliseconds = ticks <= 0 ? 0 : (int)Math.Min(int.MaxValue, ((ticks * 1000) + Stopwatch.Frequency - 1) / Stopwatch.Frequency);
                count = EpollWaitMilliseconds(_fd, events, max, milliseconds);
            }

            if (count < 0)
            {
                var errno = Marshal.GetLastPInvokeError();
                return errno == Interrupted ? 0 : throw new IOException($"epoll_wait failed: errno {errno}");
            }

            return count;
        }

        /// <summary>The tag and the ready flags of the <paramref name="index"/>th event in <paramref name="events"/>.</summary>
        public static (ulong Tag, uint Ready) Event(byte[] events, int index)
        {
            var at = index * Stride;
            return (MemoryMarshal.Read<ulong>(events.AsSpan(at + Stride - 8)), MemoryMarshal.Read<uint>(events.AsSpan(at)));
        }

        public void Dispose()
        {
            _ = CloseDescriptor(_fd);
            _ = CloseDescriptor(_wake);
        }

        [DllImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
        private static extern int EpollCreate(int flags);

        [DllImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
        private static extern int EpollControl(int epoll, int operation, int descriptor, byte[] @event);

        [DllImport("libc", EntryPoint = "epoll_pwait2", SetLastError = true)]
        private static extern int EpollWaitNanoseconds(int epoll, byte[] events, int maxEvents, ref Timespec timeout, nint signalMask);

        [DllImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
        private static extern int EpollWaitMilliseconds(int epoll, byte[] events, int maxEvents, int timeout);

        [DllImport("libc", EntryPoint = "eventfd", SetLastError = true)]
        private static extern int EventFd(uint initial, int flags);

        [DllImport("libc", EntryPoint = "read", SetLastError = true)]
        private static extern nint ReadDescriptor(int descriptor, byte[] buffer, nuint count);

        [DllImport("libc", EntryPoint = "write", SetLastError = true)]
        private static extern nint WriteDescriptor(int descriptor, byte[] buffer, nuint count);

        [DllImport("libc", EntryPoint = "close", SetLastError = true)]
        private static extern int CloseDescriptor(int descriptor);

        [StructLayout(LayoutKind.Sequential)]
        private struct Timespec
        {
            public nint Seconds;
            public nint Nanoseconds;
        }
    }
}
