using System.Net;
using System.Net.Sockets;
using System.Text;
using Gantry.Cli.Http;

namespace Gantry.Cli.Tests;

/// <summary>
/// The CLI's hand-written HTTP/1.1 client against a scripted server on a real loopback socket: every
/// body framing, broken answers, and cancellation of a blocked wait. (Against real Kestrel it runs in
/// every <see cref="HttpCommandTests"/> test.)
/// </summary>
public sealed class PlainHttpTransportTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Send_ContentLengthBody_ReadsExactlyThatAndSendsAWellFormedRequest()
    {
        await using var server = ScriptedServer.Start(async (request, stream) =>
        {
            await stream.WriteAsync(Ascii("HTTP/1.1 201 Created\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 7\r\n\r\n{\"a\":1}"));
        });
        var transport = new PlainHttpTransport(server.Address, "tok-en.1");

        using var response = transport.Send("POST", "api/v1/jobs?x=1", "application/json", Encoding.UTF8.GetBytes("{\"b\":2}"), CancellationToken.None);

        Assert.Equal(201, response.StatusCode);
        Assert.Equal("Created", response.ReasonPhrase);
        Assert.Equal("application/json", response.MediaType);
        Assert.Equal("{\"a\":1}", Encoding.UTF8.GetString(response.ReadAll()));
        var request = await server.RequestAsync();
        Assert.StartsWith("POST /api/v1/jobs?x=1 HTTP/1.1\r\n", request, StringComparison.Ordinal);
        Assert.Contains($"\r\nHost: 127.0.0.1:{server.Address.Port}\r\n", request, StringComparison.Ordinal);
        Assert.Contains("\r\nAuthorization: Bearer tok-en.1\r\n", request, StringComparison.Ordinal);
        Assert.Contains("\r\nConnection: close\r\n", request, StringComparison.Ordinal);
        Assert.Contains("\r\nContent-Type: application/json\r\nContent-Length: 7\r\n\r\n{\"b\":2}", request, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_Redirect_ReadsLocationAndLeader()
    {
        await using var server = ScriptedServer.Start(async (_, stream) =>
        {
            await stream.WriteAsync(Ascii("HTTP/1.1 307 Temporary Redirect\r\nlocation: http://10.0.0.2:7070/api/v1/jobs?x=1\r\nGantry-Leader:  http://10.0.0.2:7070 \r\nContent-Length: 0\r\n\r\n"));
        });

        using var response = new PlainHttpTransport(null).Send("POST", new Uri(server.Address, "api/v1/jobs?x=1"), "application/json", [1], CancellationToken.None);

        Assert.Equal(307, response.StatusCode);
        Assert.Equal("http://10.0.0.2:7070/api/v1/jobs?x=1", response.Location);
        Assert.Equal("http://10.0.0.2:7070", response.Leader);
        Assert.StartsWith("POST /api/v1/jobs?x=1 HTTP/1.1\r\n", await server.RequestAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_ChunkedBodyWithExtensionsAndTrailers_JoinsTheChunks()
    {
        await using var server = ScriptedServer.Start(async (_, stream) =>
        {
            await stream.WriteAsync(Ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;name=x\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: 1\r\n\r\n"));
        });

        using var response = new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, CancellationToken.None);

        Assert.Equal("hello 0123456789", Encoding.ASCII.GetString(response.ReadAll()));
        Assert.DoesNotContain("Authorization", await server.RequestAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_NoLengthNoChunking_ReadsUntilTheServerCloses()
    {
        await using var server = ScriptedServer.Start(async (_, stream) =>
        {
            await stream.WriteAsync(Ascii("HTTP/1.0 200 OK\r\n\r\nall of it"));
        });

        using var response = new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, CancellationToken.None);

        Assert.Equal("all of it", Encoding.ASCII.GetString(response.ReadAll()));
    }

    [Fact]
    public async Task Send_InterimContinue_ReturnsTheFinalAnswer()
    {
        await using var server = ScriptedServer.Start(async (_, stream) =>
        {
            await stream.WriteAsync(Ascii("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"));
        });

        using var response = new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, CancellationToken.None);

        Assert.Equal(404, response.StatusCode);
        Assert.False(response.IsSuccessStatusCode);
        Assert.Empty(response.ReadAll());
    }

    [Theory]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", "closed the connection before its answer ended")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel", "closed the connection before its answer ended")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", "closed the connection before its answer ended")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "malformed chunk size 'zz'")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n", "chunk longer than its size")]
    public async Task ReadAll_BrokenBody_FailsInsteadOfReturningPartOfIt(string answer, string expected)
    {
        await using var server = ScriptedServer.Start(async (_, stream) => await stream.WriteAsync(Ascii(answer)));
        using var response = new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, CancellationToken.None);

        var error = Assert.Throws<IOException>(() => response.ReadAll());

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("SSH-2.0-OpenSSH_9.2\r\n", "not HTTP/1.x")]
    [InlineData("HTTP/1.1 2xx OK\r\n\r\n", "not HTTP/1.x")]
    [InlineData("HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", "malformed Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", "malformed Content-Length")]
    [InlineData("HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", "transfer coding")]
    [InlineData("HTTP/1.1 200 OK\r\nContent-Le", "closed the connection before its answer ended")]
    public async Task Send_NotAnAnswerWeCanRead_ThrowsIOExceptionSayingWhy(string answer, string expected)
    {
        await using var server = ScriptedServer.Start(async (_, stream) => await stream.WriteAsync(Ascii(answer)));

        var error = Assert.Throws<IOException>(() => new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, CancellationToken.None));

        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_EndlessHeader_IsRefusedAtTheLimit()
    {
        await using var server = ScriptedServer.Start(async (_, stream) =>
        {
            await stream.WriteAsync(Ascii("HTTP/1.1 200 OK\r\n"));
            var line = Ascii("X-Filler: " + new string('x', 1000) + "\r\n");
            for (var i = 0; i < 100; i++)
            {
                await stream.WriteAsync(line);
            }
        });

        var error = Assert.Throws<IOException>(() => new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, CancellationToken.None));

        Assert.Contains("header is too long", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Send_ServerNeverAnswers_CancellingEndsTheBlockedWait()
    {
        var answered = new TaskCompletionSource();
        await using var server = ScriptedServer.Start(async (_, _) => await answered.Task);
        using var cancel = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        var send = Task.Run(() => new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, cancel.Token));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => send.WaitAsync(Patience));
        answered.SetResult();
    }

    [Fact]
    public async Task ReadAsync_ChunksArriveOverTime_EachIsReadWhenItArrives()
    {
        var second = new TaskCompletionSource();
        await using var server = ScriptedServer.Start(async (_, stream) =>
        {
            await stream.WriteAsync(Ascii("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst\n\r\n"));
            await stream.FlushAsync();
            await second.Task;
            await stream.WriteAsync(Ascii("7\r\nsecond\n\r\n0\r\n\r\n"));
        });
        using var response = new PlainHttpTransport(server.Address, null).Send("GET", "x", "*/*", null, CancellationToken.None);
        var buffer = new byte[64];

        var first = await response.Body.ReadAsync(buffer).AsTask().WaitAsync(Patience);
        Assert.Equal("first\n", Encoding.ASCII.GetString(buffer, 0, first));
        second.SetResult();
        var next = await response.Body.ReadAsync(buffer).AsTask().WaitAsync(Patience);
        Assert.Equal("second\n", Encoding.ASCII.GetString(buffer, 0, next));
        Assert.Equal(0, await response.Body.ReadAsync(buffer).AsTask().WaitAsync(Patience));
    }

    [Fact]
    public void Send_NobodyListening_ThrowsConnectionRefused()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var error = Assert.Throws<SocketException>(() => new PlainHttpTransport(new Uri($"http://127.0.0.1:{port}/"), null).Send("GET", "x", "*/*", null, CancellationToken.None));

        Assert.Equal(SocketError.ConnectionRefused, error.SocketErrorCode);
    }

    [Fact]
    public async Task Send_HostName_IsResolved()
    {
        await using var server = ScriptedServer.Start(async (_, stream) => await stream.WriteAsync(Ascii("HTTP/1.1 204 No Content\r\n\r\n")));

        using var response = new PlainHttpTransport(new Uri($"http://localhost:{server.Address.Port}/"), null).Send("GET", "x", "*/*", null, CancellationToken.None);

        Assert.Equal(204, response.StatusCode);
        Assert.Contains($"\r\nHost: localhost:{server.Address.Port}\r\n", await server.RequestAsync(), StringComparison.Ordinal);
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    /// <summary>Accepts one connection, reads the request's header and body, then runs a script that writes the answer.</summary>
    private sealed class ScriptedServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly Task<string> _served;

        private ScriptedServer(TcpListener listener, Func<string, NetworkStream, Task> script)
        {
            _listener = listener;
            _served = ServeAsync(script);
        }

        public Uri Address => new($"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}/");

        public static ScriptedServer Start(Func<string, NetworkStream, Task> script)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return new ScriptedServer(listener, script);
        }

        /// <summary>The request as received (header and body).</summary>
        public Task<string> RequestAsync() => _served.WaitAsync(Patience);

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            try
            {
                await _served.WaitAsync(Patience);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException)
            {
                // The client hung up first (the tests of broken answers do).
            }
        }

        private async Task<string> ServeAsync(Func<string, NetworkStream, Task> script)
        {
            using var client = await _listener.AcceptTcpClientAsync();
            var stream = client.GetStream();
            var request = new StringBuilder();
            var buffer = new byte[4096];
            while (true)
            {
                var text = request.ToString();
                var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
                if (end >= 0)
                {
                    var length = text.Split("\r\n").FirstOrDefault(l => l.StartsWith("Content-Length: ", StringComparison.Ordinal)) is { } header
                        ? int.Parse(header["Content-Length: ".Length..], System.Globalization.CultureInfo.InvariantCulture)
                        : 0;
                    if (text.Length >= end + 4 + length)
                    {
                        break;
                    }
                }

                var read = await stream.ReadAsync(buffer);
                if (read == 0)
                {
                    break;
                }

                request.Append(Encoding.ASCII.GetString(buffer, 0, read));
            }

            await script(request.ToString(), stream);
            await stream.FlushAsync();
            client.Client.Shutdown(SocketShutdown.Send);
            return request.ToString();
        }
    }
}
