using System.Buffers;
using System.Globalization;
using Gantry.Telemetry.Collection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Telemetry.Apps;

/// <summary>
/// Scrapes the Prometheus endpoints of local inference servers (<c>--app-metrics-url</c>, one
/// per server) for their token counters. All endpoints are scraped at once, each with its own
/// timeout; an endpoint that fails is reported as down with the reason and never fails the
/// others or the collector.
/// </summary>
/// <remarks>
/// Recognised servers, by the metrics they expose (each total is summed over all label sets):
/// <list type="bullet">
/// <item><c>vllm</c>: <c>vllm:prompt_tokens_total</c>, <c>vllm:generation_tokens_total</c>.</item>
/// <item><c>tgi</c>: the sums of the <c>tgi_request_input_length</c> and
/// <c>tgi_request_generated_tokens</c> histograms.</item>
/// <item><c>generic</c>: <c>model_tokens_total</c>; <c>type="prompt"</c> counts as prompt, any
/// other or no <c>type</c> label as generated.</item>
/// </list>
/// </remarks>
public sealed class AppMetricsCollector : ICollector<IReadOnlyList<AppScrape>>, IDisposable
{
    /// <summary>The per-endpoint timeout unless one is given.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(3);

    /// <summary>Bodies larger than this are refused (a real server's metrics are a few hundred KiB).</summary>
    internal const int MaxBodyBytes = 16 * 1024 * 1024;

    private const int StateUp = 1;
    private const int StateDown = 2;

    private readonly Uri[] _urls;
    private readonly HttpClient _httpClient;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    // Per endpoint: 0 before its first scrape, then StateUp or StateDown.
    private readonly int[] _states;

    /// <summary>Creates the collector.</summary>
    /// <param name="urls">Absolute http or https URLs of the metrics endpoints.</param>
    /// <param name="httpClient">The client to scrape with; the collector owns it and disposes it.</param>
    /// <param name="timeout">Per-endpoint timeout; <see cref="DefaultTimeout"/> when null.</param>
    /// <param name="timeProvider">Clock for the timeout; the system clock when null.</param>
    /// <param name="logger">Logs endpoints going down and coming back.</param>
    public AppMetricsCollector(
        IReadOnlyList<Uri> urls,
        HttpClient httpClient,
        TimeSpan? timeout = null,
        TimeProvider? timeProvider = null,
        ILogger? logger = null)
    {
        ArgumentNullException.ThrowIfNull(urls);
        ArgumentNullException.ThrowIfNull(httpClient);
        _timeout = timeout ?? DefaultTimeout;
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(_timeout, TimeSpan.Zero, nameof(timeout));

        _urls = new Uri[urls.Count];
        for (var i = 0; i < urls.Count; i++)
        {
            var url = urls[i];
            if (url is null || !url.IsAbsoluteUri || (url.Scheme != Uri.UriSchemeHttp && url.Scheme != Uri.UriSchemeHttps))
            {
                throw new ArgumentException($"--app-metrics-url must be an absolute http or https URL, not '{url}'.", nameof(urls));
            }

            _urls[i] = url;
        }

        _httpClient = httpClient;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _logger = logger ?? NullLogger.Instance;
        _states = new int[_urls.Length];
    }

    /// <inheritdoc />
    public string Name => "apps";

    /// <inheritdoc />
    public async ValueTask<IReadOnlyList<AppScrape>> CollectAsync(CancellationToken cancellationToken)
    {
        var scrapes = new Task<AppScrape>[_urls.Length];
        for (var i = 0; i < _urls.Length; i++)
        {
            scrapes[i] = ScrapeAsync(i, cancellationToken);
        }

        return await Task.WhenAll(scrapes).ConfigureAwait(false);
    }

    /// <summary>Disposes the HTTP client.</summary>
    public void Dispose() => _httpClient.Dispose();

    /// <summary>Reads the token counters out of a metrics body.</summary>
    internal static AppScrape Parse(string url, ReadOnlySpan<byte> body)
    {
        var vllm = new Totals();
        var tgi = new Totals();
        var generic = new Totals();
        bool isVllm = false, isTgi = false, isGeneric = false;

        foreach (var sample in PrometheusTextParser.EnumerateSamples(body))
        {
            var name = sample.Name;
            // A NaN or infinite counter is garbage, not a count: leave it out.
            var value = sample.Value;
            var finite = double.IsFinite(value);
            if (name.StartsWith("vllm:"u8))
            {
                isVllm = true;
                if (finite && name.SequenceEqual("vllm:prompt_tokens_total"u8))
                {
                    vllm.AddPrompt(value);
                }
                else if (finite && name.SequenceEqual("vllm:generation_tokens_total"u8))
                {
                    vllm.AddGenerated(value);
                }
            }
            else if (name.StartsWith("tgi_"u8))
            {
                isTgi = true;
                if (finite && name.SequenceEqual("tgi_request_input_length_sum"u8))
                {
                    tgi.AddPrompt(value);
                }
                else if (finite && name.SequenceEqual("tgi_request_generated_tokens_sum"u8))
                {
                    tgi.AddGenerated(value);
                }
            }
            else if (name.SequenceEqual("model_tokens_total"u8))
            {
                isGeneric = true;
                if (!finite)
                {
                    continue;
                }

                if (sample.HasLabel("type"u8, "prompt"u8))
                {
                    generic.AddPrompt(value);
                }
                else
                {
                    generic.AddGenerated(value);
                }
            }
        }

        return isVllm ? vllm.ToScrape(url, "vllm")
            : isTgi ? tgi.ToScrape(url, "tgi")
            : isGeneric ? generic.ToScrape(url, "generic")
            : new AppScrape(url, null, true, null, null, null);
    }

    private async Task<AppScrape> ScrapeAsync(int index, CancellationToken cancellationToken)
    {
        var url = _urls[index];
        var text = url.OriginalString;
        using var timeoutSource = new CancellationTokenSource(_timeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeoutSource.Token);
        byte[]? buffer = null;
        AppScrape scrape;
        try
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, url);
            request.Headers.Accept.ParseAdd("text/plain;version=0.0.4;q=1.0,*/*;q=0.1");
            using var response = await _httpClient
                .SendAsync(request, HttpCompletionOption.ResponseHeadersRead, linked.Token)
                .ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                scrape = AppScrape.Down(
                    text,
                    string.Create(CultureInfo.InvariantCulture, $"HTTP {(int)response.StatusCode} {response.ReasonPhrase}"));
            }
            else
            {
                var stream = await response.Content.ReadAsStreamAsync(linked.Token).ConfigureAwait(false);
                await using (stream.ConfigureAwait(false))
                {
                    buffer = ArrayPool<byte>.Shared.Rent(64 * 1024);
                    var length = 0;
                    while (true)
                    {
                        if (length == buffer.Length)
                        {
                            if (buffer.Length >= MaxBodyBytes)
                            {
                                throw new InvalidDataException(
                                    string.Create(CultureInfo.InvariantCulture, $"response larger than {MaxBodyBytes / (1024 * 1024)} MiB"));
                            }

                            var larger = ArrayPool<byte>.Shared.Rent(Math.Min(buffer.Length * 2, MaxBodyBytes));
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

                    scrape = Parse(text, buffer.AsSpan(0, length));
                }
            }
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            // The sampler's own cancellation propagates; anything else is this endpoint's failure.
            var error = timeoutSource.IsCancellationRequested
                ? string.Create(CultureInfo.InvariantCulture, $"timed out after {_timeout.TotalSeconds:0.###} s")
                : ex.Message;
            scrape = AppScrape.Down(text, error);
            Transition(index, StateDown, scrape, ex);
            return scrape;
        }
        finally
        {
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }

        Transition(index, scrape.Up ? StateUp : StateDown, scrape, null);
        return scrape;
    }

    /// <summary>Logs an endpoint's first result and every change between up and down, not every scrape.</summary>
    private void Transition(int index, int state, AppScrape scrape, Exception? exception)
    {
        if (Interlocked.Exchange(ref _states[index], state) == state)
        {
            return;
        }

        if (state == StateUp)
        {
            AppsLog.EndpointUp(_logger, scrape.Url, scrape.Kind ?? "no token metrics");
        }
        else
        {
            AppsLog.EndpointDown(_logger, scrape.Url, scrape.Error ?? "unknown error", exception);
        }
    }

    private struct Totals
    {
        private double? _prompt;
        private double? _generated;

        public void AddPrompt(double value) => _prompt = (_prompt ?? 0) + value;

        public void AddGenerated(double value) => _generated = (_generated ?? 0) + value;

        public readonly AppScrape ToScrape(string url, string kind) => new(url, kind, true, null, _prompt, _generated);
    }
}
