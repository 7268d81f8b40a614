using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gantry.Cli.Configuration;

namespace Gantry.Cli.Http;

/// <summary>
/// The one HTTP client of a CLI call: bearer auth, JSON bodies as bytes. <c>http://</c> servers are
/// spoken to by <see cref="PlainHttpTransport"/> (a CLI call's start-up time matters), <c>https://</c>
/// ones by a <see cref="SocketsHttpHandler"/>. Error answers become <see cref="ApiProblemException"/>;
/// transport failures become <see cref="ServerUnreachableException"/>.
/// </summary>
internal sealed class GantryApiClient : IDisposable
{
    /// <summary>How long a request may wait for its whole answer.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly PlainHttpTransport? _plain;
    private readonly HttpClient? _http;

    /// <exception cref="UsageException">The token cannot be sent in a header.</exception>
    public GantryApiClient(ClientSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        if (settings.Token is { } token && token.Any(c => c is < '!' or > '~'))
        {
            throw new UsageException(settings.TokenSource ?? "--token", "the token holds a character that cannot be sent in an HTTP header (a space, a line break or non-ASCII)");
        }

        if (settings.Server.Scheme == Uri.UriSchemeHttp)
        {
            _plain = new PlainHttpTransport(settings.Server, settings.Token);
            return;
        }

        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = PlainHttpTransport.ConnectTimeout,
            AutomaticDecompression = DecompressionMethods.None,
            UseProxy = false,
            UseCookies = false,
        };
        // Plain requests get RequestTimeout each (see SendAsync); a followed log stream may wait for its
        // first line as long as the job stays queued, so the client itself has no timeout.
        _http = new HttpClient(handler) { BaseAddress = settings.Server, Timeout = Timeout.InfiniteTimeSpan };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("gantry-cli", null));
        if (settings.Token is not null)
        {
            _http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", settings.Token);
        }
    }

    public ClientSettings Settings { get; }

    /// <summary>GET a JSON resource; the body's bytes.</summary>
    public Task<byte[]> GetAsync(string relativeUri, CancellationToken cancellationToken) =>
        SendAsync("GET", relativeUri, body: null, cancellationToken);

    /// <summary>POST, with a JSON body when one is given; the answer's bytes.</summary>
    public Task<byte[]> PostAsync(string relativeUri, byte[]? body, CancellationToken cancellationToken) =>
        SendAsync("POST", relativeUri, body, cancellationToken);

    /// <summary>POST an API record serialized by <see cref="Gantry.Core.Protocol.GantryJson"/>.</summary>
    public Task<byte[]> PostAsync<T>(string relativeUri, T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken) =>
        SendAsync("POST", relativeUri, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), cancellationToken);

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
        new(Settings.Server, Describe(exception), exception);

    public void Dispose() => _http?.Dispose();

    private async Task<byte[]> SendAsync(string method, string relativeUri, byte[]? body, CancellationToken cancellationToken)
    {
        // The deadline covers the whole answer, body included.
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(RequestTimeout);
        try
        {
            using var response = await OpenAsync(method, relativeUri, "application/json", body, deadline.Token).ConfigureAwait(false);
            var bytes = await ReadBodyAsync(response, deadline.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode ? bytes : throw ToProblem(response, bytes);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ServerUnreachableException(Settings.Server, $"no answer within {RequestTimeout.TotalSeconds:0}s", ex);
        }
    }

    /// <summary>Sends the request and returns when the answer's header is in.</summary>
    private async Task<ApiResponse> OpenAsync(string method, string relativeUri, string accept, byte[]? body, CancellationToken cancellationToken)
    {
        try
        {
            if (_plain is not null)
            {
                return _plain.Send(method, relativeUri, accept, body, cancellationToken);
            }

            using var request = new HttpRequestMessage(new HttpMethod(method), relativeUri);
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(accept));
            if (body is not null)
            {
                request.Content = new ByteArrayContent(body) { Headers = { ContentType = JsonMediaType } };
            }

            var response = await _http!.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
            try
            {
                var stream = await response.Content.ReadAsStreamAsync(cancellationToken).ConfigureAwait(false);
                return new ApiResponse((int)response.StatusCode, response.ReasonPhrase ?? "", response.Content.Headers.ContentType?.MediaType, stream, response);
            }
            catch
            {
                response.Dispose();
                throw;
            }
        }
        catch (Exception ex) when (ex is HttpRequestException or SocketException or IOException or TimeoutException)
        {
            throw Unreachable(ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested && ex.InnerException is TimeoutException timeout)
        {
            // HttpClient's connect timeout.
            throw new ServerUnreachableException(Settings.Server, timeout.Message, ex);
        }
    }

    private async Task<byte[]> ReadBodyAsync(ApiResponse response, CancellationToken cancellationToken)
    {
        try
        {
            if (_plain is null)
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

    private string Describe(Exception exception) => exception switch
    {
        // HttpClient says "Connection refused (127.0.0.1:7070)"; a socket error of our own transport gets
        // the same shape (its own message names the address as the socket saw it, [::ffff:127.0.0.1]:7070).
        SocketException socket => $"{new SocketException((int)socket.SocketErrorCode).Message} ({Settings.Server.Authority})",
        // An IOException from a dropped stream wraps the socket error one level down.
        IOException { InnerException: SocketException inner } => $"{new SocketException((int)inner.SocketErrorCode).Message} ({Settings.Server.Authority})",
        IOException { InnerException: { } inner } => inner.Message,
        _ => exception.Message,
    };
}
