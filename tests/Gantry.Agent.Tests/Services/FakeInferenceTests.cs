using System.Net.Sockets;
using System.Text;
using Gantry.Agent.Tests.Jobs;
using Gantry.Testing;

namespace Gantry.Agent.Tests.Services;

/// <summary>The stand-in inference server itself (tests/native/fake_inference.c): what the other tests rely on.</summary>
public sealed class FakeInferenceTests
{
    [Fact]
    public async Task Binary_StaticallyLinked_RunsWithoutALoader()
    {
        // A FROM scratch image has no dynamic loader: the ELF must have no PT_INTERP program header.
        var elf = await File.ReadAllBytesAsync(FakeInference.BinaryPath);
        Assert.Equal("\u007fELF", Encoding.ASCII.GetString(elf, 0, 4));
        var phoff = BitConverter.ToInt64(elf, 0x20);
        var phentsize = BitConverter.ToUInt16(elf, 0x36);
        var phnum = BitConverter.ToUInt16(elf, 0x38);
        for (var i = 0; i < phnum; i++)
        {
            const uint PtInterp = 3;
            Assert.NotEqual(PtInterp, BitConverter.ToUInt32(elf, (int)(phoff + (i * phentsize))));
        }
    }

    [Fact]
    public async Task Binary_AloneInAScratchImage_Serves()
    {
        // What a container service test runs: the binary as the image's only file, podman as root (docs/containers.md).
        Assert.True(Environment.IsPrivilegedProcess, "podman runs as root here: run scripts/test.sh as root (CI does)");
        using var podman = new Podman();
        var image = await podman.BuildFromScratchAsync("localhost/" + Podman.UniqueName("gantry-fake-inference"), new Dictionary<string, string> { ["/fake_inference"] = FakeInference.BinaryPath });
        var container = podman.Owns(Podman.UniqueName("gantry-fake-inference"), container: true);
        var port = Tools.FreePort();
        await podman.CheckAsync("run", "-d", "--name", container, "--network", "host", image, "/fake_inference", "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1");

        using var http = new HttpClient();
        string? answer = null;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (answer is null)
        {
            try
            {
                answer = await http.GetStringAsync($"http://127.0.0.1:{port}/health");
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                await Task.Delay(100);
            }
        }

        Assert.Equal("ok\n", answer);

        // SIGTERM (podman stop) ends it at once and cleanly.
        await podman.CheckAsync("stop", "-t", "10", container);
        Assert.Equal("0", (await podman.CheckAsync("inspect", "--format", "{{.State.ExitCode}}", container)).Trim());
    }

    [Fact]
    public async Task Serves_HealthMetricsRootAndNotFound()
    {
        await using var server = await FakeInference.StartAsync("--model", "llama", "--tokens-per-second", "50");
        using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{server.Port}") };

        Assert.Equal("ok\n", await http.GetStringAsync("/health"));
        Assert.Equal("fake inference server\n", await http.GetStringAsync("/"));
        using var missing = await http.GetAsync("/v1/nothing");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.StatusCode);

        var metrics = await http.GetStringAsync("/metrics");
        Assert.Contains("# TYPE vllm:generation_tokens_total counter\n", metrics, StringComparison.Ordinal);
        Assert.Contains("vllm:num_requests_running{model_name=\"llama\"} 2.0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("vllm:num_requests_waiting{model_name=\"llama\"} 1.0\n", metrics, StringComparison.Ordinal);
        Assert.Contains("vllm:prompt_tokens_total{model_name=\"llama\"} ", metrics, StringComparison.Ordinal);
        var counters = Gantry.Agent.Services.ServiceProbe.Parse(Encoding.UTF8.GetBytes(metrics));
        Assert.Null(counters.Error);
        await Task.Delay(300);
        var later = Gantry.Agent.Services.ServiceProbe.Parse(Encoding.UTF8.GetBytes(await http.GetStringAsync("/metrics")));
        Assert.True(later.GeneratedTokensTotal > counters.GeneratedTokensTotal, "the counter grows");
    }

    [Fact]
    public async Task Request_ArrivingInPieces_Answered()
    {
        await using var server = await FakeInference.StartAsync();
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", server.Port);
        var stream = client.GetStream();
        foreach (var piece in new[] { "GET /hea", "lth HTTP/1.1\r\nHost: x\r\n", "\r\n" })
        {
            await stream.WriteAsync(Encoding.ASCII.GetBytes(piece));
            await stream.FlushAsync();
            await Task.Delay(100);
        }

        using var reader = new StreamReader(stream, Encoding.ASCII);
        Assert.StartsWith("HTTP/1.1 200 OK", await reader.ReadToEndAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Request_LargerThanItsBuffer_Refused431AndItKeepsServing()
    {
        await using var server = await FakeInference.StartAsync();
        using (var client = new TcpClient())
        {
            await client.ConnectAsync("127.0.0.1", server.Port);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes("GET /" + new string('a', 20_000)));
            using var reader = new StreamReader(stream, Encoding.ASCII);
            Assert.StartsWith("HTTP/1.1 431", await reader.ReadLineAsync(), StringComparison.Ordinal);
        }

        using var http = new HttpClient();
        Assert.Equal("ok\n", await http.GetStringAsync($"http://127.0.0.1:{server.Port}/health"));
    }

    [Fact]
    public async Task UnhealthyAfter_503OnceTheTimePassed()
    {
        await using var server = await FakeInference.StartAsync("--unhealthy-after", "0");
        using var http = new HttpClient();
        using var response = await http.GetAsync($"http://127.0.0.1:{server.Port}/health");
        Assert.Equal(System.Net.HttpStatusCode.ServiceUnavailable, response.StatusCode);
    }

    [Fact]
    public async Task ExitAfterAndSigterm_EndItCleanly()
    {
        await using var timed = await FakeInference.StartAsync("--exit-after", "0.5");
        await ProcessTable.WaitUntilAsync(() => timed.HasExited, "--exit-after 0.5 to end it");
        Assert.Equal(0, timed.ExitCode);

        await using var signalled = await FakeInference.StartAsync();
        Assert.True(Gantry.Agent.Jobs.ProcessGroups.SignalProcess(signalled.Id, Gantry.Agent.Jobs.ProcessGroups.SigTerm));
        await ProcessTable.WaitUntilAsync(() => signalled.HasExited && signalled.Output.Contains("stopping on signal", StringComparison.Ordinal), "SIGTERM to end it");
        Assert.Equal(0, signalled.ExitCode);
    }
}
