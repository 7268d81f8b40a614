using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Exposition;

/// <summary>
/// With <c>--dcgm-compat</c>: dcgm-exporter's default counter set under its own names, units
/// and labels (<c>gpu</c>, <c>UUID</c>, <c>device</c>, <c>modelName</c>, <c>Hostname</c>,
/// <c>pci_bus_id</c>, <c>DCGM_FI_DRIVER_VERSION</c>), so Grafana dashboards built for
/// dcgm-exporter work unchanged. dcgm's profiling fields (<c>DCGM_FI_PROF_*</c>) need DCGM
/// itself and are not emitted. These names break Prometheus naming conventions on purpose.
/// </summary>
internal static class DcgmCompat
{
    private const double Mebibyte = 1024 * 1024;

    public static void Write(PrometheusTextWriter w, NodeSnapshot snapshot)
    {
        var gpus = snapshot.Gpus.Gpus;
        if (gpus.Count == 0)
        {
            return;
        }

        var host = snapshot.Host.Hostname;
        var driver = snapshot.Gpus.DriverVersion ?? "";
        // The device label ("nvidia0") made once per GPU here, not once per series below.
        var devices = new string[gpus.Count];
        for (var i = 0; i < devices.Length; i++)
        {
            devices[i] = "nvidia" + gpus[i].Index.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_SM_CLOCK", "gauge", "SM clock frequency (in MHz).", static g => g.SmClockHz / 1e6);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_MEM_CLOCK", "gauge", "Memory clock frequency (in MHz).", static g => g.MemoryClockHz / 1e6);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_MEMORY_TEMP", "gauge", "Memory temperature (in C).", static g => g.MemoryTemperatureCelsius);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_GPU_TEMP", "gauge", "GPU temperature (in C).", static g => g.TemperatureCelsius);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_POWER_USAGE", "gauge", "Power draw (in W).", static g => g.PowerWatts);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_TOTAL_ENERGY_CONSUMPTION", "counter", "Total energy consumption since boot (in mJ).", static g => g.EnergyJoules * 1000);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_PCIE_REPLAY_COUNTER", "counter", "Total number of PCIe retries.", static g => g.PcieReplays);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_GPU_UTIL", "gauge", "GPU utilization (in %).", static g => g.UtilizationGpuPercent);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_MEM_COPY_UTIL", "gauge", "Memory utilization (in %).", static g => g.UtilizationMemoryPercent);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_XID_ERRORS", "gauge", "Value of the last XID error encountered.", static g => g.LastXid);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_FB_FREE", "gauge", "Framebuffer memory free (in MiB).", static g => g.MemoryFreeBytes / Mebibyte);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_FB_USED", "gauge", "Framebuffer memory used (in MiB).", static g => g.MemoryUsedBytes / Mebibyte);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_NVLINK_BANDWIDTH_TOTAL", "counter", "Total number of NVLink bandwidth counters for all lanes.", NvLinkTotal);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_UNCORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for uncorrectable errors", static g => g.RemappedRowsUncorrectable);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_CORRECTABLE_REMAPPED_ROWS", "counter", "Number of remapped rows for correctable errors", static g => g.RemappedRowsCorrectable);
        Field(w, gpus, devices, host, driver, "DCGM_FI_DEV_ROW_REMAP_FAILURE", "gauge", "Whether remapping of rows has failed", static g => g.RemappedRowsFailure is { } f ? (f ? 1 : 0) : null);
    }

    private static double? NvLinkTotal(GpuSample g)
    {
        if (g.NvLinks.Count == 0)
        {
            return null;
        }

        double total = 0;
        var any = false;
        foreach (var link in g.NvLinks)
        {
            if (link.TransmitBytes is { } tx)
            {
                total += tx;
                any = true;
            }

            if (link.ReceiveBytes is { } rx)
            {
                total += rx;
                any = true;
            }
        }

        return any ? total : null;
    }

    private static void Field(PrometheusTextWriter w, IReadOnlyList<GpuSample> gpus, string[] devices, string host, string driver, string name, string type, string help, Func<GpuSample, double?> read)
    {
        w.Family(name, type, help);
        for (var i = 0; i < gpus.Count; i++)
        {
            var g = gpus[i];
            if (g.Lost || read(g) is not { } value)
            {
                continue;
            }

            w.Begin()
                .Label("gpu", g.Index)
                .Label("UUID", g.Uuid)
                .Label("pci_bus_id", g.PciBusId ?? "")
                .Label("device", devices[i])
                .Label("modelName", g.Name)
                .Label("Hostname", host)
                .Label("DCGM_FI_DRIVER_VERSION", driver);
            if (g.Simulated)
            {
                w.Label("simulated", "true");
            }

            w.Value(value);
        }
    }
}
