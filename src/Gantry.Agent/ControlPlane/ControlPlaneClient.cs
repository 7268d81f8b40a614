using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Agent.ControlPlane;

/// <summary>
/// What one call to the control plane came to: an HTTP status with the decoded answer, or
/// <see cref="Status"/> 0 with <see cref="Error"/> when the server could not be reached or did not
/// answer in time.
/// </summary>
internal readonly record struct ApiResult<T>(int Status, T? Value, string? Detail, Exception? Error)
    where T : class
{
    public bool Ok => Status is >= 200 and < 300 && Error is null;

    /// <summary>The server was not reached, failed (5xx) or asked to slow down (429): try again later.</summary>
    public bool Transient => Error is not null || Status is 0 or 408 or 429 or >= 500;
}

/// <summary>An empty answer (204).</summary>
internal sealed class NoContent
{
    public static readonly NoContent Instance = new();
}

/// <summary>
/// The agent's side of the API in docs/api.md: typed calls with the right token, JSON through
/// <see cref="GantryJson"/>, a timeout per call, and every failure turned into an
/// <see cref="ApiResult{T}"/> rather than an exception.
/// </summary>
internal sealed class ControlPlaneClient(HttpClient http, Uri server, TimeProvider time) : IDisposable
{
    /// <summary>How long an ordinary call may take.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(15);

    /// <summary>How long the server holds a blocking assignments request.</summary>
    public static readonly TimeSpan AssignmentsWait = TimeSpan.FromSeconds(30);

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    // Answers are read leniently: a newer server may add properties an older agent does not know.
    private static readonly GantryJson Answers = new(new JsonSerializerOptions(GantryJson.Default.Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    });

    public Uri Server { get; } = server.AbsoluteUri.EndsWith('/') ? server : new Uri(server.AbsoluteUri + "/");

    public void Dispose() => http.Dispose();

    public static HttpClient CreateHttpClient() =>
        new(new SocketsHttpHandler
        {
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = DecompressionMethods.None,
        })
        {
            // Each call carries its own deadline (longer than the blocking wait for assignments).
            Timeout = Timeout.InfiniteTimeSpan,
        };

    public Task<ApiResult<RegisterNodeResponse>> RegisterAsync(RegisterNodeRequest request, string joinToken, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "api/v1/nodes/register", joinToken, request, GantryJson.Default.RegisterNodeRequest, Answers.RegisterNodeResponse, CallTimeout, cancellationToken);

    public Task<ApiResult<HeartbeatResponse>> HeartbeatAsync(string nodeId, string credential, HeartbeatRequest request, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"api/v1/nodes/{Uri.EscapeDataString(nodeId)}/heartbeat", credential, request, GantryJson.Default.HeartbeatRequest, Answers.HeartbeatResponse, CallTimeout, cancellationToken);

    public Task<ApiResult<AssignmentsResponse>> AssignmentsAsync(string nodeId, string credential, long index, CancellationToken cancellationToken) =>
        SendAsync<object, AssignmentsResponse>(
            HttpMethod.Get,
            string.Create(CultureInfo.InvariantCulture, $"api/v1/nodes/{Uri.EscapeDataString(nodeId)}/assignments?index={index}&wait={(int)AssignmentsWait.TotalSeconds}s"),
            credential,
            null,
            null,
            Answers.AssignmentsResponse,
            AssignmentsWait + CallTimeout,
            cancellationToken);

    public Task<ApiResult<NoContent>> PostEventAsync(AttemptKey key, string credential, AttemptEvent attemptEvent, CancellationToken cancellationToken) =>
        SendAsync<AttemptEvent, NoContent>(HttpMethod.Post, AttemptPath(key, "events"), credential, attemptEvent, GantryJson.Default.AttemptEvent, null, CallTimeout, cancellationToken);

    public Task<ApiResult<NoContent>> PostLogsAsync(AttemptKey key, string credential, LogUpload upload, CancellationToken cancellationToken) =>
        SendAsync<LogUpload, NoContent>(HttpMethod.Post, AttemptPath(key, "logs"), credential, upload, GantryJson.Default.LogUpload, null, CallTimeout, cancellationToken);

    private static string AttemptPath(AttemptKey key, string what) =>
        string.Create(CultureInfo.InvariantCulture, $"api/v1/jobs/{key.JobId}/attempts/{key.Attempt}/{what}");

    private async Task<ApiResult<TAnswer>> SendAsync<TBody, TAnswer>(
        HttpMethod method,
        string path,
        string token,
        TBody? body,
        JsonTypeInfo<TBody>? bodyType,
        JsonTypeInfo<TAnswer>? answerType,
        TimeSpan timeout,
        CancellationToken cancellationToken)
        where TAnswer : class
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        using var request = new HttpRequestMessage(method, new Uri(Server, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null && bodyType is not null)
        {
            var content = new ByteArrayContent(JsonSerializer.SerializeToUtf8Bytes(body, bodyType));
            content.Headers.ContentType = Json;
            request.Content = content;
        }

        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (!response.IsSuccessStatusCode)
            {
                var detail = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
                return new(status, null, detail.Length > 500 ? detail[..500] : detail, null);
            }

            if (answerType is null)
            {
                return new(status, (TAnswer)(object)NoContent.Instance, null, null);
            }

            var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var value = await JsonSerializer.DeserializeAsync(stream, answerType, linked.Token).ConfigureAwait(false);
                return value is null ? new(0, null, null, new JsonException("empty answer")) : new(status, value, null, null);
            }
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return new(0, null, null, new TimeoutException($"no answer from {Server} within {timeout.TotalSeconds}s", ex));
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or IOException)
        {
            return new(0, null, null, ex);
        }
    }
}
