using Gantry.Agent.Configuration;
using Gantry.Agent.Endpoints;
using Gantry.Agent.Sampling;
using Gantry.Telemetry.Collection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent;

/// <summary>Builds the agent: the sampler, its worker and the HTTP endpoints on Kestrel.</summary>
public static class AgentHost
{
    /// <summary>
    /// Builds a ready-to-run agent for <paramref name="options"/>. <paramref name="configureLogging"/>
    /// lets the caller choose log providers (the CLI writes to the console).
    /// </summary>
    public static WebApplication Build(AgentOptions options, TimeProvider? timeProvider = null, Action<ILoggingBuilder>? configureLogging = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(options.Listen);
        });
        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(options.LogLevel);
        // Kestrel's per-request logs are noise for a metrics endpoint scraped every few seconds.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // A failed start is reported by the caller in one line, not as a logged stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        configureLogging?.Invoke(builder.Logging);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = TimeSpan.FromSeconds(5));

        var time = timeProvider ?? TimeProvider.System;
        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<SnapshotPublisher>();
        builder.Services.AddSingleton(sp => CollectorFactory.Create(options, sp.GetRequiredService<ILoggerFactory>(), time));
        builder.Services.AddSingleton(sp => new Sampler(
            sp.GetRequiredService<CollectorSet>(),
            new SamplerSettings(options.EffectiveCollectorTimeout, options.NodePowerEnvelopeWatts),
            time,
            sp.GetRequiredService<ILogger<Sampler>>()));
        builder.Services.AddHostedService<SamplerWorker>();

        var app = builder.Build();
        app.MapAgentEndpoints();
        return app;
    }
}
