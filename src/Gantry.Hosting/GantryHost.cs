using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Hosting;

/// <summary>The web host set-up the agent and the server share: what each adds on top is its own.</summary>
public static class GantryHost
{
    /// <summary>How long a stopping host waits for its workers and open requests.</summary>
    public static readonly TimeSpan ShutdownTimeout = TimeSpan.FromSeconds(5);

    /// <summary>
    /// An empty web application builder on Kestrel's core, listening on <paramref name="listen"/> only,
    /// with Gantry's log filters. <paramref name="configureLogging"/> chooses the log providers (the CLI
    /// writes to the console, tests usually to nothing); <paramref name="configureKestrel"/> adds limits;
    /// <paramref name="configureListen"/> sets up the endpoint (HTTPS).
    /// </summary>
    public static WebApplicationBuilder CreateBuilder(
        IPEndPoint listen,
        LogLevel minimumLevel,
        Action<ILoggingBuilder>? configureLogging = null,
        Action<KestrelServerOptions>? configureKestrel = null,
        Action<ListenOptions>? configureListen = null)
    {
        ArgumentNullException.ThrowIfNull(listen);
        // An empty builder, not the slim one: that one reads appsettings*.json from the working
        // directory (a stray file there could add Kestrel endpoints) and watches the directory for
        // changes, recursively: from /tmp that was ~11,000 watched directories and 3.6 MiB of heap.
        // Settings come from Gantry's own sources (Settings/SettingSources), read once before the host is built.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions { Args = [] });
        builder.WebHost.UseKestrelCore();
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Listen(listen, endpoint => configureListen?.Invoke(endpoint));
            configureKestrel?.Invoke(kestrel);
        });

        builder.Logging.ClearProviders();
        builder.Logging.SetMinimumLevel(minimumLevel);
        // Kestrel's per-request logs are noise for an API and a metrics endpoint scraped every few seconds.
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Microsoft.Hosting.Lifetime", LogLevel.Warning);
        // A failed start is reported by the caller in one line, not as a logged stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting.Internal.Host", LogLevel.None);
        configureLogging?.Invoke(builder.Logging);
        builder.Services.Configure<HostOptions>(h => h.ShutdownTimeout = ShutdownTimeout);
        SystemdService.Add(builder.Services);
        return builder;
    }

    /// <summary>One line per message on the console, with a UTC timestamp: what <c>gantry agent</c>, <c>server</c> and <c>dev</c> write.</summary>
    public static void WriteToConsole(ILoggingBuilder logging) => logging.AddSimpleConsole(console =>
    {
        console.SingleLine = true;
        console.TimestampFormat = "yyyy-MM-ddTHH:mm:ss ";
        console.UseUtcTimestamp = true;
    });
}
