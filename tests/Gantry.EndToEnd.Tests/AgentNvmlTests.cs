using System.Diagnostics;
using System.Text.Json;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// The real binary against NVML: the fake C library through <c>--nvml-library</c> (the same
/// P/Invoke path as the driver's libnvidia-ml.so.1), and this machine, which has no NVML.
/// </summary>
public sealed class AgentNvmlTests
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(30) };

    [Fact]
    public async Task Agent_FakeNvml_ExportsGpusUnsupportedLostAndXids()
    {
        var script = Path.Combine(Path.GetTempPath(), $"gantry-e2e-nvml-{Guid.NewGuid():N}.txt");
        await File.WriteAllLinesAsync(script,
        [
            "gpus=3",
            "driver=550.54.15",
            "cuda=12040",
            "gpu.0.name=NVIDIA H100 80GB HBM3",
            "gpu.0.uuid=GPU-e2e-0",
            "gpu.0.power_mw=312500",
            "gpu.0.fan=unsupported",
            "gpu.0.nvlinks=2",
            "gpu.1.uuid=GPU-e2e-1",
            "gpu.1.fan=40",
            "gpu.2.uuid=GPU-e2e-2",
            "gpu.2.lost=1",
            "xid=0:79",
            "xid=0:79",
            "xid=1:48",
        ]);
        try
        {
            await using var agent = GantryProcess.Start(
                ["agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--nvml-library", FakeNvmlLibrary.CurrentDriverPath],
                new Dictionary<string, string> { [FakeNvmlLibrary.ScriptVariable] = script });
            var url = await agent.WaitForListeningAsync();

            // XID events arrive on the watcher thread; wait for a sample that has counted all three.
            var deadline = Stopwatch.StartNew();
            string metrics;
            do
            {
                await Task.Delay(300);
                metrics = await AgentProcessTests.RetryAsync(() => Http.GetStringAsync(url + "/metrics"));
            }
            while (!metrics.Contains("xid=\"48\"", StringComparison.Ordinal) && deadline.Elapsed < TimeSpan.FromSeconds(30));

            Assert.Contains("gantry_gpu_power_watts{gpu=\"0\",uuid=\"GPU-e2e-0\",model=\"NVIDIA H100 80GB HBM3\"} 312.5\n", metrics, StringComparison.Ordinal);
            Assert.Contains("gantry_gpu_xid_errors_total{gpu=\"0\",uuid=\"GPU-e2e-0\",model=\"NVIDIA H100 80GB HBM3\",xid=\"79\"} 2\n", metrics, StringComparison.Ordinal);
            Assert.Contains("xid=\"48\"} 1\n", metrics, StringComparison.Ordinal);
            // GPU 2 was lost before NVML ever told us who it was: its index is all we know.
            Assert.Matches("gantry_gpu_lost\\{gpu=\"2\",[^}]*\\} 1\n", metrics);
            Assert.Contains("gantry_gpu_nvlink_active{gpu=\"0\",uuid=\"GPU-e2e-0\",model=\"NVIDIA H100 80GB HBM3\",link=\"1\"} 1\n", metrics, StringComparison.Ordinal);
            // Unsupported on GPU 0, present on GPU 1: left out, never a zero.
            Assert.DoesNotContain("gantry_gpu_fan_speed_ratio{gpu=\"0\"", metrics, StringComparison.Ordinal);
            Assert.Contains("gantry_gpu_fan_speed_ratio{gpu=\"1\"", metrics, StringComparison.Ordinal);
            // A lost GPU reports nothing but its identity and its loss.
            Assert.DoesNotContain("gantry_gpu_power_watts{gpu=\"2\"", metrics, StringComparison.Ordinal);
            Assert.DoesNotContain("simulated=", metrics, StringComparison.Ordinal);

            var (exitCode, output) = await PromtoolAsync(metrics);
            Assert.True(exitCode == 0 && output.Length == 0, $"promtool check metrics (exit {exitCode}):\n{output}");

            using var status = JsonDocument.Parse(await Http.GetStringAsync(url + "/status"));
            var gpus = status.RootElement.GetProperty("gpus");
            Assert.Equal("ok", gpus.GetProperty("status").GetString());
            Assert.Equal("550.54.15", gpus.GetProperty("driverVersion").GetString());
            Assert.Equal("12.4", gpus.GetProperty("cudaVersion").GetString());
            Assert.True(gpus.GetProperty("gpus")[2].GetProperty("lost").GetBoolean());
            Assert.Equal(0, await agent.StopAsync());
        }
        finally
        {
            File.Delete(script);
        }
    }

    [Fact]
    public async Task Agent_NoNvmlOnMachine_ServesHostMetricsAndSaysWhyThereAreNoGpus()
    {
        await using var agent = GantryProcess.Start(["agent", "--listen", "127.0.0.1:0", "--interval", "1s"]);
        var url = await agent.WaitForListeningAsync();
        var metrics = await AgentProcessTests.RetryAsync(() => Http.GetStringAsync(url + "/metrics"));
        Assert.Contains("gantry_memory_total_bytes", metrics, StringComparison.Ordinal);
        Assert.DoesNotContain("uuid=", metrics, StringComparison.Ordinal);

        using var status = JsonDocument.Parse(await Http.GetStringAsync(url + "/status"));
        var gpus = status.RootElement.GetProperty("gpus");
        Assert.Equal("unavailable", gpus.GetProperty("status").GetString());
        Assert.Contains("libnvidia-ml.so.1", gpus.GetProperty("message").GetString(), StringComparison.Ordinal);
        Assert.Equal(0, await agent.StopAsync());
    }

    private static async Task<(int ExitCode, string Output)> PromtoolAsync(string metrics)
    {
        var info = new ProcessStartInfo(Tools.Require("promtool", "prometheus"), ["check", "metrics"])
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        using var process = Process.Start(info)!;
        await process.StandardInput.WriteAsync(metrics);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        return (process.ExitCode, output.Trim());
    }
}
