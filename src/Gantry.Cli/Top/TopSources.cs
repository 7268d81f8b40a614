using System.Net;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Gantry.Cli.Http;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Top;

/// <summary>Where <c>gantry top</c> gets its views: the server's cluster events, or one agent's own endpoints.</summary>
internal interface ITopSource : IDisposable
{
    /// <summary>Opens the event stream; failures to connect are thrown (and shown like other commands' errors).</summary>
    Task<EventStream> ConnectAsync(CancellationToken cancellationToken);

    /// <summary>One view now, for the snapshot printed when stdout is not a terminal. Also returns the raw JSON for <c>-o json</c>.</summary>
    Task<(TopView View, byte[] Json)> SnapshotAsync(CancellationToken cancellationToken);

    /// <summary>The view an event carries; null for events of another kind.</summary>
    TopView? Parse(string eventName, string data);
}

/// <summary>The server's <c>GET /api/v1/cluster/events</c>.</summary>
internal sealed class ClusterSource(GantryApiClient api) : ITopSource
{
    private const string Path = "api/v1/cluster/events";

    private string Source => "server " + api.CurrentServer.AbsoluteUri.TrimEnd('/');

    public async Task<EventStream> ConnectAsync(CancellationToken cancellationToken)
    {
        var response = await api.OpenStreamAsync(Path, cancellationToken, "text/event-stream").ConfigureAwait(false);
        return EventStream.Open(response);
    }

    public async Task<(TopView View, byte[] Json)> SnapshotAsync(CancellationToken cancellationToken)
    {
        // The stream's first event is sent at once: read it and hang up.
        using var stream = await ConnectAsync(cancellationToken).ConfigureAwait(false);
        while (true)
        {
            (string Event, string Data)? next;
            try
            {
                next = await stream.NextAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or HttpRequestException)
            {
                throw api.Unreachable(ex);
            }

            if (next is not { } e)
            {
                throw new ServerUnreachableException(api.CurrentServer, "the server closed the event stream before its first snapshot");
            }

            if (Parse(e.Event, e.Data) is { } view)
            {
                return (view, Encoding.UTF8.GetBytes(e.Data));
            }
        }
    }

    public TopView? Parse(string eventName, string data) =>
        eventName == "cluster" ? TopView.FromCluster(Paging.Deserialize(Encoding.UTF8.GetBytes(data), ResponseJson.For<ClusterSnapshot>()), Source) : null;

    public void Dispose()
    {
        // The API client belongs to the invocation.
    }
}

/// <summary>One agent's <c>/status</c> and <c>/events</c> (no server, no token).</summary>
internal sealed class AgentSource : ITopSource
{
    private readonly HttpClient _http;
    private readonly Uri _agent;

    public AgentSource(Uri agent)
    {
        ArgumentNullException.ThrowIfNull(agent);
        _agent = agent;
        _http = new HttpClient(new SocketsHttpHandler { ConnectTimeout = TimeSpan.FromSeconds(10), UseProxy = false, UseCookies = false })
        {
            BaseAddress = agent,
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("gantry-cli", null));
    }

    private string Source => "agent " + _agent.AbsoluteUri.TrimEnd('/');

    public async Task<EventStream> ConnectAsync(CancellationToken cancellationToken)
    {
        var response = await SendAsync("events", "text/event-stream", HttpCompletionOption.ResponseHeadersRead, cancellationToken).ConfigureAwait(false);
        return await EventStream.OpenAsync(response, cancellationToken).ConfigureAwait(false);
    }

    public async Task<(TopView View, byte[] Json)> SnapshotAsync(CancellationToken cancellationToken)
    {
        using var response = await SendAsync("status", "application/json", HttpCompletionOption.ResponseContentRead, cancellationToken).ConfigureAwait(false);
        var body = await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
        return (Read(body), body);
    }

    public TopView? Parse(string eventName, string data) => eventName == "sample" ? Read(Encoding.UTF8.GetBytes(data)) : null;

    public void Dispose() => _http.Dispose();

    private TopView Read(byte[] body)
    {
        try
        {
            return TopView.FromAgentStatus(body, Source);
        }
        catch (Exception ex) when (ex is JsonException or InvalidOperationException or KeyNotFoundException or FormatException)
        {
            throw new ApiProblemException(HttpStatusCode.OK, new Problem
            {
                Title = "Unexpected answer",
                Detail = $"{_agent.AbsoluteUri.TrimEnd('/')}/status is not a Gantry agent's status ({ex.Message})",
            });
        }
    }

    private async Task<HttpResponseMessage> SendAsync(string path, string mediaType, HttpCompletionOption completion, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue(mediaType));
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, completion, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new AgentUnreachableException(_agent, ex.Message, ex);
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new AgentUnreachableException(_agent, ex.InnerException?.Message ?? "no answer", ex);
        }

        if (response.IsSuccessStatusCode)
        {
            return response;
        }

        using (response)
        {
            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            throw new ApiProblemException(response.StatusCode, new Problem
            {
                Title = $"{(int)response.StatusCode} {response.ReasonPhrase}",
                Detail = $"{_agent.AbsoluteUri.TrimEnd('/')}/{path}: {(text.Length > 200 ? text[..200] : text).Trim()}",
            });
        }
    }
}

/// <summary>The agent of <c>--agent</c> could not be reached.</summary>
internal sealed class AgentUnreachableException(Uri agent, string reason, Exception? inner = null) : Exception(reason, inner)
{
    public Uri Agent { get; } = agent;
}
