using System.Diagnostics;
using System.Text;
using Gantry.Telemetry.Exposition;
using Gantry.Telemetry.Model;
using Gantry.Testing;

namespace Gantry.Telemetry.Tests.Exposition;

public sealed class PrometheusRendererTests
{
    private static string Render(NodeSnapshot snapshot, bool dcgm = false) => Encoding.UTF8.GetString(PrometheusRenderer.Render(snapshot, dcgm));

    [Fact]
    public void Render_FullSnapshot_WritesEveryFamilyOnceAndContiguously()
    {
        var text = Render(TestSnapshots.Full());
        var seen = new HashSet<string>();
        string? current = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (line.StartsWith("# TYPE ", StringComparison.Ordinal))
            {
                current = line.Split(' ')[2];
                Assert.True(seen.Add(current), $"family {current} written twice");
                continue;
            }

            if (line.StartsWith('#'))
            {
                continue;
            }

            var name = line[..line.IndexOfAny(['{', ' '])];
            Assert.Equal(current, name);
        }

        Assert.Contains("gantry_gpu_energy_joules_total", seen);
        Assert.Contains("gantry_rapl_energy_joules_total", seen);
        Assert.Contains("gantry_cpu_seconds_total", seen);
        Assert.Contains("gantry_app_tokens_per_joule", seen);
        Assert.True(text.EndsWith('\n'));
        Assert.DoesNotContain("\r", text);
    }

    [Fact]
    public void Render_GpuSeries_CarryGpuUuidAndModelLabels()
    {
        var text = Render(TestSnapshots.Full());
        Assert.Contains("gantry_gpu_power_watts{gpu=\"0\",uuid=\"GPU-00000000-aaaa-bbbb-cccc-dddddddddddd\",model=\"NVIDIA H100 80GB HBM3\"} 512.25\n", text);
        Assert.Contains("gantry_gpu_energy_joules_total{gpu=\"1\",", text);
        Assert.Contains("gantry_gpu_clock_hertz{gpu=\"0\",uuid=\"GPU-00000000-aaaa-bbbb-cccc-dddddddddddd\",model=\"NVIDIA H100 80GB HBM3\",clock=\"sm\"} 1980000000\n", text);
        Assert.Contains("gantry_gpu_utilization_ratio{gpu=\"0\",uuid=\"GPU-00000000-aaaa-bbbb-cccc-dddddddddddd\",model=\"NVIDIA H100 80GB HBM3\"} 0.87\n", text);
    }

    [Fact]
    public void Render_ClockEventReasons_OneSeriesPerReason()
    {
        var text = Render(TestSnapshots.Full(withLostGpu: false));
        var lines = text.Split('\n').Where(l => l.StartsWith("gantry_gpu_clock_event_active{gpu=\"0\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(ClockEventReasons.All.Length, lines.Count);
        Assert.Contains(lines, l => l.Contains("reason=\"sw_power_cap\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("reason=\"sw_thermal_slowdown\"", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.Contains("reason=\"gpu_idle\"", StringComparison.Ordinal) && l.EndsWith(" 0", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_UnsupportedReading_IsLeftOutNotZero()
    {
        var snapshot = TestSnapshots.Full(withLostGpu: false);
        var text = Render(snapshot);
        // Fan speed is null on every GPU in the fixture (SXM boards have no fan).
        Assert.DoesNotContain("gantry_gpu_fan_speed_ratio", text);
        Assert.DoesNotContain("gantry_gpu_retired_pages{", text);
    }

    [Fact]
    public void Render_LostGpu_ReportsIdentityAndLostOnly()
    {
        var text = Render(TestSnapshots.Full());
        var lostLines = text.Split('\n').Where(l => l.Contains("uuid=\"GPU-lost\"", StringComparison.Ordinal)).ToList();
        Assert.Equal(2, lostLines.Count);
        Assert.Contains(lostLines, l => l.StartsWith("gantry_gpu_lost{", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
        Assert.Contains(lostLines, l => l.StartsWith("gantry_gpu_info{", StringComparison.Ordinal));
    }

    [Fact]
    public void Render_XidErrors_AreCountersPerCode()
    {
        var text = Render(TestSnapshots.Full());
        Assert.Contains("# TYPE gantry_gpu_xid_errors_total counter", text);
        Assert.Contains("xid=\"79\"} 2\n", text);
        Assert.Contains("xid=\"48\"} 1\n", text);
    }

    [Fact]
    public void Render_SimulatedGpus_AreLabelledSimulated()
    {
        var text = Render(TestSnapshots.Full(simulated: true, withLostGpu: false));
        var gpuLines = text.Split('\n').Where(l => l.StartsWith("gantry_gpu_", StringComparison.Ordinal) && l.Contains("uuid=", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(gpuLines);
        Assert.All(gpuLines, l => Assert.Contains("simulated=\"true\"", l));
    }

    [Fact]
    public void Render_NoGpuSource_WritesNoGpuSeries()
    {
        var snapshot = TestSnapshots.Full() with { Gpus = GpuSnapshot.Unavailable("NVML not found") };
        var text = Render(snapshot);
        Assert.Contains("gantry_gpu_source_available{status=\"unavailable\"} 0\n", text);
        Assert.DoesNotContain("uuid=", text);
    }

    [Fact]
    public void Render_LabelValues_AreEscaped()
    {
        var snapshot = TestSnapshots.Full() with
        {
            Host = TestSnapshots.Full().Host with { Filesystems = [new FilesystemSample("/dev/x", "/mnt/a \"b\"\\c\nd", "ext4", 1, 1, 1, null, null, false)] },
        };
        var text = Render(snapshot);
        Assert.Contains("mountpoint=\"/mnt/a \\\"b\\\"\\\\c\\nd\"", text);
    }

    [Fact]
    public void Render_DcgmCompat_EmitsDcgmNamesUnitsAndLabels()
    {
        var text = Render(TestSnapshots.Full(withLostGpu: false), dcgm: true);
        Assert.Contains("# TYPE DCGM_FI_DEV_POWER_USAGE gauge", text);
        Assert.Contains("DCGM_FI_DEV_SM_CLOCK{gpu=\"0\",UUID=\"GPU-00000000-aaaa-bbbb-cccc-dddddddddddd\",pci_bus_id=\"00000000:18:00.0\",device=\"nvidia0\",modelName=\"NVIDIA H100 80GB HBM3\",Hostname=\"node-1\",DCGM_FI_DRIVER_VERSION=\"550.54.15\"} 1980\n", text);
        Assert.Contains("DCGM_FI_DEV_FB_USED{gpu=\"1\",", text);
        Assert.Contains("DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION{gpu=\"0\"", text);
        Assert.Contains("} 123456789\n", text);
        Assert.Contains("DCGM_FI_DEV_XID_ERRORS{gpu=\"0\"", text);
        Assert.DoesNotContain("DCGM_FI_DEV_XID_ERRORS", Render(TestSnapshots.Full(withLostGpu: false), dcgm: false));
    }

    [Fact]
    public void Render_FullSnapshot_PassesPromtoolCheckMetrics()
    {
        var promtool = Tools.Require("promtool", "prometheus");
        var (exitCode, output) = Promtool(promtool, PrometheusRenderer.Render(TestSnapshots.Full(), dcgmCompat: false));
        Assert.True(exitCode == 0 && output.Trim().Length == 0, $"promtool check metrics complained (exit {exitCode}):\n{output}");
    }

    [Fact]
    public void Render_SimulatedSnapshot_PassesPromtoolCheckMetrics()
    {
        var promtool = Tools.Require("promtool", "prometheus");
        var (exitCode, output) = Promtool(promtool, PrometheusRenderer.Render(TestSnapshots.Full(simulated: true), dcgmCompat: false));
        Assert.True(exitCode == 0 && output.Trim().Length == 0, $"promtool check metrics complained (exit {exitCode}):\n{output}");
    }

    internal static (int ExitCode, string Output) Promtool(string promtool, byte[] metrics)
    {
        var info = new ProcessStartInfo(promtool)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.ArgumentList.Add("check");
        info.ArgumentList.Add("metrics");
        using var process = Process.Start(info)!;
        process.StandardInput.BaseStream.Write(metrics);
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr);
    }
}
