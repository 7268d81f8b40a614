using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.Json.Serialization;
using System.Text.Json.Serialization.Metadata;
using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Security;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.ControlPlane;

/// <summary>
/// What one call to the control plane came to: an HTTP status with the decoded answer, or
/// <see cref="Status"/> 0 with <see cref="Error"/> when no server could be reached or answered in
/// time. <see cref="Server"/> is the replica that gave the answer (or the last one tried).
/// </summary>
internal readonly record struct ApiResult<T>(int Status, T? Value, string? Detail, Exception? Error, Uri? Server = null)
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

/// <summary>An answer from a leader epoch older than one already seen: a replica that lost leadership.</summary>
internal sealed class StaleLeaderException(string message) : Exception(message);

/// <summary>
/// The agent's side of the API in docs/api.md: typed calls with the right token, JSON through
/// <see cref="GantryJson"/>, a timeout per try, and every failure turned into an
/// <see cref="ApiResult{T}"/> rather than an exception. Every call follows the leader through
/// <see cref="LeaderFollower"/>: a <c>307</c>/<c>308</c> from a standby is followed at once (the same
/// method and body to the leader it names, remembered for later calls, at most
/// <see cref="MaxRedirects"/> per call); a refused, reset or timed-out connection, a <c>503</c> or an
/// answer from an old leader epoch moves on to the next URL at once; a call that went round every
/// URL without an answer returns the last failure, and the caller backs off before the next round.
/// </summary>
/// <remarks>
/// An https server is trusted as <see cref="ServerTrust"/> says (<c>--ca-file</c>, <c>--ca-cert-hash</c>, else the
/// system's CAs). With a pin and no CA file, the first call fetches the server's CA from
/// <see cref="CaPath"/> and adopts it only if its key has the pin (docs/tls.md); until then nothing else,
/// and no token, is sent.
/// </remarks>
internal sealed class ControlPlaneClient(HttpClient http, LeaderFollower follower, TimeProvider time, ServerTrust? trust = null, ILogger? logger = null) : IDisposable
{
    /// <summary>Where the server hands out the CA its agents pin.</summary>
    public const string CaPath = "api/v1/tls/ca";

    /// <summary>How long an ordinary call may take, per server tried.</summary>
    public static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(15);

    /// <summary>How long the server holds a blocking assignments request.</summary>
    public static readonly TimeSpan AssignmentsWait = TimeSpan.FromSeconds(30);

    /// <summary>Redirects followed in one call (a standby names the leader: one is the usual case).</summary>
    public const int MaxRedirects = 3;

    private static readonly MediaTypeHeaderValue Json = new("application/json");

    // The last reason a server was refused for, so that retries do not repeat it in the log.
    private string? _lastRefusal;

    // Answers are read leniently: a newer server may add properties an older agent does not know.
    private static readonly GantryJson Answers = new(new JsonSerializerOptions(GantryJson.Default.Options)
    {
        UnmappedMemberHandling = JsonUnmappedMemberHandling.Skip,
    });

    public LeaderFollower Follower => follower;

    /// <summary>
    /// The backoff of a loop that talks to the control plane. Alone, a server that is away may be away for
    /// long (capped at 15 s); among replicas another one takes over within a lease, so retries stay close
    /// (capped at 2 s) and the new leader is found soon after it is elected.
    /// </summary>
    public Backoff NewBackoff() => follower.Servers.Count > 1 ? new Backoff(TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(2)) : Backoff.Default();

    public void Dispose() => http.Dispose();

    /// <summary>The client for control-plane calls; <paramref name="trust"/> decides which https servers are trusted.</summary>
    public static HttpClient CreateHttpClient(ServerTrust? trust = null) =>
        new(new SocketsHttpHandler
        {
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = trust is null ? null : trust.Validate },
            PooledConnectionLifetime = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AutomaticDecompression = DecompressionMethods.None,

            // Redirects are followed by SendAsync: HttpClient would drop the bearer token on the way
            // and forget where the leader is.
            AllowAutoRedirect = false,
        })
        {
            // Each call carries its own deadline (longer than the blocking wait for assignments).
            Timeout = Timeout.InfiniteTimeSpan,
        };

    public Task<ApiResult<RegisterNodeResponse>> RegisterAsync(RegisterNodeRequest request, string joinToken, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, "api/v1/nodes/register", joinToken, Body(request, GantryJson.Default.RegisterNodeRequest), Answers.RegisterNodeResponse, null, CallTimeout, cancellationToken);

    public Task<ApiResult<HeartbeatResponse>> HeartbeatAsync(string nodeId, string credential, HeartbeatRequest request, CancellationToken cancellationToken) =>
        SendAsync(HttpMethod.Post, $"api/v1/nodes/{Uri.EscapeDataString(nodeId)}/heartbeat", credential, Body(request, GantryJson.Default.HeartbeatRequest), Answers.HeartbeatResponse, static a => a.LeaderEpoch, CallTimeout, cancellationToken);

    public Task<ApiResult<AssignmentsResponse>> AssignmentsAsync(string nodeId, string credential, long index, CancellationToken cancellationToken) =>
        SendAsync(
            HttpMethod.Get,
            string.Create(CultureInfo.InvariantCulture, $"api/v1/nodes/{Uri.EscapeDataString(nodeId)}/assignments?index={index}&wait={(int)AssignmentsWait.TotalSeconds}s"),
            credential,
            null,
            Answers.AssignmentsResponse,
            static a => a.LeaderEpoch,
            AssignmentsWait + CallTimeout,
            cancellationToken);

    public Task<ApiResult<NoContent>> PostEventAsync(AttemptKey key, string credential, AttemptEvent attemptEvent, CancellationToken cancellationToken) =>
        SendAsync<NoContent>(HttpMethod.Post, AttemptPath(key, "events"), credential, Body(attemptEvent, GantryJson.Default.AttemptEvent), null, null, CallTimeout, cancellationToken);

    public Task<ApiResult<NoContent>> PostLogsAsync(AttemptKey key, string credential, LogUpload upload, CancellationToken cancellationToken) =>
        SendAsync<NoContent>(HttpMethod.Post, AttemptPath(key, "logs"), credential, Body(upload, GantryJson.Default.LogUpload), null, null, CallTimeout, cancellationToken);

    private static string AttemptPath(AttemptKey key, string what) =>
        string.Create(CultureInfo.InvariantCulture, $"api/v1/jobs/{key.JobId}/attempts/{key.Attempt}/{what}");

    // Serialized once: every server tried gets the same bytes.
    private static byte[] Body<T>(T value, JsonTypeInfo<T> type) => JsonSerializer.SerializeToUtf8Bytes(value, type);

    private async Task<ApiResult<TAnswer>> SendAsync<TAnswer>(
        HttpMethod method,
        string path,
        string token,
        byte[]? body,
        JsonTypeInfo<TAnswer>? answerType,
        Func<TAnswer, long>? leaderEpoch,
        TimeSpan timeout,
        CancellationToken cancellationToken)
        where TAnswer : class
    {
        var server = follower.Current;
        var failures = 0;
        var redirects = 0;
        while (true)
        {
            var (result, leader) = await SendOnceAsync(server, method, path, token, body, answerType, timeout, cancellationToken).ConfigureAwait(false);
            if (leader is not null)
            {
                if (++redirects > MaxRedirects)
                {
                    result = new(0, null, null, new HttpRequestException($"more than {MaxRedirects} redirects (last from {LeaderFollower.Display(server)} to {LeaderFollower.Display(leader)})"), server);
                }
                else
                {
                    follower.Redirected(server, leader);
                    server = leader;
                    continue;
                }
            }

            if (result is { Ok: true, Value: { } value } && leaderEpoch is not null && !follower.Accept(leaderEpoch(value), server))
            {
                var message = $"answered for leader epoch {leaderEpoch(value)}, older than epoch {follower.LeaderEpoch}";
                result = new(0, null, message, new StaleLeaderException(message), server);
            }

            var reason = result.Error is { } error and not JsonException ? error.Message
                : result.Status == 503 ? "503 Service Unavailable" + (string.IsNullOrWhiteSpace(result.Detail) ? "" : ": " + result.Detail.Trim())
                : null;
            if (reason is null)
            {
                follower.Answered();
                return result;
            }

            var next = follower.Failed(server, reason);
            if (++failures >= follower.RoundLength)
            {
                return result;
            }

            server = next;
        }
    }

    /// <summary>One try at one server; a redirect comes back as the leader it names.</summary>
    private async Task<(ApiResult<TAnswer> Result, Uri? Leader)> SendOnceAsync<TAnswer>(
        Uri server,
        HttpMethod method,
        string path,
        string token,
        byte[]? body,
        JsonTypeInfo<TAnswer>? answerType,
        TimeSpan timeout,
        CancellationToken cancellationToken)
        where TAnswer : class
    {
        using var deadline = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, cancellationToken);
        if (trust is { NeedsDiscovery: true } && server.Scheme == Uri.UriSchemeHttps)
        {
            try
            {
                if (await DiscoverCaAsync(server, linked.Token).ConfigureAwait(false) is { } refused)
                {
                    return (new(0, null, refused, new HttpRequestException(refused), server), null);
                }
            }
            catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
            {
                return (new(0, null, null, new TimeoutException($"no answer from {LeaderFollower.Display(server)} within {timeout.TotalSeconds}s", ex), server), null);
            }
            catch (HttpRequestException ex)
            {
                return (new(0, null, null, ex, server), null);
            }
        }

        using var request = new HttpRequestMessage(method, new Uri(server, path));
        request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        if (body is not null)
        {
            var content = new ByteArrayContent(body);
            content.Headers.ContentType = Json;
            request.Content = content;
        }

        try
        {
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            var status = (int)response.StatusCode;
            if (status is 307 or 308)
            {
                return (default, LeaderOf(response, server, path));
            }

            if (!response.IsSuccessStatusCode)
            {
                var detail = await response.Content.ReadAsStringAsync(linked.Token).ConfigureAwait(false);
                return (new(status, null, detail.Length > 500 ? detail[..500] : detail, null, server), null);
            }

            if (answerType is null)
            {
                return (new(status, (TAnswer)(object)NoContent.Instance, null, null, server), null);
            }

            var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                var value = await JsonSerializer.DeserializeAsync(stream, answerType, linked.Token).ConfigureAwait(false);
                return (value is null ? new(0, null, null, new JsonException("empty answer"), server) : new(status, value, null, null, server), null);
            }
        }
        catch (OperationCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            return (new(0, null, null, new TimeoutException($"no answer from {LeaderFollower.Display(server)} within {timeout.TotalSeconds}s", ex), server), null);
        }
        catch (HttpRequestException ex) when (ex.InnerException is AuthenticationException && trust?.LastProblem is { } problem)
        {
            var untrusted = $"the certificate of {LeaderFollower.Display(server)} is not trusted: {problem}";
            Refused(server, untrusted);
            return (new(0, null, untrusted, new HttpRequestException(untrusted, ex), server), null);
        }
        catch (Exception ex) when (ex is HttpRequestException or JsonException or IOException)
        {
            return (new(0, null, null, ex, server), null);
        }
    }

    /// <summary>
    /// Fetches the server's CA (<see cref="CaPath"/>, over a connection not yet verified: nothing secret is
    /// sent) and adopts it if its key has the pin; null when adopted, else why not (also logged, once).
    /// </summary>
    private async Task<string?> DiscoverCaAsync(Uri server, CancellationToken cancellationToken)
    {
        using var discovery = new HttpClient(new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            AllowAutoRedirect = false,
            // Not verified yet, by design: what comes back is a public certificate that is adopted only if its
            // key has the pin, and nothing secret is sent on this connection.
            SslOptions = new SslClientAuthenticationOptions { RemoteCertificateValidationCallback = static (_, certificate, _, _) => certificate is not null },
        })
        {
            // A few certificates; an untrusted server does not get to make the agent buffer more.
            MaxResponseContentBufferSize = 256 * 1024,
        };
        using var response = await discovery.GetAsync(new Uri(server, CaPath), cancellationToken).ConfigureAwait(false);
        var offered = new X509Certificate2Collection();
        if (response.IsSuccessStatusCode)
        {
            try
            {
                offered.ImportFromPem(await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false));
            }
            catch (CryptographicException)
            {
                // Offered nothing usable: refused below, naming what was expected.
            }
        }

        var problem = trust!.Adopt(offered);
        if (problem is not null)
        {
            Refused(server, response.IsSuccessStatusCode ? problem : $"{problem} (GET /{CaPath} answered {(int)response.StatusCode})");
        }

        return problem;
    }

    // Why a server's certificate was refused, logged once per reason (retries follow with backoff).
    private void Refused(Uri server, string problem)
    {
        if (logger is not null && Interlocked.Exchange(ref _lastRefusal, problem) != problem)
        {
            AgentLog.ServerNotTrusted(logger, server, problem);
        }
    }

    /// <summary>
    /// The leader's base URL from a standby's redirect (<see cref="LeaderRedirect.LeaderBase"/>).
    /// </summary>
    /// <exception cref="HttpRequestException">The redirect names no usable leader, or would send the token from https to plain http.</exception>
    internal static Uri LeaderOf(HttpResponseMessage response, Uri server, string path)
    {
        ArgumentNullException.ThrowIfNull(response);
        var named = response.Headers.TryGetValues(LeaderRedirect.HeaderName, out var values) ? values.FirstOrDefault() : null;
        var leader = LeaderRedirect.LeaderBase(named, response.Headers.Location, server, new Uri(server, path))
            ?? throw new HttpRequestException($"{LeaderFollower.Display(server)} answered {(int)response.StatusCode} without naming the leader in {LeaderRedirect.HeaderName} or Location");
        return LeaderRedirect.IsDowngrade(server, leader)
            ? throw new HttpRequestException($"{LeaderFollower.Display(server)} redirected to {LeaderFollower.Display(leader)}: not followed from https to plain http, which would send the credential unencrypted")
            : leader;
    }
}
