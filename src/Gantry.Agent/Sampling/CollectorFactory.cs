using Gantry.Agent.Configuration;
using Gantry.Telemetry.Apps;
using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Health;
using Gantry.Telemetry.Nvml;
using Gantry.Telemetry.Portable;
using Gantry.Telemetry.Power;
using Gantry.Telemetry.Procfs;
using Gantry.Telemetry.Simulation;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Sampling;

/// <summary>
/// Chooses the collectors for this machine: procfs/sysfs where procfs is mounted (Linux),
/// the portable BCL collectors elsewhere; NVML unless disabled, or simulated GPUs when (and
/// only when) <c>--simulate-gpus</c> asks; one scraper for all inference servers. NVML's XIDs go to
/// the agent's <see cref="XidLog"/>, which its kernel-log reader feeds too.
/// </summary>
internal static class CollectorFactory
{
    public static CollectorSet Create(AgentOptions options, ILoggerFactory loggers, TimeProvider time, XidLog? xids = null)
    {
        var paths = new HostPaths(options.ProcPath, options.SysPath);
        var set = HostCollectorSupport.HasProcfs(paths)
            ? new CollectorSet
            {
                Identity = HostIdentity.Read(paths),
                Cpu = new CpuCollector(paths),
                Memory = new MemoryCollector(paths),
                Disks = new DiskCollector(paths),
                Filesystems = new FilesystemCollector(paths, loggers.CreateLogger<FilesystemCollector>()),
                Network = new NetworkCollector(paths),
                Temperatures = new TemperatureCollector(paths),
                Power = new PowerCollector(paths, loggers.CreateLogger<PowerCollector>()),
            }
            : Portable(paths, loggers);

        if (options.SimulateGpus > 0)
        {
            set = set with { Gpus = new SimulatedGpuCollector(options.SimulateGpus, time) };
        }
        else if (!options.NoNvml)
        {
            set = set with { Gpus = new NvmlCollector(options.NvmlLibrary, loggers.CreateLogger<NvmlCollector>(), time, xids ?? new XidLog()) };
        }

        if (options.AppMetricsUrls.Count > 0)
        {
            set = set with { Apps = new AppMetricsCollector(options.AppMetricsUrls, new HttpClient()) };
        }

        return set;
    }

    private static CollectorSet Portable(HostPaths paths, ILoggerFactory loggers)
    {
        var logger = loggers.CreateLogger("Gantry.Agent");
        AgentLog.PortableCollectors(logger, paths.Proc);
        return new CollectorSet
        {
            Identity = HostIdentity.Read(paths),
            Cpu = new PortableCpuCollector(),
            Memory = new PortableMemoryCollector(),
            Filesystems = new PortableFilesystemCollector(),
            Network = new PortableNetworkCollector(),
        };
    }
}
