using Gantry.Core.Protocol;

namespace Gantry.Server.Services;

/// <summary>A service's metrics on its job's view, asked of <see cref="IServiceMetrics"/> after the job queue's lock.</summary>
internal static class ServiceViews
{
    /// <summary><paramref name="job"/> with its service's metrics, when it is a service with a status; otherwise as it is.</summary>
    public static JobInfo WithMetrics(JobInfo job, IServiceMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(job);
        ArgumentNullException.ThrowIfNull(metrics);
        return job.ServiceStatus is { } status && metrics.For(job.Id) is { } measured
            ? job with { ServiceStatus = status with { Metrics = measured } }
            : job;
    }

    /// <summary>Each job of <paramref name="page"/> with its service's metrics (one call per service on the page).</summary>
    public static Page<JobInfo> WithMetrics(Page<JobInfo> page, IServiceMetrics metrics)
    {
        ArgumentNullException.ThrowIfNull(page);
        ArgumentNullException.ThrowIfNull(metrics);
        if (metrics is NoServiceMetrics)
        {
            return page;
        }

        var items = new JobInfo[page.Items.Count];
        for (var i = 0; i < items.Length; i++)
        {
            items[i] = WithMetrics(page.Items[i], metrics);
        }

        return page with { Items = items };
    }
}
