using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Exposition;

/// <summary>
/// The <c>gantry_gpu_*</c> families. Families are written one at a time across all GPUs (the
/// format wants a family's samples together); a GPU whose reading is null is skipped for that
/// family, and a lost GPU only appears in <c>gantry_gpu_info</c> and <c>gantry_gpu_lost</c>.
/// </summary>
internal static class GpuFamilies
{
    public static void Write(PrometheusTextWriter w, GpuSnapshot snapshot)
    {
        var gpus = snapshot.Gpus;
        w.Family("gantry_gpu_source_available", "gauge", "1 when GPUs are measured (NVML loaded, or --simulate-gpus), 0 when no GPU source is available.");
        w.Begin().Label("status", snapshot.Status).Value(snapshot.Status is "ok" or "simulated" ? 1 : 0);
        if (gpus.Count == 0)
        {
            return;
        }

        w.Family("gantry_gpu_info", "gauge", "GPU identity; always 1.");
        foreach (var g in gpus)
        {
            var s = Labels(w.Begin(), g);
            s.Label("pci_bus_id", g.PciBusId ?? "");
            s.Label("driver_version", snapshot.DriverVersion ?? "");
            s.Label("cuda_version", snapshot.CudaVersion ?? "");
            s.Value(1);
        }

        w.Family("gantry_gpu_lost", "gauge", "1 when the GPU has fallen off the bus or stopped answering (NVML GPU_IS_LOST).");
        foreach (var g in gpus)
        {
            Labels(w.Begin(), g).Value(g.Lost ? 1 : 0);
        }

        Gauge(w, gpus, "gantry_gpu_memory_total_bytes", "GPU memory in total.", static g => g.MemoryTotalBytes);
        Gauge(w, gpus, "gantry_gpu_memory_used_bytes", "GPU memory in use.", static g => g.MemoryUsedBytes);
        Gauge(w, gpus, "gantry_gpu_memory_free_bytes", "GPU memory free.", static g => g.MemoryFreeBytes);
        Gauge(w, gpus, "gantry_gpu_memory_reserved_bytes", "GPU memory the driver and firmware reserve, not counted in use (NVML v2 memory info).", static g => g.MemoryReservedBytes);
        Gauge(w, gpus, "gantry_gpu_utilization_ratio", "Fraction of the last sample period one or more kernels ran on the GPU (0-1).", static g => g.UtilizationGpuPercent / 100);
        Gauge(w, gpus, "gantry_gpu_memory_utilization_ratio", "Fraction of the last sample period GPU memory was read or written (0-1).", static g => g.UtilizationMemoryPercent / 100);
        Gauge(w, gpus, "gantry_gpu_temperature_celsius", "GPU core temperature.", static g => g.TemperatureCelsius);
        Gauge(w, gpus, "gantry_gpu_memory_temperature_celsius", "GPU memory (HBM) temperature.", static g => g.MemoryTemperatureCelsius);
        Gauge(w, gpus, "gantry_gpu_power_watts", "GPU power draw.", static g => g.PowerWatts);
        Counter(w, gpus, "gantry_gpu_energy_joules_total", "GPU energy since the driver loaded (NVML total energy consumption).", static g => g.EnergyJoules);
        Gauge(w, gpus, "gantry_gpu_power_limit_watts", "Power management limit currently set.", static g => g.PowerLimitWatts);
        Gauge(w, gpus, "gantry_gpu_enforced_power_limit_watts", "Power limit the driver enforces (the lowest of all limiters).", static g => g.EnforcedPowerLimitWatts);
        Gauge(w, gpus, "gantry_gpu_default_power_limit_watts", "Default power management limit.", static g => g.DefaultPowerLimitWatts);
        Gauge(w, gpus, "gantry_gpu_min_power_limit_watts", "Lowest power limit that can be set.", static g => g.MinPowerLimitWatts);
        Gauge(w, gpus, "gantry_gpu_max_power_limit_watts", "Highest power limit that can be set.", static g => g.MaxPowerLimitWatts);

        w.Family("gantry_gpu_clock_hertz", "gauge", "Current clock frequency per clock domain.");
        foreach (var g in gpus)
        {
            if (g.Lost)
            {
                continue;
            }

            Clock(w, g, "sm", g.SmClockHz);
            Clock(w, g, "memory", g.MemoryClockHz);
            Clock(w, g, "graphics", g.GraphicsClockHz);
        }

        Gauge(w, gpus, "gantry_gpu_max_sm_clock_hertz", "Highest SM clock the GPU supports.", static g => g.MaxSmClockHz);

        w.Family("gantry_gpu_clock_event_active", "gauge", "1 when this reason is currently holding the GPU's clocks down (NVML clock event reasons).");
        foreach (var g in gpus)
        {
            if (g.Lost || g.ClockEventReasons is not { } mask)
            {
                continue;
            }

            foreach (var (bit, reason) in ClockEventReasons.All)
            {
                Labels(w.Begin(), g).Label("reason", reason).Value((mask & bit) != 0 ? 1 : 0);
            }
        }

        Gauge(w, gpus, "gantry_gpu_performance_state", "Performance state, 0 (P0, fastest) to 15 (P15, slowest).", static g => g.PerformanceState);
        Gauge(w, gpus, "gantry_gpu_fan_speed_ratio", "Fan speed as a fraction of its maximum (0-1).", static g => g.FanSpeedPercent / 100);

        w.Family("gantry_gpu_ecc_errors_total", "counter", "ECC memory errors: volatile since the driver loaded, aggregate over the GPU's life.");
        foreach (var g in gpus)
        {
            if (g.Lost)
            {
                continue;
            }

            Ecc(w, g, "corrected", "volatile", g.EccCorrectedVolatile);
            Ecc(w, g, "uncorrected", "volatile", g.EccUncorrectedVolatile);
            Ecc(w, g, "corrected", "aggregate", g.EccCorrectedAggregate);
            Ecc(w, g, "uncorrected", "aggregate", g.EccUncorrectedAggregate);
        }

        w.Family("gantry_gpu_retired_pages", "gauge", "Memory pages retired, by cause (pre-Ampere GPUs).");
        foreach (var g in gpus)
        {
            if (g.Lost)
            {
                continue;
            }

            Cause(w, g, "cause", "single_bit_ecc", g.RetiredPagesSingleBit);
            Cause(w, g, "cause", "double_bit_ecc", g.RetiredPagesDoubleBit);
        }

        w.Family("gantry_gpu_remapped_rows", "gauge", "Memory rows remapped, by kind of error (Ampere and later).");
        foreach (var g in gpus)
        {
            if (g.Lost)
            {
                continue;
            }

            Cause(w, g, "type", "correctable", g.RemappedRowsCorrectable);
            Cause(w, g, "type", "uncorrectable", g.RemappedRowsUncorrectable);
        }

        Gauge(w, gpus, "gantry_gpu_remapped_rows_pending", "1 when a row remapping is pending (takes effect at the next GPU reset).", static g => Flag(g.RemappedRowsPending));
        Gauge(w, gpus, "gantry_gpu_remapped_rows_failure", "1 when a row remapping has failed.", static g => Flag(g.RemappedRowsFailure));
        Counter(w, gpus, "gantry_gpu_pcie_replays_total", "PCIe replays (retransmissions after link errors).", static g => g.PcieReplays);
        Gauge(w, gpus, "gantry_gpu_pcie_link_generation", "Current PCIe link generation.", static g => g.PcieLinkGeneration);
        Gauge(w, gpus, "gantry_gpu_pcie_link_width", "Current PCIe link width (lanes).", static g => g.PcieLinkWidth);

        WriteNvLinks(w, gpus);
        WriteProcesses(w, gpus);

        w.Family("gantry_gpu_xid_errors_total", "counter", "XID errors the driver reported since the agent started, by XID code.");
        foreach (var g in gpus)
        {
            foreach (var (xid, count) in g.XidErrors)
            {
                Labels(w.Begin(), g).Label("xid", (long)xid).Value(count);
            }
        }

        Gauge(w, gpus, "gantry_gpu_mig_enabled", "1 when MIG mode is enabled.", static g => Flag(g.MigEnabled));
        w.Family("gantry_gpu_mig_instance_memory_total_bytes", "gauge", "Memory of a MIG instance.");
        foreach (var g in gpus)
        {
            foreach (var m in g.MigInstances)
            {
                if (m.MemoryTotalBytes is { } total)
                {
                    MigLabels(Labels(w.Begin(), g), m).Value(total);
                }
            }
        }

        w.Family("gantry_gpu_mig_instance_memory_used_bytes", "gauge", "Memory in use in a MIG instance.");
        foreach (var g in gpus)
        {
            foreach (var m in g.MigInstances)
            {
                if (m.MemoryUsedBytes is { } used)
                {
                    MigLabels(Labels(w.Begin(), g), m).Value(used);
                }
            }
        }
    }

    private static void WriteNvLinks(PrometheusTextWriter w, IReadOnlyList<GpuSample> gpus)
    {
        w.Family("gantry_gpu_nvlink_active", "gauge", "1 when the NVLink link is up.");
        foreach (var g in gpus)
        {
            foreach (var l in g.NvLinks)
            {
                Labels(w.Begin(), g).Label("link", l.Link).Value(l.Active ? 1 : 0);
            }
        }

        NvLink(w, gpus, "gantry_gpu_nvlink_transmit_bytes_total", "Bytes sent over the NVLink link.", static l => l.TransmitBytes);
        NvLink(w, gpus, "gantry_gpu_nvlink_receive_bytes_total", "Bytes received over the NVLink link.", static l => l.ReceiveBytes);

        w.Family("gantry_gpu_nvlink_errors_total", "counter", "NVLink errors per link: CRC in flow-control units (crc_flit) and in data (crc_data), replay and recovery.");
        foreach (var g in gpus)
        {
            foreach (var l in g.NvLinks)
            {
                LinkError(w, g, l, "crc_flit", l.CrcFlitErrors);
                LinkError(w, g, l, "crc_data", l.CrcDataErrors);
                LinkError(w, g, l, "replay", l.ReplayErrors);
                LinkError(w, g, l, "recovery", l.RecoveryErrors);
            }
        }
    }

    private static void WriteProcesses(PrometheusTextWriter w, IReadOnlyList<GpuSample> gpus)
    {
        w.Family("gantry_gpu_process_memory_bytes", "gauge", "GPU memory held by each compute process.");
        foreach (var g in gpus)
        {
            if (g.Processes is null)
            {
                continue;
            }

            foreach (var p in g.Processes)
            {
                if (p.UsedMemoryBytes is { } used)
                {
                    Labels(w.Begin(), g).Label("pid", p.Pid).Label("process", p.Name ?? "").Value(used);
                }
            }
        }

        Gauge(w, gpus, "gantry_gpu_processes", "Compute processes running on the GPU.", static g => g.Processes?.Count);
    }

    /// <summary>The labels every GPU series carries.</summary>
    internal static PrometheusTextWriter Labels(PrometheusTextWriter w, GpuSample g)
    {
        w.Label("gpu", g.Index).Label("uuid", g.Uuid).Label("model", g.Name);
        if (g.Simulated)
        {
            w.Label("simulated", "true");
        }

        return w;
    }

    private static PrometheusTextWriter MigLabels(PrometheusTextWriter w, MigInstanceSample m)
    {
        w.Label("mig_index", m.Index).Label("mig_uuid", m.Uuid ?? "");
        if (m.GpuInstanceId is { } gi)
        {
            w.Label("gpu_instance", gi);
        }

        if (m.ComputeInstanceId is { } ci)
        {
            w.Label("compute_instance", ci);
        }

        return w;
    }

    private static double? Flag(bool? value) => value is { } v ? (v ? 1 : 0) : null;

    private static void Clock(PrometheusTextWriter w, GpuSample g, string clock, double? hz)
    {
        if (hz is { } v)
        {
            Labels(w.Begin(), g).Label("clock", clock).Value(v);
        }
    }

    private static void Ecc(PrometheusTextWriter w, GpuSample g, string type, string counter, ulong? value)
    {
        if (value is { } v)
        {
            Labels(w.Begin(), g).Label("type", type).Label("counter", counter).Value(v);
        }
    }

    private static void Cause(PrometheusTextWriter w, GpuSample g, string label, string value, uint? count)
    {
        if (count is { } c)
        {
            Labels(w.Begin(), g).Label(label, value).Value(c);
        }
    }

    private static void LinkError(PrometheusTextWriter w, GpuSample g, NvLinkSample l, string type, ulong? count)
    {
        if (count is { } c)
        {
            Labels(w.Begin(), g).Label("link", l.Link).Label("type", type).Value(c);
        }
    }

    private static void NvLink(PrometheusTextWriter w, IReadOnlyList<GpuSample> gpus, string name, string help, Func<NvLinkSample, ulong?> read)
    {
        w.Family(name, "counter", help);
        foreach (var g in gpus)
        {
            foreach (var l in g.NvLinks)
            {
                if (read(l) is { } v)
                {
                    Labels(w.Begin(), g).Label("link", l.Link).Value(v);
                }
            }
        }
    }

    private static void Gauge(PrometheusTextWriter w, IReadOnlyList<GpuSample> gpus, string name, string help, Func<GpuSample, double?> read) =>
        Series(w, gpus, name, "gauge", help, read);

    private static void Counter(PrometheusTextWriter w, IReadOnlyList<GpuSample> gpus, string name, string help, Func<GpuSample, double?> read) =>
        Series(w, gpus, name, "counter", help, read);

    // A lost GPU reports only its identity, so every reading family skips it.
    private static void Series(PrometheusTextWriter w, IReadOnlyList<GpuSample> gpus, string name, string type, string help, Func<GpuSample, double?> read) =>
        w.Series(gpus, name, type, help, g => g.Lost ? null : read(g), static (w, g) => Labels(w, g));
}
