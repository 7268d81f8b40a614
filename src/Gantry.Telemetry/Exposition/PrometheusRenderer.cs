using System.Buffers;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Exposition;

/// <summary>
/// Renders a <see cref="NodeSnapshot"/> as Prometheus text, once per sample. Names start with
/// <c>gantry_</c>, use base units (bytes, seconds, joules, watts, celsius, ratios), counters end in
/// <c>_total</c>; GPU series carry <c>gpu</c>, <c>uuid</c> and <c>model</c> labels and, for
/// simulated GPUs, <c>simulated="true"</c>. A reading that is null (unsupported, failed) is left out.
/// </summary>
public static class PrometheusRenderer
{
    /// <summary>The content type of the text exposition format.</summary>
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private static ArrayBufferWriter<byte>? s_buffer;

    /// <summary>Renders the snapshot; with <paramref name="dcgmCompat"/> also dcgm-exporter's default counters.</summary>
    public static byte[] Render(NodeSnapshot snapshot, bool dcgmCompat)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        // The render buffer is kept between samples: growing a new one to a 200 KB body (8 GPUs)
        // allocated ~450 KB of large-object-heap arrays per render and caused gen2 collections.
        // Taken and put back atomically, so a concurrent render just uses a new buffer.
        var buffer = Interlocked.Exchange(ref s_buffer, null) ?? new ArrayBufferWriter<byte>(64 * 1024);
        buffer.ResetWrittenCount();
        Render(snapshot, dcgmCompat, buffer);
        var bytes = buffer.WrittenSpan.ToArray();
        Volatile.Write(ref s_buffer, buffer);
        return bytes;
    }

    /// <summary>Renders the snapshot into <paramref name="output"/>.</summary>
    public static void Render(NodeSnapshot snapshot, bool dcgmCompat, IBufferWriter<byte> output)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var w = new PrometheusTextWriter(output);
        WriteCpu(w, snapshot.Host.Cpu);
        WriteMemory(w, snapshot.Host.Memory);
        WriteDisks(w, snapshot.Host.Disks);
        WriteFilesystems(w, snapshot.Host.Filesystems);
        WriteNetwork(w, snapshot.Host.Network);
        WriteTemperatures(w, snapshot.Host.Temperatures);
        WritePower(w, snapshot.Power, snapshot.NodePower);
        GpuFamilies.Write(w, snapshot.Gpus);
        WriteApps(w, snapshot.Apps);
        WriteSelf(w, snapshot);
        if (dcgmCompat)
        {
            DcgmCompat.Write(w, snapshot);
        }
    }

    private static void WriteCpu(PrometheusTextWriter w, CpuSample? cpu)
    {
        if (cpu is null)
        {
            return;
        }

        w.Family("gantry_cpu_logical_cores", "gauge", "Logical CPUs the machine has.");
        w.Begin().Value(cpu.LogicalCores);

        if (cpu.Cores.Count > 0)
        {
            w.Family("gantry_cpu_seconds_total", "counter", "Seconds each CPU spent in each mode since boot.");
            foreach (var core in cpu.Cores)
            {
                CpuMode(w, core.Cpu, "user", core.User);
                CpuMode(w, core.Cpu, "nice", core.Nice);
                CpuMode(w, core.Cpu, "system", core.System);
                CpuMode(w, core.Cpu, "idle", core.Idle);
                CpuMode(w, core.Cpu, "iowait", core.IoWait);
                CpuMode(w, core.Cpu, "irq", core.Irq);
                CpuMode(w, core.Cpu, "softirq", core.SoftIrq);
                CpuMode(w, core.Cpu, "steal", core.Steal);
            }
        }

        Gauge(w, "gantry_load1", "1-minute load average.", cpu.Load1);
        Gauge(w, "gantry_load5", "5-minute load average.", cpu.Load5);
        Gauge(w, "gantry_load15", "15-minute load average.", cpu.Load15);
        Counter(w, "gantry_context_switches_total", "Context switches since boot.", cpu.ContextSwitches);
        Counter(w, "gantry_interrupts_total", "Interrupts serviced since boot.", cpu.Interrupts);
        Counter(w, "gantry_forks_total", "Processes and threads created since boot.", cpu.ProcessesForked);
        Gauge(w, "gantry_procs_running", "Processes in a runnable state.", cpu.ProcessesRunning);
        Gauge(w, "gantry_procs_blocked", "Processes blocked waiting for I/O.", cpu.ProcessesBlocked);
        Gauge(w, "gantry_boot_time_seconds", "When the machine booted, in seconds since the Unix epoch.", cpu.BootTimeSeconds);
    }

    private static void CpuMode(PrometheusTextWriter w, int cpu, string mode, double seconds) =>
        w.Begin().Label("cpu", cpu).Label("mode", mode).Value(seconds);

    private static void WriteMemory(PrometheusTextWriter w, MemorySample? memory)
    {
        if (memory is null)
        {
            return;
        }

        Gauge(w, "gantry_memory_total_bytes", "Memory the machine has.", memory.TotalBytes);
        Gauge(w, "gantry_memory_available_bytes", "Memory available for new work without swapping (MemAvailable).", memory.AvailableBytes);
        Gauge(w, "gantry_memory_free_bytes", "Memory not used at all (MemFree).", memory.FreeBytes);
        Gauge(w, "gantry_memory_cached_bytes", "Page cache (Cached).", memory.CachedBytes);
        Gauge(w, "gantry_memory_buffers_bytes", "Block device buffers (Buffers).", memory.BuffersBytes);
        Gauge(w, "gantry_swap_total_bytes", "Swap space configured.", memory.SwapTotalBytes);
        Gauge(w, "gantry_swap_free_bytes", "Swap space unused.", memory.SwapFreeBytes);
    }

    private static void WriteDisks(PrometheusTextWriter w, IReadOnlyList<DiskSample>? disks)
    {
        if (disks is null || disks.Count == 0)
        {
            return;
        }

        DiskCounter(w, disks, "gantry_disk_reads_completed_total", "Reads completed.", static d => d.ReadsCompleted);
        DiskCounter(w, disks, "gantry_disk_writes_completed_total", "Writes completed.", static d => d.WritesCompleted);
        DiskCounter(w, disks, "gantry_disk_read_bytes_total", "Bytes read.", static d => d.ReadBytes);
        DiskCounter(w, disks, "gantry_disk_written_bytes_total", "Bytes written.", static d => d.WrittenBytes);
        DiskCounter(w, disks, "gantry_disk_read_time_seconds_total", "Seconds spent on reads.", static d => d.ReadTimeSeconds);
        DiskCounter(w, disks, "gantry_disk_write_time_seconds_total", "Seconds spent on writes.", static d => d.WriteTimeSeconds);
        DiskCounter(w, disks, "gantry_disk_io_time_seconds_total", "Seconds the device was busy with I/O.", static d => d.IoTimeSeconds);
        w.Series(disks, "gantry_disk_io_now", "gauge", "I/Os currently in progress.", static d => d.IoInProgress, static (w, d) => w.Label("device", d.Device));
    }

    private static void DiskCounter(PrometheusTextWriter w, IReadOnlyList<DiskSample> disks, string name, string help, Func<DiskSample, double?> read) =>
        w.Series(disks, name, "counter", help, read, static (w, d) => w.Label("device", d.Device));

    private static void WriteFilesystems(PrometheusTextWriter w, IReadOnlyList<FilesystemSample>? filesystems)
    {
        if (filesystems is null || filesystems.Count == 0)
        {
            return;
        }

        Fs(w, filesystems, "gantry_filesystem_size_bytes", "Filesystem size.", static f => f.SizeBytes);
        Fs(w, filesystems, "gantry_filesystem_free_bytes", "Free space, including space reserved for root.", static f => f.FreeBytes);
        Fs(w, filesystems, "gantry_filesystem_avail_bytes", "Free space available to unprivileged users.", static f => f.AvailableBytes);
        Fs(w, filesystems, "gantry_filesystem_files", "Inodes in the filesystem.", static f => f.Files);
        Fs(w, filesystems, "gantry_filesystem_files_free", "Free inodes.", static f => f.FilesFree);
        Fs(w, filesystems, "gantry_filesystem_readonly", "1 when the filesystem is mounted read-only.", static f => f.ReadOnly ? 1 : 0);
    }

    private static void Fs(PrometheusTextWriter w, IReadOnlyList<FilesystemSample> filesystems, string name, string help, Func<FilesystemSample, double?> read) =>
        w.Series(filesystems, name, "gauge", help, read, static (w, f) => w.Label("device", f.Device).Label("mountpoint", f.MountPoint).Label("fstype", f.FsType));

    private static void WriteNetwork(PrometheusTextWriter w, IReadOnlyList<NetworkSample>? interfaces)
    {
        if (interfaces is null || interfaces.Count == 0)
        {
            return;
        }

        Net(w, interfaces, "gantry_network_receive_bytes_total", "counter", "Bytes received.", static n => n.ReceiveBytes);
        Net(w, interfaces, "gantry_network_transmit_bytes_total", "counter", "Bytes sent.", static n => n.TransmitBytes);
        Net(w, interfaces, "gantry_network_receive_packets_total", "counter", "Packets received.", static n => n.ReceivePackets);
        Net(w, interfaces, "gantry_network_transmit_packets_total", "counter", "Packets sent.", static n => n.TransmitPackets);
        Net(w, interfaces, "gantry_network_receive_errors_total", "counter", "Receive errors.", static n => n.ReceiveErrors);
        Net(w, interfaces, "gantry_network_transmit_errors_total", "counter", "Transmit errors.", static n => n.TransmitErrors);
        Net(w, interfaces, "gantry_network_receive_drops_total", "counter", "Received packets dropped.", static n => n.ReceiveDrops);
        Net(w, interfaces, "gantry_network_transmit_drops_total", "counter", "Packets dropped on send.", static n => n.TransmitDrops);
        Net(w, interfaces, "gantry_network_up", "gauge", "1 when the interface's operational state is up.", static n => n.Up is { } up ? (up ? 1 : 0) : null);
    }

    private static void Net(PrometheusTextWriter w, IReadOnlyList<NetworkSample> interfaces, string name, string type, string help, Func<NetworkSample, double?> read) =>
        w.Series(interfaces, name, type, help, read, static (w, n) => w.Label("device", n.Interface));

    private static void WriteTemperatures(PrometheusTextWriter w, IReadOnlyList<TemperatureSample>? temperatures)
    {
        if (temperatures is null || temperatures.Count == 0)
        {
            return;
        }

        w.Family("gantry_hwmon_temperature_celsius", "gauge", "Temperature reported by a hardware monitoring chip.");
        foreach (var t in temperatures)
        {
            if (t.Source == "hwmon")
            {
                w.Begin().Label("chip", t.Chip).Label("sensor", t.Sensor).Value(t.Celsius);
            }
        }

        w.Family("gantry_thermal_zone_temperature_celsius", "gauge", "Temperature of a kernel thermal zone.");
        foreach (var t in temperatures)
        {
            if (t.Source == "thermal_zone")
            {
                w.Begin().Label("zone", t.Chip).Label("type", t.Sensor).Value(t.Celsius);
            }
        }
    }

    private static void WritePower(PrometheusTextWriter w, PowerSnapshot? power, NodePowerSample? node)
    {
        if (power is not null)
        {
            w.Family("gantry_rapl_energy_joules_total", "counter", "CPU energy from RAPL, per socket and domain, corrected for counter wrap-around.");
            foreach (var d in power.Rapl)
            {
                w.Begin().Label("package", d.Package).Label("domain", d.Domain).Label("zone", d.Zone).Value(d.EnergyJoules);
            }

            w.Family("gantry_power_meter_watts", "gauge", "Power read from a hardware power meter (hwmon, ACPI).");
            foreach (var m in power.Meters)
            {
                w.Begin().Label("chip", m.Chip).Label("sensor", m.Sensor).Value(m.Watts);
            }
        }

        if (node is not null)
        {
            w.Family("gantry_node_power_watts", "gauge", "The node's power: a power meter where present, else GPUs plus CPU package and DRAM (RAPL).");
            w.Begin().Label("source", node.Source).Value(node.Watts);
            if (node.EnvelopeWatts is { } envelope)
            {
                Gauge(w, "gantry_node_power_envelope_watts", "The node's power envelope (--node-power-envelope-watts).", envelope);
                Gauge(w, "gantry_node_power_above_envelope", "1 when the node draws more than its power envelope.", node.AboveEnvelope is true ? 1 : 0);
            }
        }
    }

    private static void WriteApps(PrometheusTextWriter w, IReadOnlyList<AppSample> apps)
    {
        if (apps.Count == 0)
        {
            return;
        }

        w.Family("gantry_app_up", "gauge", "1 when the inference server's metrics endpoint answered the last scrape.");
        foreach (var a in apps)
        {
            AppLabels(w.Begin(), a).Value(a.Up ? 1 : 0);
        }

        w.Family("gantry_app_tokens_total", "counter", "Tokens processed by the inference server, prompt and generated kept apart.");
        foreach (var a in apps)
        {
            AppTyped(w, a, "prompt", a.PromptTokensTotal);
            AppTyped(w, a, "generated", a.GeneratedTokensTotal);
        }

        w.Family("gantry_app_tokens_per_second", "gauge", "Tokens per second over the last sample interval.");
        foreach (var a in apps)
        {
            AppTyped(w, a, "prompt", a.PromptTokensPerSecond);
            AppTyped(w, a, "generated", a.GeneratedTokensPerSecond);
        }

        w.Family("gantry_app_tokens_per_joule", "gauge", "Tokens per joule of GPU energy over the last sample interval.");
        foreach (var a in apps)
        {
            AppTyped(w, a, "prompt", a.PromptTokensPerJoule);
            AppTyped(w, a, "generated", a.GeneratedTokensPerJoule);
        }
    }

    private static PrometheusTextWriter AppLabels(PrometheusTextWriter w, AppSample a) =>
        w.Label("url", a.Url).Label("kind", a.Kind ?? "unknown");

    private static void AppTyped(PrometheusTextWriter w, AppSample a, string type, double? value)
    {
        if (value is { } v)
        {
            AppLabels(w.Begin(), a).Label("type", type).Value(v);
        }
    }

    private static void WriteSelf(PrometheusTextWriter w, NodeSnapshot snapshot)
    {
        var self = snapshot.Self;
        w.Family("gantry_build_info", "gauge", "The agent's version and runtime; always 1.");
        w.Begin().Label("version", self.Version).Label("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription).Value(1);
        Gauge(w, "gantry_start_time_seconds", "When the agent started, in seconds since the Unix epoch.", self.StartTime.ToUnixTimeMilliseconds() / 1000.0);
        Gauge(w, "gantry_sample_timestamp_seconds", "When this sample was taken, in seconds since the Unix epoch.", snapshot.Timestamp.ToUnixTimeMilliseconds() / 1000.0);
        Counter(w, "gantry_samples_total", "Samples taken since the agent started.", self.SamplesTotal);
        Counter(w, "gantry_process_cpu_seconds_total", "CPU time the agent itself has used.", self.CpuSeconds);
        Gauge(w, "gantry_process_resident_memory_bytes", "The agent's resident memory.", self.ResidentBytes);
        Gauge(w, "gantry_process_managed_heap_bytes", "The agent's managed heap size.", self.ManagedHeapBytes);

        w.Family("gantry_collector_duration_seconds", "gauge", "How long each collector took in the last sample.");
        foreach (var c in snapshot.Collectors)
        {
            w.Begin().Label("collector", c.Name).Value(c.DurationSeconds);
        }

        w.Family("gantry_collector_success", "gauge", "1 when the collector's reading is in the last sample.");
        foreach (var c in snapshot.Collectors)
        {
            w.Begin().Label("collector", c.Name).Value(c.Ok ? 1 : 0);
        }

        w.Family("gantry_collector_errors_total", "counter", "Failed or timed-out readings per collector since the agent started.");
        foreach (var c in snapshot.Collectors)
        {
            w.Begin().Label("collector", c.Name).Value(c.ErrorsTotal);
        }
    }

    internal static void Gauge(PrometheusTextWriter w, string name, string help, double? value)
    {
        if (value is { } v)
        {
            w.Family(name, "gauge", help);
            w.Begin().Value(v);
        }
    }

    internal static void Counter(PrometheusTextWriter w, string name, string help, double? value)
    {
        if (value is { } v)
        {
            w.Family(name, "counter", help);
            w.Begin().Value(v);
        }
    }
}
