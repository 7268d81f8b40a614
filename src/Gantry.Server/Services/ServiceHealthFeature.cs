using System.Globalization;
using Gantry.Core.Protocol;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Services;

/// <summary>
/// Services' health and metrics on the server (docs/service-health.md): the registry fed by heartbeats,
/// offered as <see cref="IServiceMetrics"/>, and the worker that drops services whose job ended.
/// </summary>
internal static class ServiceHealthFeature
{
    /// <summary>
    /// The most service reports of one heartbeat looked at: far more services than a node has GPUs, so that
    /// a node sending thousands (its credential misused) costs the job queue's lock no more than this.
    /// </summary>
    public const int MaxReportsPerHeartbeat = 256;

    /// <summary>Registers the feature. Its <see cref="IServiceMetrics"/> replaces any default registered before.</summary>
    public static IServiceCollection AddServiceHealth(this IServiceCollection services)
    {
        services.AddSingleton<ServiceMetricsRegistry>();
        services.AddSingleton<IServiceMetrics>(sp => sp.GetRequiredService<ServiceMetricsRegistry>());
        services.AddSingleton<ServiceDirectory>();
        services.AddHostedService<ServiceSweepWorker>();
        return services;
    }

    /// <summary>
    /// Takes a heartbeat's service reports (at most <see cref="MaxReportsPerHeartbeat"/>): those about the
    /// node's own live attempts set their services' health in the job queue, and reach the registry with the
    /// same heartbeat's energy figures. One pass under the queue's lock; O(reports).
    /// </summary>
    public static void ObserveHeartbeat(IServiceProvider services, string nodeId, HeartbeatRequest request)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(request);
        if (request.Services is not { Count: > 0 } reports)
        {
            return;
        }

        if (reports.Count > MaxReportsPerHeartbeat)
        {
            reports = [.. reports.Take(MaxReportsPerHeartbeat)];
        }

        var accepted = new List<ServiceAttemptView>(reports.Count);
        services.GetRequiredService<JobQueue>().ObserveServices(nodeId, reports, accepted);
        if (accepted.Count > 0)
        {
            services.GetRequiredService<ServiceMetricsRegistry>().Observe(nodeId, accepted, request.AttemptEnergy);
        }
    }
}

/// <summary>
/// The live services with their nodes' hosts resolved: what discovery, /metrics and the dashboard
/// list. A node's host is looked up once per service and node (then kept by the registry).
/// </summary>
internal sealed class ServiceDirectory(ServiceMetricsRegistry registry, NodeRegistry nodes)
{
    /// <summary>Every live service, by job id.</summary>
    /// <param name="views">Cleared and filled.</param>
    public void List(List<ServiceView> views)
    {
        registry.Views(views);
        for (var i = 0; i < views.Count; i++)
        {
            views[i] = Resolved(views[i]);
        }
    }

    /// <summary>One service; null when the registry has none by that id.</summary>
    public ServiceView? Get(long jobId) => registry.View(jobId) is { } view ? Resolved(view) : null;

    /// <summary><c>http://HOST:PORT/PATH</c> of its metrics endpoint; null without a host, port or path.</summary>
    public static string? MetricsUrl(ServiceView view)
    {
        ArgumentNullException.ThrowIfNull(view);
        return view is { Host: { } host, Port: { } port, MetricsPath: { } path }
            ? string.Create(CultureInfo.InvariantCulture, $"http://{HostPort(host, port)}{(path.StartsWith('/') ? path : "/" + path)}")
            : null;
    }

    /// <summary><c>host:port</c>, an IPv6 address in brackets.</summary>
    public static string HostPort(string host, int port) =>
        string.Create(CultureInfo.InvariantCulture, $"{(host.Contains(':', StringComparison.Ordinal) && !host.StartsWith('[') ? "[" + host + "]" : host)}:{port}");

    private ServiceView Resolved(ServiceView view)
    {
        if (view.Host is not null || view.NodeId.Length == 0)
        {
            return view;
        }

        // Outside the registry's lock: the node registry takes its own.
        if (nodes.GetNode(view.NodeId)?.AgentUrl is not { } url || !Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Host.Length == 0)
        {
            return view;
        }

        var host = uri.HostNameType == UriHostNameType.IPv6 ? uri.Host.Trim('[', ']') : uri.Host;
        registry.SetHost(view.JobId, view.NodeId, host);
        return view with { Host = host };
    }
}

/// <summary>Drops services whose job ended from the registry, every 30 s; one pass over the live services.</summary>
internal sealed partial class ServiceSweepWorker(ServiceMetricsRegistry registry, IServiceProvider services, TimeProvider time, ILogger<ServiceSweepWorker> logger) : BackgroundService
{
    /// <summary>How often ended services are dropped.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(30);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            using var timer = new PeriodicTimer(Interval, time);
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                // Empty on a standby (heartbeats go to the leader): the job queue is not asked for there.
                if (registry.Count == 0)
                {
                    continue;
                }

                try
                {
                    var jobs = services.GetRequiredService<JobQueue>();
                    registry.Sweep(jobs.IsLive);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    LogSweepFailed(logger, ex);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    [LoggerMessage(EventId = 3410, Level = LogLevel.Warning, Message = "Dropping ended services from the service metrics failed; the next tick tries again")]
    private static partial void LogSweepFailed(ILogger logger, Exception exception);
}
