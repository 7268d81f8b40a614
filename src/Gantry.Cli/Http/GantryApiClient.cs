using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gantry.Cli.Configuration;

namespace Gantry.Cli.Http;

/// <summary>
/// The one HTTP client of a CLI call: a <see cref="SocketsHttpHandler"/>, bearer auth, JSON bodies as
/// bytes. Error answers become <see cref="ApiProblemException"/>; transport failures become
/// <see cref="ServerUnreachableException"/>.
/// </summary>
internal sealed class GantryApiClient : IDisposable
{
    /// <summary>How long a request may wait for its answer's headers.</summary>
    public static readonly TimeSpan RequestTimeout = TimeSpan.FromSeconds(30);

    private static readonly MediaTypeHeaderValue JsonMediaType = new("application/json");
    private readonly HttpClient _http;

    public GantryApiClient(ClientSettings settings)
    {
        ArgumentNullException.ThrowIfNull(settings);
        Settings = settings;
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(10),
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
        SendAsync(HttpMethod.Get, relativeUri, body: null, cancellationToken);

    /// <summary>POST, with a JSON body when one is given; the answer's bytes.</summary>
    public Task<byte[]> PostAsync(string relativeUri, byte[]? body, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, relativeUri, body, cancellationToken);

    /// <summary>POST an API record serialized by <see cref="Gantry.Core.Protocol.GantryJson"/>.</summary>
    public Task<byte[]> PostAsync<T>(string relativeUri, T value, JsonTypeInfo<T> typeInfo, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, relativeUri, JsonSerializer.SerializeToUtf8Bytes(value, typeInfo), cancellationToken);

    /// <summary>Opens a streamed answer (NDJSON logs, or <c>text/event-stream</c>). The caller disposes the response.</summary>
    public async Task<HttpResponseMessage> OpenStreamAsync(string relativeUri, CancellationToken cancellationToken, string mediaType = "application/x-ndjson")
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, relativeUri);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
        var response = await TransportAsync(request, HttpCompletionOption.ResponseHeadersRead, timeout: null, cancellationToken).ConfigureAwait(false);
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

    public void Dispose() => _http.Dispose();

    private async Task<byte[]> SendAsync(HttpMethod method, string relativeUri, byte[]? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, relativeUri);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("application/json"));
        if (body is not null)
        {
            request.Content = new ByteArrayContent(body) { Headers = { ContentType = JsonMediaType } };
        }

        // ResponseContentRead: the timeout covers the whole answer, body included.
        using var response = await TransportAsync(request, HttpCompletionOption.ResponseContentRead, RequestTimeout, cancellationToken).ConfigureAwait(false);
        var bytes = await ReadBodyAsync(response, cancellationToken).ConfigureAwait(false);
        return response.IsSuccessStatusCode ? bytes : throw ToProblem(response, bytes);
    }

    private async Task<HttpResponseMessage> TransportAsync(HttpRequestMessage request, HttpCompletionOption completion, TimeSpan? timeout, CancellationToken cancellationToken)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        if (timeout is { } limit)
        {
            deadline.CancelAfter(limit);
        }

        try
        {
            return await _http.SendAsync(request, completion, deadline.Token).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw Unreachable(ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The connect timeout, or this request's deadline.
            var reason = ex.InnerException is TimeoutException ? ex.InnerException.Message : $"no answer within {RequestTimeout.TotalSeconds:0}s";
            throw new ServerUnreachableException(Settings.Server, reason, ex);
        }
    }

    private async Task<byte[]> ReadBodyAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        try
        {
            return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException)
        {
            throw Unreachable(ex);
        }
    }

    private static ApiProblemException ToProblem(HttpResponseMessage response, byte[] body)
    {
        var mediaType = response.Content.Headers.ContentType?.MediaType;
        if (mediaType is "application/problem+json" or "application/json" && body.Length > 0)
        {
            try
            {
                if (JsonSerializer.Deserialize(body, ClientJsonContext.Default.Problem) is { } problem)
                {
                    return new ApiProblemException(response.StatusCode, problem with { Title = problem.Title ?? response.ReasonPhrase });
                }
            }
            catch (JsonException)
            {
                // Not a problem document after all: fall through and show the body as text.
            }
        }

        // Something other than the API answered (a proxy, a wrong port): show the start of what it said.
        var text = Encoding.UTF8.GetString(body, 0, Math.Min(body.Length, 200)).Trim();
        return new ApiProblemException(response.StatusCode, new Problem
        {
            Title = $"{(int)response.StatusCode} {response.ReasonPhrase}",
            Detail = text.Length == 0 ? null : text,
            Status = (int)response.StatusCode,
        });
    }

    private static string Describe(Exception exception)
    {
        // HttpRequestException already says "Connection refused (127.0.0.1:7070)"; an IOException from
        // a dropped stream wraps the socket error one level down.
        var message = exception.Message;
        if (exception is IOException { InnerException: { } inner })
        {
            message = inner.Message;
        }

        return message;
    }
}
