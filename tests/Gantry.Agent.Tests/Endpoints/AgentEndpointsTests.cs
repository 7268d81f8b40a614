using System.IO.Compression;
using System.Net;
using System.Text;
using System.Text.Json;
using Gantry.Agent.Configuration;
using Gantry.Agent.Endpoints;
using Gantry.Agent.Sampling;
using Gantry.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Agent.Tests.Endpoints;

/// <summary>The agent's endpoints over real Kestrel on loopback, sampling this machine.</summary>
public sealed class AgentEndpointsTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private HttpClient _http = null!;

    public async Task InitializeAsync()
    {
        var options = new AgentOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Interval = TimeSpan.FromSeconds(1),
            SimulateGpus = 2,
        };
        _app = AgentHost.Build(options);
        await _app.StartAsync();
        var address = _app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        _http = new HttpClient(new HttpClientHandler { AutomaticDecompression = DecompressionMethods.None }) { BaseAddress = new Uri(address), Timeout = TimeSpan.FromSeconds(30) };
        await WaitForSampleAsync(1);
    }

    public async Task DisposeAsync()
    {
        _http.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    private async Task WaitForSampleAsync(long sequence)
    {
        var publisher = _app.Services.GetRequiredService<SnapshotPublisher>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (publisher.Latest is not { } latest || latest.Snapshot.Sequence < sequence)
        {
            Assert.True(DateTime.UtcNow < deadline, "no sample within 30s");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task Metrics_Scrape_ServesPrometheusTextWithHostAndSimulatedGpus()
    {
        using var response = await _http.GetAsync("/metrics");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("text/plain; version=0.0.4; charset=utf-8", response.Content.Headers.ContentType!.ToString());
        var text = await response.Content.ReadAsStringAsync();
        Assert.Contains("gantry_memory_total_bytes ", text);
        Assert.Contains("gantry_cpu_seconds_total{cpu=\"0\",mode=\"user\"}", text);
        Assert.Contains("gantry_gpu_power_watts{gpu=\"1\",", text);
        Assert.Contains("simulated=\"true\"", text);
        Assert.Contains("gantry_collector_duration_seconds{collector=\"cpu\"}", text);
        Assert.Contains("gantry_build_info{", text);
    }

    [Fact]
    public async Task Metrics_AcceptGzip_ServesCompressedBody()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.AcceptEncoding.ParseAdd("gzip");
        using var response = await _http.SendAsync(request);
        Assert.Equal("gzip", response.Content.Headers.ContentEncoding.Single());
        await using var gzip = new GZipStream(await response.Content.ReadAsStreamAsync(), CompressionMode.Decompress);
        using var reader = new StreamReader(gzip, Encoding.UTF8);
        Assert.Contains("# TYPE gantry_gpu_energy_joules_total counter", await reader.ReadToEndAsync());
    }

    [Fact]
    public async Task Metrics_GzipRefused_ServesPlainText()
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
        request.Headers.TryAddWithoutValidation("Accept-Encoding", "gzip;q=0, identity");
        using var response = await _http.SendAsync(request);
        Assert.Empty(response.Content.Headers.ContentEncoding);
        Assert.StartsWith("# HELP", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_RealScrape_PassesPromtool()
    {
        var promtool = Tools.Require("promtool", "prometheus");
        var body = await _http.GetByteArrayAsync("/metrics");
        var info = new System.Diagnostics.ProcessStartInfo(promtool, ["check", "metrics"]) { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = System.Diagnostics.Process.Start(info)!;
        await process.StandardInput.BaseStream.WriteAsync(body);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0 && output.Trim().Length == 0, $"promtool check metrics (exit {process.ExitCode}):\n{output}");
    }

    [Theory]
    [InlineData("/status")]
    [InlineData("/v1/status")]
    public async Task Status_Get_ServesNodeSnapshotJson(string path)
    {
        using var response = await _http.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        using var doc = JsonDocument.Parse(await response.Content.ReadAsByteArrayAsync());
        var root = doc.RootElement;
        Assert.True(root.GetProperty("host").GetProperty("memory").GetProperty("totalBytes").GetUInt64() > 0);
        var gpus = root.GetProperty("gpus");
        Assert.Equal("simulated", gpus.GetProperty("status").GetString());
        Assert.Equal(2, gpus.GetProperty("gpus").GetArrayLength());
        Assert.All(gpus.GetProperty("gpus").EnumerateArray(), g => Assert.True(g.GetProperty("simulated").GetBoolean()));
        Assert.Contains(root.GetProperty("collectors").EnumerateArray(), c => c.GetProperty("name").GetString() == "cpu");
    }

    [Fact]
    public async Task Events_Subscribe_ReceivesOneEventPerNewSample()
    {
        using var response = await _http.GetAsync("/events", HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType!.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var ids = new List<long>();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (ids.Count < 2)
        {
            var line = await reader.ReadLineAsync(cts.Token);
            Assert.NotNull(line);
            if (line.StartsWith("id: ", StringComparison.Ordinal))
            {
                ids.Add(long.Parse(line[4..], System.Globalization.CultureInfo.InvariantCulture));
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using var doc = JsonDocument.Parse(line[6..]);
                Assert.Equal(ids[^1], doc.RootElement.GetProperty("sequence").GetInt64());
            }
        }

        Assert.True(ids[1] > ids[0]);
    }

    [Fact]
    public async Task Healthz_FreshSamples_Returns200()
    {
        using var response = await _http.GetAsync("/healthz");
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Fact]
    public void HealthProblem_StaleOrMissingSample_ExplainsWhy()
    {
        var options = new AgentOptions { Interval = TimeSpan.FromSeconds(5) };
        Assert.Equal("no sample has been taken yet", AgentEndpoints.HealthProblem(null, DateTimeOffset.UnixEpoch, options));

        var latest = _app.Services.GetRequiredService<SnapshotPublisher>().Latest!;
        var taken = latest.Snapshot.Timestamp;
        Assert.Null(AgentEndpoints.HealthProblem(latest, taken + TimeSpan.FromSeconds(10), options));
        var stale = AgentEndpoints.HealthProblem(latest, taken + TimeSpan.FromSeconds(60), options);
        Assert.NotNull(stale);
        Assert.Contains("60s old", stale, StringComparison.Ordinal);
    }

    [Fact]
    public async Task UnknownPath_Returns404()
    {
        using var response = await _http.GetAsync("/nope");
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
    }
}
