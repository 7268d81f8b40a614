using Gantry.Agent.Configuration;
using Gantry.Agent.ControlPlane;
using Gantry.Agent.Health;
using Gantry.Agent.Jobs;
using Gantry.Agent.Power;
using Gantry.Core.Protocol;
using Gantry.Core.Security;
using Gantry.Agent.Endpoints;
using Gantry.Agent.Sampling;
using Gantry.Agent.Services;
using Gantry.Hosting;
using Gantry.Hosting.Settings;
using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Health;
using Gantry.Telemetry.Power;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent;

/// <summary>
/// Builds the agent: the sampler, its worker and the HTTP endpoints on Kestrel; with
/// <see cref="AgentOptions.Servers"/> set, also the control-plane client and the job runner.
/// </summary>
public static class AgentHost
{
    /// <summary>
    /// Builds a ready-to-run agent for <paramref name="options"/>. <paramref name="configureLogging"/>
    /// lets the caller choose log providers (the CLI writes to the console). Throws
    /// <see cref="SettingException"/> when the control-plane settings are unusable.
    /// </summary>
    public static WebApplication Build(AgentOptions options, TimeProvider? timeProvider = null, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = GantryHost.CreateBuilder(options.Listen, options.LogLevel, configureLogging);
        builder.Services.AddRoutingCore();

        var time = timeProvider ?? TimeProvider.System;
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<SnapshotPublisher>();
        builder.Services.AddSingleton(_ => new XidLog());
        builder.Services.AddSingleton(sp => CollectorFactory.Create(options, sp.GetRequiredService<ILoggerFactory>(), time, sp.GetRequiredService<XidLog>()));
        builder.Services.AddSingleton(sp => new Sampler(
            sp.GetRequiredService<CollectorSet>(),
            new SamplerSettings(options.EffectiveCollectorTimeout, options.NodePowerEnvelopeWatts),
            time,
            sp.GetRequiredService<ILogger<Sampler>>()));
        builder.Services.AddSingleton(sp => new AttemptEnergyMeter(sp.GetRequiredService<CollectorSet>().Gpus as IGpuEnergyReader, options.ProcPath, time, simulated: options.SimulateGpus > 0));
        builder.Services.AddHostedService<SamplerWorker>();
        builder.Services.AddSingleton<KernelLogWorker>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<KernelLogWorker>());
        if (options.Servers.Count > 0)
        {
            AddControlPlane(builder.Services, options, time);
        }

        var app = builder.Build();
        app.MapAgentEndpoints();
        return app;
    }

    /// <summary>The cgroups that enforce the jobs' reservations, or null (with a warning) where the agent cannot make them.</summary>
    private static JobCgroups? PrepareCgroups(ILogger logger)
    {
        var reason = "cgroups exist on Linux only";
        if (OperatingSystem.IsLinux() && JobCgroups.Detect(out reason) is { } cgroups && cgroups.Prepare(out reason))
        {
            AgentLog.JobLimitsEnforced(logger, cgroups.Version, cgroups.Where);
            return cgroups;
        }

        AgentLog.JobLimitsNotEnforced(logger, reason);
        return null;
    }

    /// <summary>The control-plane client and the job runner: only for an agent given a server.</summary>
    private static void AddControlPlane(IServiceCollection services, AgentOptions options, TimeProvider time)
    {
        SettingsLoader.Check(options, AgentSettings.Validator);

        var stateDir = options.EffectiveStateDir;
        try
        {
            StateDirectory.Prepare(stateDir);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SettingException("state-dir", $"cannot create {stateDir}: {ex.Message}");
        }

        services.AddSingleton(sp => new LeaderFollower(options.Servers, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Agent.ControlPlane")));
        var trust = new ServerTrust(options.CaFile is { } caFile ? CertificatePin.ReadPemFile(caFile) : null, options.CaCertHash);
        services.AddSingleton(sp => new ControlPlaneClient(ControlPlaneClient.CreateHttpClient(trust), sp.GetRequiredService<LeaderFollower>(), time, trust, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Agent.ControlPlane")));
        services.AddSingleton<NodeSession>();
        services.AddSingleton(sp => new GpuHealthReporter(sp.GetRequiredService<XidLog>(), options, sp.GetRequiredService<KernelLogWorker>()));
        services.AddSingleton(sp => new ServerConnection(sp.GetRequiredService<LeaderFollower>(), time, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Agent.ControlPlane")));
        services.AddSingleton(sp =>
        {
            var outbox = new AttemptOutbox(
                sp.GetRequiredService<ControlPlaneClient>(),
                sp.GetRequiredService<NodeSession>(),
                sp.GetRequiredService<ServerConnection>(),
                time,
                sp.GetRequiredService<ILogger<AttemptOutbox>>());
            outbox.Fenced = key => sp.GetRequiredService<JobRunner>().Stop(key, AttemptEndCause.Stopped);
            return outbox;
        });
        // Services (docs/service-health.md): health checks and metrics reads of service attempts, which
        // the monitor stops through the runner when they turn unhealthy.
        // No proxy: the services are on this node, whatever HTTP_PROXY the agent's environment names.
        services.AddSingleton(sp => new ServiceMonitor(
            new HttpClient(new SocketsHttpHandler { UseProxy = false, PooledConnectionLifetime = TimeSpan.FromMinutes(1) }),
            time,
            sp.GetRequiredService<ILogger<ServiceMonitor>>(),
            options.Interval));
        services.AddSingleton(sp =>
        {
            var monitor = sp.GetRequiredService<ServiceMonitor>();
            var runner = new JobRunner(
                sp.GetRequiredService<AttemptOutbox>(),
                stateDir,
                time,
                sp.GetRequiredService<ILogger<JobRunner>>(),
                sp.GetRequiredService<AttemptEnergyMeter>(),
                JobUsers.ForThisMachine(options.EffectiveNodeName))
            {
                PowerCaps = sp.GetRequiredService<GpuPowerCaps>(),
                Cgroups = options.JobLimits ? PrepareCgroups(sp.GetRequiredService<ILogger<JobRunner>>()) : null,
                Services = monitor,
                Containers = sp.GetRequiredService<ContainerJobs>(),
            };
            monitor.StopUnhealthy = runner.StopUnhealthy;
            return runner;
        });

        // Container jobs (docs/containers-jobs.md): runtimes found at start; a GPU's UUID from the latest sample.
        services.AddSingleton(sp =>
        {
            var publisher = sp.GetRequiredService<SnapshotPublisher>();
            var settings = new ContainerSettings { Runtimes = options.ContainerRuntimes, Paths = options.ContainerRuntimePaths, Gpus = options.ContainerGpus };
            return new ContainerJobs(settings, index =>
            {
                if (publisher.Latest?.Snapshot.Gpus.Gpus is { } gpus)
                {
                    foreach (var gpu in gpus)
                    {
                        if (gpu.Index == index)
                        {
                            return new ContainerGpu(gpu.Uuid, gpu.Simulated);
                        }
                    }
                }

                return null;
            }, time, sp.GetRequiredService<ILogger<ContainerJobs>>());
        });

        // Power caps (docs/power.md): set through the GPU collector (NVML, or the simulator's own limits).
        services.AddSingleton(sp =>
        {
            var caps = new GpuPowerCaps(sp.GetRequiredService<CollectorSet>().Gpus as IGpuPowerLimits, stateDir, sp.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Agent.Power"));
            sp.GetRequiredService<SnapshotPublisher>().ExtraMetrics = caps.MetricsText;
            return caps;
        });

        // Hosted services stop in reverse order: assignments and heartbeats first, the jobs, then the
        // GPUs' earlier power limits set back last.
        services.AddHostedService<PowerCapsLifetime>();
        services.AddHostedService<JobsLifetime>();
        services.AddHostedService<ControlPlaneWorker>();
        services.AddHostedService<AssignmentWorker>();
    }
}
