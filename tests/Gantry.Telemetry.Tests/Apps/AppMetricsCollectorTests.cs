using System.Net;
using System.Net.Sockets;
using Gantry.Telemetry.Apps;

namespace Gantry.Telemetry.Tests.Apps;

public sealed class AppMetricsCollectorTests(FakeInferenceServer server) : IClassFixture<FakeInferenceServer>
{
    private AppMetricsCollector Collector(TimeSpan? timeout = null, params string[] paths) =>
        new(paths.Select(p => new Uri(p.StartsWith("http", StringComparison.Ordinal) ? p : server.Url(p))).ToList(), new HttpClient(), timeout);

    [Fact]
    public async Task CollectAsync_ScriptedServers_KindsAndTotalsThenRates()
    {
        // Each scripted path is only used by this test, so the first scrape sees the first body.
        using var collector = Collector(TimeSpan.FromSeconds(30), "/vllm", "/tgi", "/generic");

        var first = await collector.CollectAsync(CancellationToken.None);
        var second = await collector.CollectAsync(CancellationToken.None);

        Assert.Equal("apps", collector.Name);
        Assert.Equal(
            [
                new AppScrape(server.Url("/vllm"), "vllm", true, null, 1500, 3000),
                new AppScrape(server.Url("/tgi"), "tgi", true, null, 2048, 812),
                new AppScrape(server.Url("/generic"), "generic", true, null, 15, 11),
            ],
            first);
        Assert.Equal(
            [
                new AppScrape(server.Url("/vllm"), "vllm", true, null, 4500, 13000),
                new AppScrape(server.Url("/tgi"), "tgi", true, null, 3000, 1000),
                new AppScrape(server.Url("/generic"), "generic", true, null, 25, 21),
            ],
            second);

        var vllm = AppRateCalculator.Calculate(first[0], second[0], 10, 5000);
        Assert.Equal(300, vllm.PromptTokensPerSecond);
        Assert.Equal(1000, vllm.GeneratedTokensPerSecond);
        Assert.Equal(2, vllm.GeneratedTokensPerJoule);
    }

    [Fact]
    public async Task CollectAsync_UnreachableUrl_DownWithErrorOthersUnaffected()
    {
        using var collector = Collector(TimeSpan.FromSeconds(30), $"http://127.0.0.1:{ClosedPort()}/metrics", "/plain");

        var scrapes = await collector.CollectAsync(CancellationToken.None);

        Assert.False(scrapes[0].Up);
        Assert.False(string.IsNullOrWhiteSpace(scrapes[0].Error));
        Assert.Null(scrapes[0].Kind);
        Assert.Null(scrapes[0].GeneratedTokensTotal);
        Assert.Equal(new AppScrape(server.Url("/plain"), null, true, null, null, null), scrapes[1]);
    }

    [Fact]
    public async Task CollectAsync_ErrorStatus_DownWithStatus()
    {
        using var collector = Collector(TimeSpan.FromSeconds(30), "/unavailable");

        var scrape = Assert.Single(await collector.CollectAsync(CancellationToken.None));

        Assert.False(scrape.Up);
        Assert.StartsWith("HTTP 503", scrape.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task CollectAsync_SlowEndpoint_TimesOutAsDown()
    {
        using var collector = Collector(TimeSpan.FromMilliseconds(300), "/slow");

        var scrape = Assert.Single(await collector.CollectAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(20)));

        Assert.Equal(AppScrape.Down(server.Url("/slow"), "timed out after 0.3 s"), scrape);
    }

    [Fact]
    public async Task CollectAsync_CallerCancels_Throws()
    {
        using var collector = Collector(TimeSpan.FromSeconds(30), "/slow");
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));

        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () => await collector.CollectAsync(cts.Token));
    }

    [Fact]
    public async Task CollectAsync_SeveralUrls_ScrapedConcurrently()
    {
        using var collector = Collector(TimeSpan.FromSeconds(20), "/barrier", "/barrier");

        var scrapes = await collector.CollectAsync(CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(30));

        Assert.All(scrapes, s => Assert.Equal("vllm", s.Kind));
    }

    [Fact]
    public async Task CollectAsync_NoUrls_EmptyList()
    {
        using var collector = Collector(null);

        Assert.Empty(await collector.CollectAsync(CancellationToken.None));
    }

    [Theory]
    [InlineData("ftp://127.0.0.1/metrics")]
    [InlineData("/metrics")]
    public void Ctor_NotAnHttpUrl_Throws(string url)
    {
        using var client = new HttpClient();

        var ex = Assert.Throws<ArgumentException>(() => new AppMetricsCollector([new Uri(url, UriKind.RelativeOrAbsolute)], client));
        Assert.Contains("--app-metrics-url", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Dispose_DisposesHttpClient()
    {
        var client = new HttpClient();
        var collector = new AppMetricsCollector([new Uri(server.Url("/plain"))], client);

        collector.Dispose();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => client.GetAsync(new Uri(server.Url("/plain"))));
    }

    [Fact]
    public void Parse_NonFiniteValues_LeftOut()
    {
        var scrape = AppMetricsCollector.Parse("u", "vllm:prompt_tokens_total NaN\nvllm:generation_tokens_total{a=\"1\"} 5\nvllm:generation_tokens_total{a=\"2\"} +Inf\n"u8);

        Assert.Equal(new AppScrape("u", "vllm", true, null, null, 5), scrape);
    }

    [Fact]
    public void Parse_VllmWithoutTokenCounters_KindButNoTotals()
    {
        Assert.Equal(new AppScrape("u", "vllm", true, null, null, null), AppMetricsCollector.Parse("u", "vllm:num_requests_running 0\n"u8));
    }

    private static int ClosedPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }
}
