using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gantry.Cli.Configuration;
using Gantry.Core.Protocol;
using Gantry.Core.Security;

namespace Gantry.Cli.Http;

/// <summary>
/// The one HTTP client of a CLI call: bearer auth, JSON bodies as bytes. <c>http://</c> servers are
/// spoken to by <see cref="PlainHttpTransport"/> (a CLI call's start-up time matters), <c>https://</c>
/// ones by a <see cref="SocketsHttpHandler"/>. Error answers become <see cref="ApiProblemException"/>;
/// transport failures become <see cref="ServerUnreachableException"/>.
/// </summary>
/// <remarks>
/// Given several server URLs (the replicas of one control plane), every request follows the leader:
/// it goes to the current URL; a <c>307</c> or <c>308</c> is followed (at most <see cref="MaxRedirects"/>,
/// the same method and body to the <c>Location</c>), and a standby's <c>Gantry-Leader</c> becomes the
/// current URL for the calls after it; a connection that fails or a <c>503</c> moves on to the next URL
/// at once. When every URL failed, the error names each and why. A single URL behaves as it always
/// did (its <c>503</c> is shown as the server's answer), except that redirects are followed.
/// Calls are made one at a time.
/// </remarks>
internal sealed class GantryApiClient : IDisposable
{
    /// <summary>How long a request may wait for its whole answer.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Redirects followed by one request.</summary>
    public const int MaxRedirects = 3;

    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly IReadOnlyList<Uri> _servers;
    private PlainHttpTransport? _plain;
    private HttpClient? _http;
    private ServerTrust? _trust;

    // Where the next request goes (a listed URL, or the leader a standby named), and the index of the
    // listed URL used last: a failure moves on to the one after it.
    private Uri _current;
    private int _position;

    /// <exception cref="UsageException">The token cannot be sent in a header.</exception>
    public GantryApiClient(ClientSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        if (settings.Token is { } token && token.Any(c => c is < '!' or > '~'))
        {
            throw new UsageException(settings.TokenSource ?? "--token", "the token holds a character that cannot be sent in an HTTP header (a space, a line break or non-ASCII)");
        }

        _servers = settings.Servers;
        _current = _servers[0];
    }

    public ClientSettings Settings { get; }

    /// <summary>The server requests go to now: the first URL given, or the one a failure or a standby moved to.</summary>
    public Uri CurrentServer => _current;

    /// <summary>GET a JSON resource; the body's bytes.</summary>
    public Task<byte[]> GetAsync(string relativeUri, CancellationToken cancellationToken) =>
        SendAsync("GET", relativeUri, body: null, cancellationToken);

    /// <summary>GET a resource of another media type (<c>application/yaml</c>); the body's bytes. Errors still come as problems.</summary>
    public Task<byte[]> GetAsync(string relativeUri, string accept, CancellationToken cancellationToken) =>
        SendAsync("GET", relativeUri, body: null, accept, cancellationToken);

    /// <summary>DELETE a resource; the answer's bytes (empty for a 204).</summary>
    public Task<byte[]> DeleteAsync(string relativeUri, CancellationToken cancellationToken) =>
        SendAsync("DELETE", relativeUri, body: null, cancellationToken);

    /// <summary>POST, with a JSON body when one is given; the answer's bytes.</summary>
    public Task<byte[]> PostAsync(string relativeUri, byte[]? body, CancellationToken cancellationToken) =>
        SendAsync("POST", relativeUri, body, cancellationToken);

    /// <summary>POST an API record serialized by <see cref="Gantry.Core.Protocol.GantryJson"/>.</summary>
    public Task<byte[]> PostAsync<T>(string relativeUri, T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken) =>
        SendAsync("POST", relativeUri, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), cancellationToken);

    /// <summary>PUT an API record serialized by <see cref="Gantry.Core.Protocol.GantryJson"/>.</summary>
    public Task<byte[]> PutAsync<T>(string relativeUri, T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken) =>
        SendAsync("PUT", relativeUri, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), cancellationToken);

    /// <summary>Opens a streamed answer (NDJSON logs, or <c>text/event-stream</c>). The caller disposes the response.</summary>
    public async Task<ApiResponse> OpenStreamAsync(string relativeUri, CancellationToken cancellationToken, string mediaType = "application/x-ndjson")
    {
        var response = await OpenAsync("GET", relativeUri, mediaType, body: null, cancellationToken).ConfigureAwait(false);
        if (!response.IsSuccessStatusCode)
        {
            using (response)
            {
                var body = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
                throw ToProblem(response, body);
            }
        }

        return response;
    }

    /// <summary>A transport failure while reading a body already under way (a dropped connection).</summary>
    public ServerUnreachableException Unreachable(Exception exception) =>
        new(_current, Describe(exception, _current), exception);

    public void Dispose() => _http?.Dispose();

    private Task<byte[]> SendAsync(string method, string relativeUri, byte[]? body, CancellationToken cancellationToken) =>
        SendAsync(method, relativeUri, body, "application/json", cancellationToken);

    private async Task<byte[]> SendAsync(string method, string relativeUri, byte[]? body, string accept, CancellationToken cancellationToken)
    {
        // The deadline covers the whole answer, body included.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(RequestTimeout);
        try
        {
            using var response = await OpenAsync(method, relativeUri, accept, body, deadline.Token).ConfigureAwait(false);
            var bytes = await ReadBodyAsync(response, deadline.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? bytes : throw ToProblem(response, bytes);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ServerUnreachableException(_current, $"no answer within {RequestTimeout.TotalSeconds:0}s", ex);
        }
    }

    /// <summary>Sends the request, following the leader, and returns when the answer's header is in.</summary>
    private async Task<ApiResponse> OpenAsync(string method, string relativeUri, string accept, byte[]? body, CancellationToken cancellationToken)
    {
        var failures = new List<ServerFailure>();
        var server = _current;
        while (true)
        {
            var (response, failure) = await FollowAsync(server, method, relativeUri, accept, body, cancellationToken).ConfigureAwait(false);
            if (response is not null)
            {
                return response;
            }

            failures.Add(failure!);
            if (failures.Count >= _servers.Count)
            {
                var last = failures[^1];
                throw new ServerUnreachableException(last.Server, last.Reason, failure!.Error) { Failures = failures.Count > 1 ? failures : [], Untrusted = last.Untrusted };
            }

            // The next listed URL after the one used last (the failed one may be a leader not listed).
            _position = (_position + 1) % _servers.Count;
            server = _current = _servers[_position];
        }
    }

    /// <summary>
    /// One server's answer, with the redirects it leads to; or why it failed in a way the next URL may
    /// not (no connection, or with several URLs a 503).
    /// </summary>
    private async Task<(ApiResponse? Response, ServerFailure? Failure)> FollowAsync(Uri server, string method, string relativeUri, string accept, byte[]? body, CancellationToken cancellationToken)
    {
        var target = new Uri(server, relativeUri);
        var redirects = 0;
        while (true)
        {
            ApiResponse response;
            try
            {
                response = await SendOnceAsync(method, target, accept, body, cancellationToken).ConfigureAwait(false);
            }
            catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException && _trust?.LastProblem is { } problem)
            {
                return (null, new(server, problem, ex) { Untrusted = true });
            }
            catch (Exception ex) when (ex is HttpRequestException or SocketException or IOException or TimeoutException)
            {
                return (null, new(server, Describe(ex, target), ex));
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && ex.InnerException is TimeoutException timeout)
            {
                // HttpClient's connect timeout.
                return (null, new(server, timeout.Message, ex));
            }

            if (response.StatusCode is 307 or 308 && redirects < MaxRedirects
                && response.Location is { } location && Uri.TryCreate(target, location, out var next)
                && next.Scheme is "http" or "https")
            {
                if (LeaderRedirect.IsDowngrade(target, next))
                {
                    response.Dispose();
                    return (null, new(server, $"redirected to {next.GetLeftPart(UriPartial.Authority)}: not followed from https to plain http, which would send the token unencrypted"));
                }

                // A standby: the same method and body again, to the leader; later calls go there directly.
                response.Dispose();
                if (LeaderRedirect.LeaderBase(response.Leader, next, server, target) is { } leader && !LeaderRedirect.IsDowngrade(target, leader))
                {
                    server = _current = leader;
                    var listed = IndexOf(leader);
                    _position = listed >= 0 ? listed : _position;
                }

                target = next;
                redirects++;
                continue;
            }

            if (response.StatusCode == 503 && _servers.Count > 1)
            {
                using (response)
                {
                    var detail = await ReadDetailAsync(response, cancellationToken).ConfigureAwait(false);
                    return (null, new(server, $"{response.StatusCode} {response.ReasonPhrase}{(detail.Length > 0 ? ": " + detail : "")}", null));
                }
            }

            return (response, null);
        }
    }

    private int IndexOf(Uri server)
    {
        for (var i = 0; i < _servers.Count; i++)
        {
            if (_servers[i] == server)
            {
                return i;
            }
        }

        return -1;
    }

    private async Task<ApiResponse> SendOnceAsync(string method, Uri target, string accept, byte[]? body, CancellationToken cancellationToken)
    {
        if (target.Scheme == Uri.UriSchemeHttp)
        {
            _plain ??= new PlainHttpTransport(Settings.Token);
            return _plain.Send(method, target, accept, body, cancellationToken);
        }

        _http ??= CreateHttpClient(Settings.Token, _trust = Trust(Settings));
        using var request = new HttpRequestMessage(new HttpMethod(method), target);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body) { Headers = { ContentType = JsonMediaType } };
        }

        var response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        try
        {
            var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
            return new ApiResponse((int)response.StatusCode, response.ReasonPhrase ?? "", response.Content.Headers.ContentType?.MediaType, stream, response)
            {
                Location = response.Headers.Location?.OriginalString,
                Leader = response.Headers.TryGetValues(LeaderRedirect.HeaderName, out var leader) ? leader.FirstOrDefault() : null,
            };
        }
        catch
        {
            response.Dispose();
            throw;
        }
    }

    /// <summary>How https servers are trusted: the CAs of <c>--ca-file</c>, else the system's store.</summary>
    /// <exception cref="UsageException">The CA file cannot be read or holds no certificate.</exception>
    private static ServerTrust Trust(ClientSettings settings)
    {
        if (settings.CaFile is not { } path)
        {
            return new ServerTrust(null, null);
        }

        try
        {
            return new ServerTrust(CertificatePin.ReadPemFile(path), null);
        }
        catch (FormatException ex)
        {
            throw new UsageException(settings.CaFileSource ?? "--ca-file", ex.Message);
        }
    }

    private static HttpClient CreateHttpClient(string? token, ServerTrust trust)
    {
        var handler = new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = trust.Validate },
            ConnectTimeout = PlainHttpTransport.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            UseCookies = false,

            // Redirects are followed by OpenAsync: HttpClient would drop the token on the way.
            AllowAutoRedirect = false,
        };

        // Plain requests get RequestTimeout each (see SendAsync); a followed log stream may wait for its
        // first line as long as the job stays queued, so the client itself has no timeout.
        var http = new HttpClient(handler) { Timeout = Timeout.InfiniteTimeSpan };
        http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("gantry-cli", null));
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>The start of a 503's reason: its problem's detail or title, else its text.</summary>
    private async Task<string> ReadDetailAsync(ApiResponse response, CancellationToken cancellationToken)
    {
        try
        {
            var bytes = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
            var problem = ToProblem(response, bytes).Problem;
            var text = problem.Detail ?? (problem.Title == $"{response.StatusCode} {response.ReasonPhrase}" ? null : problem.Title) ?? "";
            return text.Length > 200 ? text[..200] : text;
        }
        catch (ServerUnreachableException)
        {
            return "";
        }
    }

    private async Task<byte[]> ReadBodyAsync(ApiResponse response, CancellationToken cancellationToken)
    {
        try
        {
            if (!response.Blocking)
            {
                return await response.ReadAllAsync(cancellationToken).ConfigureAwait(false);
            }

            return PlainHttpTransport.Blocking(response, response.ReadAll, cancellationToken);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            throw Unreachable(ex);
        }
    }

    private static ApiProblemException ToProblem(ApiResponse response, byte[] body)
    {
        var status = (HttpStatusCode)response.StatusCode;
        if (response.MediaType is "application/problem+json" or "application/json" && body.Length > 0)
        {
            try
            {
                if (JsonSerializer.Deserialize(body, ClientJsonContext.Default.Problem) is { } problem)
                {
                    return new ApiProblemException(status, problem with { Title = problem.Title ?? response.ReasonPhrase });
                }
            }
            catch (JsonException)
            {
                // Not a problem document after all: fall through and show the body as text.
            }
        }

        // Something other than the API answered (a proxy, a wrong port): show the start of what it said.
        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).Trim();
        return new ApiProblemException(status, new Problem
        {
            Title = $"{response.StatusCode} {response.ReasonPhrase}",
            Detail = text.Length == 0 ? null : text,
            Status = response.StatusCode,
        });
    }

    private static string Describe(Exception exception, Uri server) => exception switch
    {
        // HttpClient says "Connection refused (127.0.0.1:7070)"; a socket error of our own transport gets
        // the same shape (its own message names the address as the socket saw it, [::ffff:127.0.0.1]:7070).
        SocketException socket => $"{new SocketException((int)socket.SocketErrorCode).Message} ({server.Authority})",
        // An IOException from a dropped stream wraps the socket error one level down.
        IOException { InnerException: SocketException inner } => $"{new SocketException((int)inner.SocketErrorCode).Message} ({server.Authority})",
        IOException { InnerException: { } inner } => inner.Message,
        _ => exception.Message,
    };
}
