using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Systemd;

namespace Gantry.Hosting;

/// <summary>
/// Running as a systemd <c>Type=notify</c> service (deploy/systemd, docs/deploy.md): Microsoft.Extensions.Hosting.Systemd
/// sends <c>READY=1</c> once the host has started (Kestrel listening, the store open, workers running),
/// <c>STOPPING=1</c> when it stops, and writes the log in the journal's format; and, when the unit sets
/// <c>WatchdogSec=</c>, <see cref="SystemdWatchdog"/> pings the watchdog at half its interval, so a process
/// whose thread pool is stuck is killed and restarted by systemd. Outside systemd nothing of this is added.
/// </summary>
public static class SystemdService
{
    /// <summary>Adds the systemd lifetime and, when systemd asks for it, the watchdog.</summary>
    public static void Add(IServiceCollection services)
    {
        ArgumentNullException.ThrowIfNull(services);
        services.AddSystemd();
        if (SystemdHelpers.IsSystemdService()
            && WatchdogInterval(Environment.GetEnvironmentVariable("WATCHDOG_USEC"), Environment.GetEnvironmentVariable("WATCHDOG_PID"), Environment.ProcessId) is { } interval)
        {
            services.AddHostedService(provider => new SystemdWatchdog(provider.GetRequiredService<ISystemdNotifier>(), interval / 2));
        }
    }

    /// <summary>
    /// The watchdog interval systemd set (<c>WATCHDOG_USEC</c>, microseconds), or null when it set none, the
    /// value is not a positive number, or <c>WATCHDOG_PID</c> names another process (the watchdog is not ours).
    /// </summary>
    public static TimeSpan? WatchdogInterval(string? usec, string? pid, int processId)
    {
        if (!long.TryParse(usec, NumberStyles.None, CultureInfo.InvariantCulture, out var micros) || micros <= 0)
        {
            return null;
        }

        if (pid is { Length: > 0 } && (!int.TryParse(pid, NumberStyles.None, CultureInfo.InvariantCulture, out var owner) || owner != processId))
        {
            return null;
        }

        return TimeSpan.FromMicroseconds(micros);
    }
}

/// <summary>Pings systemd's watchdog (<c>WATCHDOG=1</c>) every <paramref name="every"/> while the host runs.</summary>
internal sealed class SystemdWatchdog(ISystemdNotifier notifier, TimeSpan every) : BackgroundService
{
    private static readonly ServiceState Ping = new("WATCHDOG=1");

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(every);
        do
        {
            notifier.Notify(Ping);
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
