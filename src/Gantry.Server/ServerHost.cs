using System.Buffers;
using System.Diagnostics.CodeAnalysis;
using Gantry.Core.Protocol;
using Gantry.Hosting;
using Gantry.Server.Alerts;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Alerts.Evaluation;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Alerts.Silences;
using Gantry.Server.Anomalies;
using Gantry.Server.Api;
using Gantry.Server.Audit;
using Gantry.Server.Auth;
using Gantry.Server.Leadership;
using Gantry.Server.Live;
using Gantry.Server.Logs;
using Gantry.Server.Configuration;
using Gantry.Server.Carbon;
using Gantry.Server.Dashboard;
using Gantry.Server.Discovery;
using Gantry.Server.Energy;
using Gantry.Server.FairShare;
using Gantry.Server.Power;
using Gantry.Server.Health;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Gantry.Server.Observability;
using Gantry.Server.Scheduling;
using Gantry.Server.Services;
using Gantry.Server.Storage;
using Gantry.Server.Storage.Postgres;
using Gantry.Server.Storage.Sqlite;
using Gantry.Server.Telemetry;
using Gantry.Server.Tls;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server;

/// <summary>Builds the control plane: store, state, workers and the HTTP API on Kestrel.</summary>
public static class ServerHost
{
    /// <summary>
    /// Opens the store (SQLite in <see cref="ServerOptions.DataDir"/>, or the PostgreSQL database
    /// <see cref="ServerOptions.Store"/> names; the data dir holds the tokens and telemetry either way,
    /// created at first start) and builds a ready-to-run server. Throws <see cref="IOException"/> or
    /// <see cref="InvalidOperationException"/> with a readable message when the store cannot be used,
    /// and a <see cref="StoreConnectionException"/> when its database server cannot be reached or
    /// refuses (a bad <c>--store</c>).
    /// </summary>
    /// <param name="options">The server's settings.</param>
    /// <param name="timeProvider">The clock; the system's by default.</param>
    /// <param name="configureLogging">Adds to the logging setup.</param>
    /// <param name="configureServices">Adds or replaces services after the server's own (tests: a carbon intensity of their own).</param>
    public static WebApplication Build(ServerOptions options, TimeProvider? timeProvider = null, Action<ILoggingBuilder>? configureLogging = null, Action<IServiceCollection>? configureServices = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        var time = timeProvider ?? TimeProvider.System;
        var tls = ServerTls.Prepare(options, time);
        var builder = GantryHost.CreateBuilder(
            options.Listen,
            options.LogLevel,
            logging =>
            {
                // Keys lie in the data dir with the tokens, unencrypted like them: say nothing about it.
                logging.AddFilter("Microsoft.AspNetCore.DataProtection", LogLevel.Error);
                configureLogging?.Invoke(logging);
            },
            kestrel => kestrel.Limits.MaxRequestBodySize = options.MaxRequestBodyBytes,
            tls is null ? null : ServerTls.UseHttps);
        if (tls is not null)
        {
            ServerTls.AddServices(builder.Services, tls, options.TlsAuto, time);
        }

        builder.Services.AddRouting();
        builder.Services.AddProblemDetails();
        builder.Services.AddExceptionHandler<StoreUnavailableHandler>();
        // Source-generated JSON for every API message: no reflection, so trimmed builds behave the same.
        builder.Services.ConfigureHttpJsonOptions(json => json.SerializerOptions.TypeInfoResolverChain.Insert(0, GantryJson.Default));

        // Services added (or put in place of a default registered with TryAdd, such as an ICarbonIntensity) by tests and embedders.
        configureServices?.Invoke(builder.Services);

        Directory.CreateDirectory(options.DataDir);
        var store = OpenStore(options);
        TelemetryStore telemetry;
        try
        {
            telemetry = TelemetryStore.Open(options.TelemetryPath);
        }
        catch (Exception ex) when (ex is Microsoft.Data.Sqlite.SqliteException or StoreException)
        {
            store.Dispose();
            throw new InvalidOperationException($"cannot open the telemetry database {options.TelemetryPath}: {ex.Message}", ex);
        }

        builder.Services.AddSingleton(time);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton<IStateStore>(store);
        builder.Services.AddSingleton<ServerMetrics>();
        builder.Services.AddSingleton<ClusterSignals>();
        builder.Services.AddSingleton(telemetry);
        builder.Services.AddSingleton<TelemetryIngest>();
        builder.Services.TryAddSingleton<ICarbonIntensity, NoCarbonIntensity>();
        builder.Services.TryAddSingleton<Gantry.Server.Services.IServiceMetrics>(Gantry.Server.Services.NoServiceMetrics.Instance); // services: per-service metrics, when measured (docs/services.md)
        builder.Services.TryAddSingleton<IAccountLimits>(NoAccountLimits.Instance); // fair share: stands for "the tokens' limits" (Startup); a test may register its own
        // Carbon intensity (Carbon/): with --carbon-source, its cache replaces NoCarbonIntensity and the leader refreshes it.
        if (builder.Services.AddCarbonIntensity(options, time))
        {
            LeaderOnly<CarbonRefreshWorker>(builder.Services);
        }

        builder.Services.AddSingleton<FleetEnergy>();
        builder.Services.AddSingleton<Gantry.Server.PowerSaving.PowerSavingMetrics>(); // power saving (PowerSaving/)

        // The features, built from what the store holds (read once, then dropped).
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Tokens);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Nodes);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Jobs);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Health);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Alerts);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Silences);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Delivery);
        builder.Services.AddSingleton(sp => sp.GetRequiredService<Startup>().Power); // power caps (docs/power.md)
        builder.Services.AddSingleton<Startup>();
        builder.Services.AddSingleton<JobLogs>();

        // The audit log (docs/audit.md): requests queue records, a writer stores them, the leader purges old ones.
        builder.Services.AddSingleton((IAuditStore)store);
        builder.Services.AddSingleton<AuditLog>();
        builder.Services.AddHostedService<AuditWriter>();
        LeaderOnly<AuditRetentionWorker>(builder.Services);
        builder.Services.AddSingleton<TokenFailureLimiter>();

        // Who leads: alone (SQLite) from the start; among replicas (PostgreSQL) by a lease. The features
        // above are built when first asked for, which on a standby is once it has been elected.
        builder.Services.AddSingleton<ILeaderLease>(options.UsesPostgres ? new PostgresLeaderLease(PostgresUrl.ToConnectionString(options.Store!), options.LeaderLease) : new SoleLease());
        builder.Services.AddSingleton<Leadership.Leadership>();
        builder.Services.AddHostedService(sp => sp.GetRequiredService<Leadership.Leadership>());
        if (options.UsesPostgres)
        {
            builder.Services.AddHostedService<Promotion>();
        }

        builder.Services.AddSingleton(sp => new AnomalyRegistry(id => sp.GetRequiredService<NodeRegistry>().GpuInventoryOf(id), options.AnomalyHistory));
        builder.Services.AddHostedService<TelemetryWriter>();
        builder.Services.AddHostedService<TelemetryRetentionWorker>();
        LeaderOnly<EnergyTodaySeeder>(builder.Services);
        LeaderOnly<SchedulerWorker>(builder.Services);
        LeaderOnly<LivenessWorker>(builder.Services);
        LeaderOnly<JobRetentionWorker>(builder.Services);
        LeaderOnly<AlertWorker>(builder.Services);
        LeaderOnly<AlertDeliveryWorker>(builder.Services);
        LeaderOnly<AttemptEnergyWriter>(builder.Services); // Job energy.

        LeaderOnly<PowerBudgetWorker>(builder.Services); // power caps (docs/power.md)

        LeaderOnly<Gantry.Server.PowerSaving.PowerSavingWorker>(builder.Services); // power saving: idle power-down
        builder.Services.AddServiceHealth(); // services' health and metrics (docs/service-health.md)
        builder.Services.AddDashboard(options);
        configureServices?.Invoke(builder.Services);

        var app = builder.Build();
        if (!options.UsesPostgres)
        {
            // Alone, the server leads from the start: load the state and make the tokens now, so that a
            // store that cannot be used stops the start with its reason.
            Promotion.LoadState(app.Services);
        }

        var startedAt = time.GetUtcNow();

        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseStandbyRedirects();
        app.UseTokenFailureLimit();
        app.Use(async (context, next) =>
        {
            await next(context).ConfigureAwait(false);
            if (context.GetEndpoint() is RouteEndpoint endpoint && endpoint.RoutePattern.RawText is { } route && route.StartsWith("/api/", StringComparison.Ordinal))
            {
                context.RequestServices.GetRequiredService<ServerMetrics>().Request(route, context.Request.Method, context.Response.StatusCode);
            }
        });

        app.UseAudit();
        app.UseAuthentication();
        app.UseAuthorization();

        app.MapGet("/healthz", () => TypedResults.Text("ok\n"));
        app.MapGet("/readyz", () => TypedResults.Text("ready\n"));
        ServerTls.MapCaEndpoint(app);
        app.MapGet("/metrics", (HttpContext http, ServerMetrics metrics, NodeRegistry nodes, JobQueue jobs, TelemetryIngest ingest, AlertEngine alerts, AlertDelivery delivery, AnomalyRegistry anomalies, FleetEnergy energy, PowerCaps power) =>
        {
            var buffer = new ArrayBufferWriter<byte>(16 * 1024);
            metrics.Render(buffer, nodes, jobs, ingest.Dropped, startedAt, w =>
            {
                AlertMetrics.Render(w, alerts, delivery);
                AnomalyMetrics.Render(w, anomalies, nodes);
                FleetEnergyMetrics.Render(w, energy.Snapshot(time.GetUtcNow()), nodes);
                PowerMetrics.Render(w, power.Snapshot(), nodes); // power caps (docs/power.md)
                FairShareMetrics.Render(w, jobs.FairShareReport()); // fair share per account (docs/fair-share.md)

                CarbonMetrics.Render(w, http.RequestServices.GetRequiredService<ICarbonIntensity>(), time.GetUtcNow()); // carbon intensity per location

                http.RequestServices.GetRequiredService<Gantry.Server.PowerSaving.PowerSavingMetrics>().Render(w, nodes.PowerSnapshot()); // power saving
                http.RequestServices.GetRequiredService<AuditLog>().Render(w); // the audit log's queue

                // Services (docs/service-health.md): each live service's health, tokens/s, power and tokens per joule.
                var services = new List<ServiceView>();
                http.RequestServices.GetRequiredService<ServiceDirectory>().List(services);
                ServiceMetricsExposition.Render(w, services, nodes);
            });
            return TypedResults.Bytes(buffer.WrittenMemory.ToArray(), "text/plain; version=0.0.4; charset=utf-8");
        }).RequireRole(Role.Viewer);
        app.MapNodeEndpoints();
        app.MapPrometheusTargets(); // GET /api/v1/prometheus/targets: agents for Prometheus' http_sd
        app.MapHealthEndpoints();
        app.MapAnomalyEndpoints();
        app.MapAlertEndpoints();
        app.MapJobEndpoints();
        Gantry.Server.Services.ServiceEndpoints.MapServiceEndpoints(app); // GET /api/v1/services (docs/services.md)
        app.MapTokenEndpoints(); // people's API tokens (docs/people.md)
        app.MapEnergyEndpoints(); // Job energy: the energy report.
        app.MapLogEndpoints();
        Live.ClusterEvents.MapClusterEvents(app);
        app.MapTelemetryEndpoints();
        app.MapPowerEndpoints(); // power caps (docs/power.md)
        app.MapDashboard();
        app.MapCarbonEndpoints(); // GET /api/v1/carbon
        app.MapFairShareEndpoints(); // GET /api/v1/fair-share (docs/fair-share.md)
        app.MapServerStatus(); // GET /status: the server's warnings (carbon today)
        app.MapAuditEndpoints(); // GET /api/v1/audit
        app.Lifetime.ApplicationStopped.Register(store.Dispose);
        app.Lifetime.ApplicationStopped.Register(telemetry.Dispose);
        return app;
    }

    /// <summary>The thread pool's minimum with PostgreSQL (<see cref="OpenStore"/> says why).</summary>
    private const int PostgresMinThreads = 64;

    private static IStateStore OpenStore(ServerOptions options)
    {
        if (options.UsesPostgres)
        {
            // Features call the store synchronously under their locks, and a PostgreSQL call holds its
            // thread for a network round trip (SQLite's for microseconds of CPU). With the pool's default
            // minimum (one thread per core) a burst of job events and log uploads blocked every thread,
            // and heartbeats waited behind them until nodes were declared down (the end-to-end tests on
            // two cores); threads up to this minimum start at once instead of one every half second.
            ThreadPool.GetMinThreads(out var workers, out var completionPorts);
            ThreadPool.SetMinThreads(Math.Max(workers, PostgresMinThreads), completionPorts);
            try
            {
                return PostgresStateStore.Open(options.Store!);
            }
            catch (Exception ex) when (ex is StoreException or FormatException)
            {
                throw new InvalidOperationException(ex.Message, ex);
            }
        }

        try
        {
            return SqliteStateStore.Open(options.DatabasePath);
        }
        catch (Microsoft.Data.Sqlite.SqliteException ex)
        {
            throw new InvalidOperationException($"cannot open the database {options.DatabasePath}: {ex.Message}", ex);
        }
        catch (StoreException ex)
        {
            throw new InvalidOperationException(ex.Message, ex);
        }
        catch (TypeInitializationException ex) when (ex.InnerException?.InnerException is DllNotFoundException or BadImageFormatException)
        {
            throw new InvalidOperationException($"cannot load SQLite's native library (e_sqlite3): {ex.InnerException.InnerException.Message}", ex);
        }
    }

    private static void LeaderOnly<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicConstructors)] T>(IServiceCollection services)
        where T : class, IHostedService
    {
        services.AddSingleton<T>();
        services.AddHostedService<WhenLeader<T>>();
    }

    /// <summary>On a standby that has just been elected: load the state, make missing tokens, serve.</summary>
    private sealed class Promotion(Leadership.Leadership leadership, IServiceProvider services) : BackgroundService
    {
        /// <summary>Before the server listens: a replica that gets the lease at once serves from the start.</summary>
        public override async Task StartAsync(CancellationToken cancellationToken)
        {
            await leadership.TryLeadAtStartAsync(cancellationToken).ConfigureAwait(false);
            if (leadership.IsLeader)
            {
                LoadState(services);
            }

            await base.StartAsync(cancellationToken).ConfigureAwait(false);
        }

        public static void LoadState(IServiceProvider services)
        {
            // Before anything is written: from here on a write lands only while this term holds the lease.
            services.GetRequiredService<IStateStore>().FenceTo(services.GetRequiredService<Leadership.Leadership>().Epoch);
            var logger = services.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Server");
            foreach (var written in services.GetRequiredService<TokenStore>().EnsureTokens())
            {
                ServerLog.TokenWritten(logger, written);
            }

            // Nodes' grace counts from when agents can reach this server.
            var nodes = services.GetRequiredService<NodeRegistry>();
            var lifetime = services.GetRequiredService<IHostApplicationLifetime>();
            if (lifetime.ApplicationStarted.IsCancellationRequested)
            {
                nodes.RenewLoadedLeases();
            }
            else
            {
                lifetime.ApplicationStarted.Register(nodes.RenewLoadedLeases);
            }

            services.GetRequiredService<Leadership.Leadership>().MarkReady();
        }

        protected override async Task ExecuteAsync(CancellationToken stoppingToken)
        {
            if (leadership.IsReady)
            {
                return;
            }

            await leadership.WhenLeader.WaitAsync(stoppingToken).ConfigureAwait(false);
            LoadState(services);
        }
    }

    /// <summary>
    /// Reads the store once and builds the features that keep state in memory from it: tokens, the
    /// node registry, the job queue (which restores what live attempts hold on their nodes), GPU health
    /// (which tells the registry what placement leaves out).
    /// </summary>
    private sealed class Startup
    {
        public Startup(IStateStore store, Leadership.Leadership leadership, ServerOptions options, TimeProvider time, ClusterSignals signals, ServerMetrics metrics, TelemetryIngest ingest, AnomalyRegistry anomalies, FleetEnergy energy, ILoggerFactory loggers, ICarbonIntensity carbon, IAccountLimits limits)
        {
            var state = store.Load();
            Tokens = new TokenStore(store, state, options, time);
            Nodes = new NodeRegistry(store, state, options, time, signals, metrics, loggers.CreateLogger<NodeRegistry>(), leadership.Epoch) { Telemetry = ingest, Energy = energy };
            Jobs = new JobQueue(store, state, Nodes, options, time, signals, metrics, loggers.CreateLogger<JobQueue>(), leadership.Epoch, limits: limits is NoAccountLimits ? Tokens : limits); // fair share: each token's --max-gpus/--max-pending (a test may give its own)
            Jobs.Carbon = carbon; // Job energy: CO2e per attempt; carbon-aware deferral.
            Nodes.Carbon = carbon; // A node's location, for a deferred job's pin to its plan's location.
            Health = new GpuHealthRegistry(store, state, Nodes, Jobs, options, time, signals, loggers.CreateLogger<GpuHealthRegistry>());

            // Power caps (docs/power.md): manual caps from the store; heartbeats carry the wanted caps.
            Power = new PowerCaps(store, state, Nodes, time, loggers.CreateLogger<PowerCaps>(), options.PowerBudgetWatts);
            Nodes.Power = Power;
            Silences = new SilenceBook(store, state, time);
            Delivery = new AlertDelivery(store, state, options, time, loggers.CreateLogger<AlertDelivery>());
            var rules = new AlertRuleBook(store, state, options, time, loggers.CreateLogger<AlertRuleBook>());
            Alerts = new AlertEngine(rules, Silences, new FleetSeries(Nodes, Health, Jobs.Outcomes, time, anomalies), Delivery, options, time, loggers.CreateLogger<AlertEngine>())
            {
                AdvertisedUrl = leadership.AdvertiseUrl,
            };
        }

        public SilenceBook Silences { get; }

        public AlertDelivery Delivery { get; }

        public AlertEngine Alerts { get; }

        public TokenStore Tokens { get; }

        public NodeRegistry Nodes { get; }

        public JobQueue Jobs { get; }

        public GpuHealthRegistry Health { get; }

        public PowerCaps Power { get; }
    }
}
