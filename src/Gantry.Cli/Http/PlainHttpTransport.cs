using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Http;

/// <summary>
/// The CLI's transport for <c>http://</c> servers: one HTTP/1.1 request per TCP connection
/// (<c>Connection: close</c>), written and read by hand. It exists for start-up time only: a CLI call
/// is one short process, and <see cref="HttpClient"/>'s first request costs about 20 ms of type
/// loading, JIT and set-up that this path does not (docs/benchmarks.md, "Gantry CLI start-up").
/// <c>https://</c> servers and <c>gantry top --agent</c> keep using HttpClient.
/// </summary>
internal sealed class PlainHttpTransport(Uri? server, string? token)
{
    /// <summary>How long connecting may take.</summary>
    public static readonly TimeSpan ConnectTimeout = TimeSpan.FromSeconds(10);

    /// <summary>A transport for absolute URLs only (<see cref="Send(string, Uri, string, byte[], CancellationToken)"/>).</summary>
    public PlainHttpTransport(string? token)
        : this(null, token)
    {
    }

    /// <summary>
    /// Sends one request and returns once the answer's header has arrived; the body is read from the
    /// answer. Blocks while it waits: cancelling <paramref name="cancellationToken"/> closes the
    /// connection, which ends the wait with an <see cref="OperationCanceledException"/>. The token must
    /// already be checked to hold visible ASCII only.
    /// </summary>
    /// <exception cref="SocketException">Connecting failed (refused, no such host, unreachable).</exception>
    /// <exception cref="IOException">The connection broke, or what came back is not HTTP/1.x.</exception>
    /// <exception cref="TimeoutException">Connecting took longer than <see cref="ConnectTimeout"/>.</exception>
    public ApiResponse Send(string method, string relativeUri, string accept, byte[]? body, CancellationToken cancellationToken) =>
        Send(method, new Uri(server ?? throw new InvalidOperationException("this transport was made for absolute URLs"), relativeUri), accept, body, cancellationToken);

    /// <summary>Sends one request to an absolute <c>http://</c> URL (see the other overload).</summary>
    public ApiResponse Send(string method, Uri target, string accept, byte[]? body, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(target);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            Connect(socket, target, cancellationToken);
            var connection = new NetworkStream(socket, ownsSocket: true);
            return Blocking(socket, () =>
            {
                connection.Write(RequestHead(method, target, accept, body?.Length));
                if (body is { Length: > 0 })
                {
                    connection.Write(body);
                }

                return Http1Reader.Completed(ReadAnswerAsync(new Http1Reader(connection), connection, async: false, cancellationToken));
            }, cancellationToken);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// Runs blocking socket work that <paramref name="cancellationToken"/> can end: cancelling closes
    /// <paramref name="connection"/>, and the failure that causes becomes an <see cref="OperationCanceledException"/>.
    /// </summary>
    internal static T Blocking<T>(IDisposable connection, Func<T> work, CancellationToken cancellationToken)
    {
        using (cancellationToken.UnsafeRegister(static c => ((IDisposable)c!).Dispose(), connection))
        {
            try
            {
                return work();
            }
            catch (Exception ex) when (cancellationToken.IsCancellationRequested && ex is IOException or SocketException or ObjectDisposedException)
            {
                throw new OperationCanceledException("the request was cancelled", ex, cancellationToken);
            }
        }
    }

    /// <summary>Parses the status line and header, and frames the body the way the header says.</summary>
    internal static async ValueTask<ApiResponse> ReadAnswerAsync(Http1Reader reader, Stream connection, bool async, CancellationToken cancellationToken)
    {
        while (true)
        {
            var budget = Http1Reader.MaxHeaderBytes;
            var statusLine = await reader.ReadLineAsync(budget, async, cancellationToken).ConfigureAwait(false);
            budget -= statusLine.Length + 2;
            var (status, reason) = ParseStatusLine(statusLine);
            string? mediaType = null;
            string? location = null;
            string? leader = null;
            long? length = null;
            var chunked = false;
            while (true)
            {
                var line = await reader.ReadLineAsync(budget, async, cancellationToken).ConfigureAwait(false);
                budget -= line.Length + 2;
                if (line.Length == 0)
                {
                    break;
                }

                var colon = line.IndexOf(':', StringComparison.Ordinal);
                if (colon <= 0)
                {
                    throw new IOException($"the server sent a malformed header line '{Http1Reader.Shorten(line)}'");
                }

                var name = line.AsSpan(0, colon).Trim();
                var value = line.AsSpan(colon + 1).Trim();
                if (name.Equals("Content-Type", StringComparison.OrdinalIgnoreCase))
                {
                    var semicolon = value.IndexOf(';');
                    mediaType = (semicolon < 0 ? value : value[..semicolon]).Trim().ToString().ToLowerInvariant();
                }
                else if (name.Equals("Location", StringComparison.OrdinalIgnoreCase))
                {
                    location = value.ToString();
                }
                else if (name.Equals(LeaderRedirect.HeaderName, StringComparison.OrdinalIgnoreCase))
                {
                    leader = value.ToString();
                }
                else if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                {
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed) || (length is { } earlier && earlier != parsed))
                    {
                        throw new IOException($"the server sent a malformed Content-Length '{Http1Reader.Shorten(value.ToString())}'");
                    }

                    length = parsed;
                }
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                {
                    // The last coding decides the framing; only chunked is understood.
                    var last = value[(value.LastIndexOf(',') + 1)..].Trim();
                    chunked = last.Equals("chunked", StringComparison.OrdinalIgnoreCase);
                    if (!chunked)
                    {
                        throw new IOException($"the server sent a body in a transfer coding the CLI does not read ('{Http1Reader.Shorten(value.ToString())}')");
                    }
                }
            }

            // 1xx answers are interim (100 Continue, 103 Early Hints): the real one follows.
            if (status is >= 100 and < 200)
            {
                continue;
            }

            var body = status is 204 or 304 ? Http1BodyStream.WithLength(reader, connection, 0)
                : chunked ? Http1BodyStream.Chunked(reader, connection)
                : length is { } n ? Http1BodyStream.WithLength(reader, connection, n)
                : Http1BodyStream.UntilClose(reader, connection);
            return new ApiResponse(status, reason, mediaType, body) { Location = location, Leader = leader, Blocking = !async };
        }
    }

    internal static (int Status, string Reason) ParseStatusLine(string line)
    {
        // HTTP/1.1 200 OK
        if (line.Length < 12 || !line.StartsWith("HTTP/1.", StringComparison.Ordinal) || line[8] != ' '
            || !int.TryParse(line.AsSpan(9, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var status)
            || status < 100 || (line.Length > 12 && line[12] != ' '))
        {
            throw new IOException($"the answer is not HTTP/1.x ('{Http1Reader.Shorten(line)}')");
        }

        return (status, line.Length > 13 ? line[13..] : "");
    }

    private byte[] RequestHead(string method, Uri target, string accept, int? bodyLength)
    {
        var head = new StringBuilder(256)
            .Append(method).Append(' ').Append(target.PathAndQuery).Append(" HTTP/1.1\r\n")
            .Append("Host: ").Append(target.Authority).Append("\r\n")
            .Append("User-Agent: gantry-cli\r\n")
            .Append("Accept: ").Append(accept).Append("\r\n")
            .Append("Connection: close\r\n");
        if (token is not null)
        {
            head.Append("Authorization: Bearer ").Append(token).Append("\r\n");
        }

        if (bodyLength is { } length)
        {
            head.Append("Content-Type: application/json\r\n");
            head.Append("Content-Length: ").Append(length.ToString(CultureInfo.InvariantCulture)).Append("\r\n");
        }
        else if (method != "GET")
        {
            head.Append("Content-Length: 0\r\n");
        }

        return Encoding.ASCII.GetBytes(head.Append("\r\n").ToString());
    }

    private static void Connect(Socket socket, Uri target, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(ConnectTimeout);
        using var abort = deadline.Token.UnsafeRegister(static s => ((Socket)s!).Dispose(), socket);
        try
        {
            EndPoint endPoint = target.HostNameType is UriHostNameType.IPv4 or UriHostNameType.IPv6 && IPAddress.TryParse(target.DnsSafeHost, out var address)
                ? new IPEndPoint(address, target.Port)
                : new DnsEndPoint(target.IdnHost, target.Port);
            socket.Connect(endPoint);
        }
        catch (Exception ex) when (deadline.IsCancellationRequested && ex is SocketException or ObjectDisposedException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            throw new TimeoutException($"no connection within {ConnectTimeout.TotalSeconds:0}s", ex);
        }
    }
}
