using System.Globalization;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Charts;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Gantry.Server.Services;

namespace Gantry.Server.Dashboard.Views;

/// <summary>One service as the Services page and the service page show it (docs/service-health.md).</summary>
/// <param name="JobId">Its job.</param>
/// <param name="Name">Its name (the job's, else <c>job-ID</c>).</param>
/// <param name="Health">starting, healthy, unhealthy or restarting (the job queue's word); once ended, its job's state.</param>
/// <param name="Message">Why (a failed check).</param>
/// <param name="Address"><c>host:port</c>; null when its port or its node's host is unknown.</param>
/// <param name="NodeId">Its node.</param>
/// <param name="NodeName">Its node's name.</param>
/// <param name="Restarts">Restarts so far.</param>
/// <param name="Metrics">Its figures; null when stale or never measured.</param>
/// <param name="LastSeen">When its agent reported last; null before any report.</param>
/// <param name="MetricsUrl">Its metrics endpoint; null for none.</param>
public sealed record ServiceRowModel(
    long JobId,
    string Name,
    string Health,
    string? Message,
    string? Address,
    string? NodeId,
    string? NodeName,
    int Restarts,
    ServiceMetricsInfo? Metrics,
    DateTimeOffset? LastSeen,
    string? MetricsUrl)
{
    /// <summary>The job id as text.</summary>
    public string Id => JobId.ToString(CultureInfo.InvariantCulture);

    /// <summary>What a row shows changes only with these (the live list re-renders a row when they do).</summary>
    public string Version => string.Create(CultureInfo.InvariantCulture, $"{Health}|{Message}|{Address}|{Restarts}|{Metrics?.At.UtcTicks}|{NodeName}");

    /// <summary>A rate as the tables show it: a plain number with k/M past a thousand.</summary>
    public static string Figure(double? value) => value is { } v && double.IsFinite(v) ? Units.Format(v, ChartUnit.Plain) : Show.Missing;

    /// <summary>Tokens per joule, two significant decimals below 10.</summary>
    public static string PerJoule(double? value) => value is { } v && double.IsFinite(v)
        ? (v < 10 ? v.ToString("0.##", CultureInfo.InvariantCulture) : Units.Format(v, ChartUnit.Plain))
        : Show.Missing;
}

/// <summary>
/// The dashboard's reads of the services: the job queue says which are live and their health, restarts and
/// address (the same <see cref="ServiceStatus"/> as the API); the metrics registry adds their figures, when
/// they were last reported, and their history.
/// </summary>
internal sealed class ServicesData(JobQueue queue, IServiceMetrics metrics, ServiceMetricsRegistry registry, NodeRegistry nodes, TimeProvider time)
{
    /// <summary>The most services the page lists (newest first).</summary>
    public const int PageLimit = 500;

    /// <summary>The span of a service's history charts: the registry's history at the default 5 s heartbeat.</summary>
    public static readonly TimeSpan HistorySpan = TimeSpan.FromSeconds(ServiceMetricsRegistry.HistoryCapacity * 5);

    /// <summary>Every live service (pending, placed, running or restarting), newest first, at most <see cref="PageLimit"/>.</summary>
    public List<ServiceRowModel> Rows()
    {
        var page = queue.ListServices(null, PageLimit);
        var rows = new List<ServiceRowModel>(page.Items.Count);
        foreach (var job in page.Items)
        {
            rows.Add(Row(ServiceViews.WithMetrics(job, metrics)));
        }

        return rows;
    }

    /// <summary>One service, live or ended; null when job <paramref name="jobId"/> is not a service.</summary>
    public ServiceRowModel? Row(long jobId) =>
        queue.GetJob(jobId) is { Kind: JobKind.Service } job ? Row(ServiceViews.WithMetrics(job, metrics)) : null;

    /// <summary>Its tokens per second, GPU power and tokens per joule over <see cref="HistorySpan"/>.</summary>
    public NodeCharts Charts(long jobId, IReadOnlyList<ServicePoint> history)
    {
        ArgumentNullException.ThrowIfNull(history);
        var end = time.GetUtcNow();
        var start = end - HistorySpan;
        var tokens = new List<ChartPoint>(history.Count);
        var power = new List<ChartPoint>(history.Count);
        var perJoule = new List<ChartPoint>(history.Count);
        foreach (var point in history)
        {
            if (point.At < start)
            {
                continue;
            }

            tokens.Add(ChartPoint.Raw(point.At, point.GeneratedTokensPerSecond ?? double.NaN));
            power.Add(ChartPoint.Raw(point.At, point.GpuPowerWatts ?? double.NaN));
            perJoule.Add(ChartPoint.Raw(point.At, point.TokensPerJoule ?? double.NaN));
        }

        var name = jobId.ToString(CultureInfo.InvariantCulture);
        return new NodeCharts("30m",
        [
            Chart("service-tokens", "Generated tokens per second", ChartUnit.Plain, start, end, new ChartSeries("job " + name, tokens)),
            Chart("service-power", "GPU power", ChartUnit.Watts, start, end, new ChartSeries("job " + name, power)),
            Chart("service-tokens-per-joule", "Tokens per joule", ChartUnit.Plain, start, end, new ChartSeries("job " + name, perJoule)),
        ]);
    }

    private static DrawnChart Chart(string id, string title, ChartUnit unit, DateTimeOffset start, DateTimeOffset end, ChartSeries series) =>
        new(title, SvgChart.Render(new ChartSpec
        {
            Id = id,
            Title = title,
            Unit = unit,
            Start = start,
            End = end,
            // Points come once per heartbeat (5 s by default); a gap of a few heartbeats still joins.
            Step = TimeSpan.FromSeconds(15),
            Series = [series],
        }));

    private ServiceRowModel Row(JobInfo job)
    {
        var status = job.ServiceStatus;
        var address = status?.Address;
        var nodeId = address?.NodeId ?? job.NodeId;
        return new ServiceRowModel(
            job.Id,
            job.Name ?? "job-" + job.Id.ToString(CultureInfo.InvariantCulture),
            status?.Health is { } health ? health.ToString().ToLowerInvariant() : job.State.Name(),
            status?.Message ?? (job.State.IsTerminal() ? job.Reason : null),
            address is null ? null : ServiceDirectory.HostPort(address.Host, address.Port),
            nodeId,
            nodeId is null ? null : nodes.NodeName(nodeId),
            status?.Restarts ?? 0,
            status?.Metrics,
            registry.View(job.Id)?.LastSeen,
            address?.MetricsUrl);
    }
}
