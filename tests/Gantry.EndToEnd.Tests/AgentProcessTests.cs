using System.Net;
using System.Text.Json;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>The real <c>gantry</c> binary, run as a user would.</summary>
public sealed class AgentProcessTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task Help_Root_ListsTheAgentCommand()
    {
        var (exitCode, output) = await GantryProcess.RunAsync(["--help"]);
        Assert.Equal(0, exitCode);
        Assert.Contains("agent", output, StringComparison.Ordinal);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Help_Agent_ExplainsEveryOptionWithItsEnvironmentVariable()
    {
        var (exitCode, output) = await GantryProcess.RunAsync(["agent", "--help"]);
        Assert.Equal(0, exitCode);
        foreach (var flag in new[] { "--listen", "--interval", "--nvml-library", "--simulate-gpus", "--app-metrics-url", "--dcgm-compat", "--node-power-envelope-watts", "--config", "--collector-timeout", "--no-nvml", "--procfs", "--sysfs", "--log-level", "--container-runtimes", "--container-runtime-path", "--container-gpus" })
        {
            Assert.Contains(flag, output, StringComparison.Ordinal);
        }

        Assert.Contains("GANTRY_INTERVAL", output, StringComparison.Ordinal);
        Assert.Contains("(default: 5s)", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "agent", "--interval", "0.5s" }, "--interval")]
    [InlineData(new[] { "agent", "--simulate-gpus", "lots" }, "--simulate-gpus")]
    [InlineData(new[] { "agent", "--no-such-flag" }, "--no-such-flag")]
    [InlineData(new[] { "agent", "--config", "/nonexistent/gantry.json" }, "/nonexistent/gantry.json")]
    [InlineData(new[] { "agent", "--gc-gen0-size", "lots" }, "--gc-gen0-size")]
    public async Task Agent_BadInput_ExitsWithCode2AndNamesTheSetting(string[] args, string named)
    {
        var (exitCode, output) = await GantryProcess.RunAsync(args);
        Assert.Equal(2, exitCode);
        Assert.Contains(named, output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_BadEnvironmentValue_ExitsWithCode2()
    {
        var (exitCode, output) = await GantryProcess.RunAsync(["agent"], new Dictionary<string, string> { ["GANTRY_INTERVAL"] = "soon" });
        Assert.Equal(2, exitCode);
        Assert.Contains("GANTRY_INTERVAL", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Agent_SimulatedGpus_ServesEndpointsAndStopsCleanlyOnSigterm()
    {
        await using var agent = GantryProcess.Start(["agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--simulate-gpus", "3", "--dcgm-compat"]);
        var url = await agent.WaitForListeningAsync();

        var metrics = await RetryAsync(() => Http.GetStringAsync(url + "/metrics"));
        Assert.Contains("gantry_gpu_utilization_ratio{gpu=\"2\",", metrics, StringComparison.Ordinal);
        Assert.Contains("simulated=\"true\"", metrics, StringComparison.Ordinal);
        Assert.Contains("DCGM_FI_DEV_GPU_UTIL{gpu=\"0\"", metrics, StringComparison.Ordinal);

        using var status = JsonDocument.Parse(await Http.GetStringAsync(url + "/status"));
        Assert.Equal(3, status.RootElement.GetProperty("gpus").GetProperty("gpus").GetArrayLength());
        Assert.Equal(HttpStatusCode.OK, (await Http.GetAsync(url + "/healthz")).StatusCode);
        Assert.Contains("SIMULATED", agent.Output, StringComparison.Ordinal);

        Assert.Equal(0, await agent.StopAsync());
    }

    [Fact]
    public async Task Agent_DefaultGen0Size_RestartsInPlaceWithTheBudgetAndServes()
    {
        await using var agent = GantryProcess.Start(["agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--no-nvml"]);
        var url = await agent.WaitForListeningAsync();
        Assert.Contains("gantry_", await RetryAsync(() => Http.GetStringAsync(url + "/metrics")), StringComparison.Ordinal);

        // The same pid now runs the image started by execve with the runtime variable set.
        var environ = (await File.ReadAllTextAsync($"/proc/{agent.Id}/environ")).Split('\0');
        Assert.Contains("DOTNET_GCgen0size=100000", environ);
        Assert.Contains("DOTNET_GCgen0MaxBudget=100000", environ);
        Assert.Contains("DOTNET_GCRegionSize=100000", environ);
        Assert.Contains("generation-0 budget 1 MiB, regions to match", agent.Output, StringComparison.Ordinal);
        Assert.Equal(0, await agent.StopAsync());
    }

    [Theory]
    [InlineData("agent")]
    [InlineData("server")]
    public async Task WorkingDirectory_AppsettingsIgnoredAndNotWatched(string role)
    {
        // An ASP.NET Core default host would read appsettings.json from the working directory (here
        // adding a Kestrel endpoint) and watch the directory tree for changes.
        var dir = Directory.CreateTempSubdirectory("gantry-cwd-").FullName;
        try
        {
            using var probe = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var extraPort = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            await File.WriteAllTextAsync(Path.Combine(dir, "appsettings.json"), """{"Kestrel":{"Endpoints":{"Extra":{"Url":"http://127.0.0.1:PORT"}}}}""".Replace("PORT", extraPort.ToString(System.Globalization.CultureInfo.InvariantCulture), StringComparison.Ordinal));
            for (var i = 0; i < 5; i++)
            {
                Directory.CreateDirectory(Path.Combine(dir, $"sub{i}", "deeper"));
            }

            string[] args = role == "agent"
                ? ["agent", "--listen", "127.0.0.1:0", "--no-nvml"]
                : ["server", "--listen", "127.0.0.1:0", "--data-dir", Path.Combine(dir, "data")];
            await using var process = GantryProcess.Start(args, workingDirectory: dir);
            var url = await process.WaitForListeningAsync();
            // The agent's /healthz is 503 until its first sample: wait for it to be up.
            var healthy = false;
            for (var i = 0; i < 100 && !healthy; i++)
            {
                using var health = await RetryAsync(() => Http.GetAsync(url + "/healthz"));
                healthy = health.StatusCode == HttpStatusCode.OK;
                if (!healthy)
                {
                    await Task.Delay(100);
                }
            }

            Assert.True(healthy, "/healthz never answered 200");

            using var client = new System.Net.Sockets.TcpClient();
            await Assert.ThrowsAnyAsync<System.Net.Sockets.SocketException>(() => client.ConnectAsync(IPAddress.Loopback, extraPort));
            var watches = Directory.GetFiles($"/proc/{process.Id}/fd").Count(fd => new FileInfo(fd).LinkTarget?.Contains("inotify", StringComparison.Ordinal) == true);
            Assert.Equal(0, watches);
            Assert.Equal(0, await process.StopAsync());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public async Task Agent_PortInUse_FailsWithAClearMessage()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        var (exitCode, output) = await GantryProcess.RunAsync(["agent", "--listen", $"127.0.0.1:{port}", "--no-nvml"]);
        Assert.Equal(1, exitCode);
        Assert.Contains($"cannot listen on 127.0.0.1:{port}", output, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output, StringComparison.Ordinal);
    }

    internal static async Task<T> RetryAsync<T>(Func<Task<T>> action)
    {
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await action();
            }
            catch (HttpRequestException) when (attempt < 50)
            {
                await Task.Delay(200);
            }
        }
    }
}
