using System.CommandLine;
using Gantry.Agent.Configuration;
using Gantry.Core.Text;
using Gantry.Server;
using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Commands;

/// <summary><c>gantry server</c>: the control plane.</summary>
internal static class ServerCommand
{
    /// <summary>What <c>gantry --help</c> and <c>gantry server --help</c> say it does.</summary>
    public const string Description = """
        Run the control plane: node leases, the job queue and scheduler, job logs, and the REST API
        under /api/v1 (see docs/api.md). State lives in SQLite in --data-dir, or in the PostgreSQL
        database --store names; the admin token and the join token are generated in --data-dir at
        first start (admin.token, join.token).
        """;

    public static Command Create()
    {
        var command = new Command("server", Description);
        var listen = new Option<string>("--listen") { Description = "Address and port of the API, /metrics, /healthz and /readyz. (default: 127.0.0.1:7070)", HelpName = "ADDRESS:PORT" };
        var dataDir = new Option<string>("--data-dir") { Description = $"Where the database and the token files live. (default: {ServerOptions.DefaultDataDir()})", HelpName = "DIR" };
        var joinToken = new Option<string>("--join-token") { Description = "The token agents join with, at least 16 characters. Default: generated at first start into <data-dir>/join.token. [env: GANTRY_JOIN_TOKEN]", HelpName = "TOKEN" };
        var heartbeat = new Option<string>("--heartbeat-interval") { Description = "How often agents heartbeat; a node that misses two is suspect. (default: 5s)", HelpName = "DURATION" };
        var downAfter = new Option<string>("--down-after") { Description = "A node silent this long is down and its running jobs are lost (and requeued while retries remain). (default: 20s)", HelpName = "DURATION" };
        var killGrace = new Option<string>("--kill-grace") { Description = "Time between SIGTERM and SIGKILL when a job is cancelled or runs out of time. (default: 10s)", HelpName = "DURATION" };
        var reservation = new Option<string>("--reservation-after") { Description = "How long a job may be overtaken by smaller jobs (backfill) before a node is reserved for it. (default: 2m)", HelpName = "DURATION" };
        var retentionRaw = new Option<string>("--retention-raw") { Description = "How long raw telemetry samples (every heartbeat) are kept in <data-dir>/telemetry.db. (default: 24h)", HelpName = "DURATION" };
        var retentionRollup = new Option<string>("--retention-rollup") { Description = "How long per-minute telemetry rollups are kept; at least --retention-raw. (default: 30d)", HelpName = "DURATION" };
        var maxJobLog = new Option<string>("--max-job-log") { Description = "Output stored per job attempt and stream (stdout, stderr), counted in characters (bytes for ASCII text), e.g. 64MiB or 1g; past it the rest is dropped and the log says so. off: no limit. (default: 64MiB)", HelpName = "SIZE" };
        var store = new Option<string>("--store") { Description = "Where the state lives: a PostgreSQL URL (postgres://user[:password]@host[:port]/database) that several replicas share. Default: SQLite in --data-dir. [env: GANTRY_STORE]", HelpName = "URL" };
        var jobRetention = new Option<string>("--job-retention") { Description = "How long ended jobs and their output are kept; older ones are purged in the background. off: keep them. (default: 30d)", HelpName = "DURATION" };
        var schedulerDepth = new Option<int?>("--scheduler-depth") { Description = "Pending jobs a scheduling pass looks at first, in priority order; as many again come from a window that moves through the rest of the queue, pass by pass. (default: 500)", HelpName = "N" };
        var logLevel = new Option<string>("--log-level") { Description = "trace, debug, info, warning or error. (default: info)", HelpName = "LEVEL" };
        foreach (var option in new Option[] { listen, dataDir, store, joinToken, heartbeat, downAfter, killGrace, reservation, schedulerDepth, jobRetention, retentionRaw, retentionRollup, maxJobLog, logLevel })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            var options = new ServerOptions();
            string? setting = null;
            try
            {
                setting = "listen";
                if (parseResult.GetValue(listen) is { } l)
                {
                    options.Listen = AgentSettings.ParseEndpoint(l);
                }

                setting = "data-dir";
                options.DataDir = parseResult.GetValue(dataDir) ?? options.DataDir;
                setting = "store";
                options.Store = parseResult.GetValue(store) ?? NonEmpty(Environment.GetEnvironmentVariable("GANTRY_STORE"));
                setting = "join-token";
                options.JoinToken = parseResult.GetValue(joinToken) ?? NonEmpty(Environment.GetEnvironmentVariable("GANTRY_JOIN_TOKEN"));
                setting = "heartbeat-interval";
                options.HeartbeatInterval = Duration(parseResult.GetValue(heartbeat), options.HeartbeatInterval);
                setting = "down-after";
                options.DownAfter = Duration(parseResult.GetValue(downAfter), options.DownAfter);
                setting = "kill-grace";
                options.KillGrace = Duration(parseResult.GetValue(killGrace), options.KillGrace);
                setting = "reservation-after";
                options.ReservationAfter = Duration(parseResult.GetValue(reservation), options.ReservationAfter);
                setting = "scheduler-depth";
                options.SchedulerDepth = parseResult.GetValue(schedulerDepth) ?? options.SchedulerDepth;
                setting = "job-retention";
                if (parseResult.GetValue(jobRetention) is { } retention)
                {
                    options.JobRetention = retention == "off" ? null : AgentSettings.ParseDuration(retention);
                }

                setting = "retention-raw";
                options.RetentionRaw = Duration(parseResult.GetValue(retentionRaw), options.RetentionRaw);
                setting = "retention-rollup";
                options.RetentionRollup = Duration(parseResult.GetValue(retentionRollup), options.RetentionRollup);
                setting = "max-job-log";
                if (parseResult.GetValue(maxJobLog) is { } size)
                {
                    var chars = Sizes.Parse(size);
                    options.MaxJobLogChars = chars == 0 ? ServerOptions.NoLogLimit : chars;
                }

                setting = "log-level";
                options.LogLevel = LogLevelOf(parseResult.GetValue(logLevel)) ?? options.LogLevel;
            }
            catch (FormatException ex)
            {
                await Console.Error.WriteLineAsync($"gantry server: --{setting}: {ex.Message}").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            if (options.Validate() is { } problem)
            {
                await Console.Error.WriteLineAsync($"gantry server: --{problem.Setting}: {problem.Message}").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            return await RunAsync(options, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    internal static string? NonEmpty(string? value) => string.IsNullOrWhiteSpace(value) ? null : value.Trim();

    internal static TimeSpan Duration(string? text, TimeSpan fallback) => text is null ? fallback : AgentSettings.ParseDuration(text);

    internal static LogLevel? LogLevelOf(string? text) => text switch
    {
        null => null,
        "trace" => LogLevel.Trace,
        "debug" => LogLevel.Debug,
        "info" or "information" => LogLevel.Information,
        "warning" or "warn" => LogLevel.Warning,
        "error" => LogLevel.Error,
        _ => throw new FormatException($"must be trace, debug, info, warning or error, got '{text}'"),
    };

    internal static void ConsoleLogging(ILoggingBuilder logging) => logging.AddSimpleConsole(console =>
    {
        console.SingleLine = true;
        console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss ";
        console.UseUtcTimestamp = true;
    });

    /// <summary>
    /// Builds and starts the server; when it cannot start, no app and the exit code (after printing
    /// why): <see cref="GantryCli.UsageError"/> when <c>--store</c> names a database that cannot be had, 1 otherwise.
    /// </summary>
    internal static async Task<(WebApplication? App, string Url, int ExitCode)> StartAsync(ServerOptions options, string role, CancellationToken cancellationToken)
    {
        WebApplication app;
        try
        {
            app = ServerHost.Build(options, configureLogging: ConsoleLogging);
        }
        catch (StoreConnectionException ex)
        {
            await Console.Error.WriteLineAsync($"gantry {role}: --store: {ex.Message}").ConfigureAwait(false);
            return (null, "", GantryCli.UsageError);
        }
        catch (Exception ex) when (ex is InvalidOperationException or IOException or UnauthorizedAccessException)
        {
            await Console.Error.WriteLineAsync($"gantry {role}: {ex.Message}").ConfigureAwait(false);
            return (null, "", 1);
        }

        try
        {
            await app.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (IOException ex)
        {
            await Console.Error.WriteLineAsync($"gantry {role}: cannot listen on {options.Listen}: {ex.Message}").ConfigureAwait(false);
            await app.DisposeAsync().ConfigureAwait(false);
            return (null, "", 1);
        }

        var url = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault() ?? "http://" + options.Listen;
        var logger = app.Services.GetRequiredService<ILoggerFactory>().CreateLogger("Gantry.Server");
        var dataDir = Path.GetFullPath(options.DataDir);
        var adminToken = Path.Combine(dataDir, "admin.token");
        ServerLog.Listening(logger, url, dataDir);
        ServerLog.Dashboard(logger, url, adminToken);
        return (app, url, 0);
    }

    private static async Task<int> RunAsync(ServerOptions options, CancellationToken cancellationToken)
    {
        var started = await StartAsync(options, "server", cancellationToken).ConfigureAwait(false);
        if (started.App is null)
        {
            return started.ExitCode;
        }

        await using var app = started.App;
        await app.WaitForShutdownAsync(cancellationToken).ConfigureAwait(false);
        return 0;
    }
}
