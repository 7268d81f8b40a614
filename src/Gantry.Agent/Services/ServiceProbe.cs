using System.Buffers;
using System.Globalization;
using System.Net.Sockets;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Apps;

namespace Gantry.Agent.Services;

/// <summary>
/// One health check or one read of a service's metrics endpoint. Each call is bounded by its timeout
/// (through the <see cref="TimeProvider"/>), never throws for the service's own failures (they are
/// the result), and lets the caller's cancellation through.
/// </summary>
internal static class ServiceProbe
{
    /// <summary>The largest metrics response read: a vLLM server's is a few hundred KiB.</summary>
    internal const int MaxMetricsBytes = 4 * 1024 * 1024;

    /// <summary>The URL a check or a read goes to: <c>http://HOST:PORT/PATH</c> (an IPv6 host in brackets).</summary>
    public static Uri Url(string host, int port, string? path)
    {
        var p = string.IsNullOrEmpty(path) ? "/" : path[0] == '/' ? path : "/" + path;
        var query = p.IndexOf('?', StringComparison.Ordinal);
        var builder = new UriBuilder(Uri.UriSchemeHttp, host, port, query < 0 ? p : p[..query]);
        if (query >= 0)
        {
            builder.Query = p[(query + 1)..];
        }

        return builder.Uri;
    }

    /// <summary>Runs <paramref name="check"/> against <paramref name="host"/>: null when it passed, else why not.</summary>
    public static async Task<string?> CheckAsync(HttpClient http, HealthCheck check, string host, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        ArgumentNullException.ThrowIfNull(check);
        var timeout = TimeSpan.FromSeconds(Math.Max(0.05, check.TimeoutSeconds));
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        try
        {
            if (check.Kind == HealthCheckKind.Tcp)
            {
                using var socket = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await socket.ConnectAsync(host, check.Port, linked.Token).ConfigureAwait(false);
                return null;
            }

            var url = Url(host, check.Port, check.Path);
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            return response.IsSuccessStatusCode
                ? null
                : string.Create(CultureInfo.InvariantCulture, $"GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase}");
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is OperationCanceledException or HttpRequestException or SocketException or IOException)
        {
            var what = check.Kind == HealthCheckKind.Tcp
                ? string.Create(CultureInfo.InvariantCulture, $"TCP {host}:{check.Port}")
                : "GET " + Url(host, check.Port, check.Path);
            return timer.IsCancellationRequested
                ? string.Create(CultureInfo.InvariantCulture, $"{what} timed out after {timeout.TotalSeconds:0.###} s")
                : $"{what} failed: {ex.Message}";
        }
    }

    /// <summary>Reads <paramref name="url"/> and picks vLLM's counters and gauges out of it.</summary>
    public static async Task<ServiceCounters> ReadMetricsAsync(HttpClient http, Uri url, TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(http);
        using var timer = new CancellationTokenSource(timeout, time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timer.Token);
        byte[]? buffer = null;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Accept.ParseAdd("text/plain;version=0.0.4;q=1.0,*/*;q=0.1");
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                return ServiceCounters.Failed(string.Create(CultureInfo.InvariantCulture, $"GET {url} answered {(int)response.StatusCode} {response.ReasonPhrase}"));
            }

            var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
            await using (stream.ConfigureAwait(false))
            {
                buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                var length = 0;
                while (true)
                {
                    if (length == buffer.Length)
                    {
                        if (buffer.Length >= MaxMetricsBytes)
                        {
                            return ServiceCounters.Failed($"GET {url}: response larger than {MaxMetricsBytes / (1024 * 1024)} MiB");
                        }

                        var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, MaxMetricsBytes));
                        buffer.AsSpan(0, length).CopyTo(larger);
                        ArrayPool<byte>.Shared.Return(buffer);
                        buffer = larger;
                    }

                    var read = await stream.ReadAsync(buffer.AsMemory(length), linked.Token).ConfigureAwait(false);
                    if (read == 0)
                    {
                        break;
                    }

                    length += read;
                }

                return Parse(buffer.AsSpan(0, length));
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested && ex is OperationCanceledException or HttpRequestException or IOException)
        {
            return ServiceCounters.Failed(timer.IsCancellationRequested
                ? string.Create(CultureInfo.InvariantCulture, $"GET {url} timed out after {timeout.TotalSeconds:0.###} s")
                : $"GET {url} failed: {ex.Message}");
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    /// <summary>
    /// vLLM's counters and gauges in a Prometheus text body, each summed over its series (one per
    /// model); a name that is absent stays null. A body with none of them is an error: the endpoint is
    /// not a vLLM-shaped one.
    /// </summary>
    internal static ServiceCounters Parse(ReadOnlySpan<byte> body)
    {
        double? generated = null, prompt = null, running = null, waiting = null;
        foreach (var sample in PrometheusTextParser.EnumerateSamples(body))
        {
            var name = sample.Name;
            var value = sample.Value;
            if (!name.StartsWith("vllm:"u8) || !double.IsFinite(value))
            {
                continue;
            }

            if (name.SequenceEqual("vllm:generation_tokens_total"u8))
            {
                generated = (generated ?? 0) + value;
            }
            else if (name.SequenceEqual("vllm:prompt_tokens_total"u8))
            {
                prompt = (prompt ?? 0) + value;
            }
            else if (name.SequenceEqual("vllm:num_requests_running"u8))
            {
                running = (running ?? 0) + value;
            }
            else if (name.SequenceEqual("vllm:num_requests_waiting"u8))
            {
                waiting = (waiting ?? 0) + value;
            }
        }

        return generated is null && prompt is null && running is null && waiting is null
            ? ServiceCounters.Failed("no vLLM metrics (vllm:generation_tokens_total, vllm:num_requests_running, …) in the response")
            : new ServiceCounters(generated, prompt, running, waiting, null);
    }
}

/// <summary>What one read of a service's metrics endpoint found; <see cref="Error"/> set when it failed.</summary>
internal sealed record ServiceCounters(double? GeneratedTokensTotal, double? PromptTokensTotal, double? RequestsRunning, double? RequestsWaiting, string? Error)
{
    /// <summary>A read that failed.</summary>
    public static ServiceCounters Failed(string error) => new(null, null, null, null, error);
}
