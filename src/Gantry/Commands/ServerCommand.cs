using System.CommandLine;
using Gantry.Hosting;
using Gantry.Hosting.Settings;
using Gantry.Server;
using Gantry.Server.Configuration;
using Gantry.Server.Storage;
using Gantry.Server.Tls;
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

        Settings come from flags, then GANTRY_* environment variables (GANTRY_DOWN_AFTER=30s,
        GANTRY_STORE=postgres://...), then the JSON file given by --config ({"downAfter": "30s",
        "jobRetention": "30d", "schedulerDepth": 500}), in that order of precedence. A bad value
        stops the server with exit code 2 before anything is written.
        """;

    public static Command Create()
    {
        var command = new Command("server", Description);
        var config = SettingFlags.ConfigOption("{\"listen\": \":7070\", \"downAfter\": \"30s\"}");
        command.Options.Add(config);
        var flags = new SettingFlags();
        flags.AddAll(command, ServerSettings.All);

        command.SetAction(async (parseResult, cancellationToken) =>
        {
            ServerOptions options;
            try
            {
                options = await ServerSettings.LoadAsync(flags.Given(parseResult), parseResult.GetValue(config), cancellationToken: cancellationToken).ConfigureAwait(false);
            }
            catch (SettingException ex)
            {
                await ex.WriteToAsync(Console.Error, "gantry server").ConfigureAwait(false);
                return GantryCli.UsageError;
            }

            return await RunAsync(options, cancellationToken).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>
    /// Builds and starts the server; when it cannot start, no app and the exit code (after printing
    /// why): <see cref="GantryCli.UsageError"/> when <c>--store</c> names a database that cannot be had, 1 otherwise.
    /// </summary>
    internal static async Task<(WebApplication? App, string Url, int ExitCode)> StartAsync(ServerOptions options, string role, CancellationToken cancellationToken)
    {
        WebApplication app;
        try
        {
            app = ServerHost.Build(options, configureLogging: GantryHost.WriteToConsole);
            // The certificate is read now, so that one that cannot be used stops the start.
            _ = app.Services.GetService<ServerTls>();
        }
        catch (StoreConnectionException ex)
        {
            await Console.Error.WriteLineAsync($"gantry {role}: --store: {ex.Message}").ConfigureAwait(false);
            return (null, "", GantryCli.UsageError);
        }
        catch (TlsFileException ex)
        {
            // The files were checked with the settings; this is one that changed since.
            await Console.Error.WriteLineAsync($"gantry {role}: --{ex.Setting}: {ex.Message}").ConfigureAwait(false);
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
        if (app.Services.GetService<ServerTls>() is { } tls)
        {
            AnnounceTls(logger, tls, app.Services.GetRequiredService<Gantry.Server.Leadership.Leadership>().AdvertiseUrl(), options, dataDir);
        }

        return (app, url, 0);
    }

    /// <summary>
    /// What kubeadm prints at init: the CA's pin and the exact command an agent joins with (docs/tls.md).
    /// </summary>
    private static void AnnounceTls(ILogger logger, ServerTls tls, string url, ServerOptions options, string dataDir)
    {
        foreach (var made in tls.Auto?.Made ?? [])
        {
            ServerLog.TlsFileMade(logger, made);
        }

        var pair = tls.Certificate.Pair;
        var pin = pair.Pin;
        ServerLog.TlsServing(logger, tls.Certificate.CertificatePath, pair.Pinned.Subject, pin);
        var tokenFile = options.JoinToken is null ? Path.Combine(dataDir, "join.token") : "FILE-WITH-THE-JOIN-TOKEN";
        var command = $"gantry agent --server {url} --join-token-file {tokenFile} --ca-cert-hash {pin}";
        ServerLog.JoinCommand(logger, command);
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
        // A leader that stepped down ends with a failure, so that a supervisor starts it again (as a standby).
        return app.Services.GetRequiredService<Gantry.Server.Leadership.Leadership>().SteppedDown ? 1 : 0;
    }
}
