namespace Gantry.Telemetry.Collection;

/// <summary>
/// Reads one part of the node. The sampler calls it once per interval on a thread-pool
/// thread, with its own timeout: an implementation may block on I/O (a hung filesystem, a
/// slow NVML call) without delaying any other collector or a scrape. A collector that
/// throws has failed this round only; the sampler records the error and carries on.
/// </summary>
/// <typeparam name="T">The immutable reading this collector produces.</typeparam>
public interface ICollector<T> where T : class
{
    /// <summary>Short stable name, used in logs, <c>/status</c> and self-metrics (<c>cpu</c>, <c>nvml</c>).</summary>
    string Name { get; }

    /// <summary>Takes one reading.</summary>
    ValueTask<T> CollectAsync(CancellationToken cancellationToken);
}

/// <summary>
/// Where the Linux collectors read the kernel's files. Tests point these at fixture trees.
/// </summary>
/// <param name="Proc">procfs mount, normally <c>/proc</c>.</param>
/// <param name="Sys">sysfs mount, normally <c>/sys</c>.</param>
public sealed record HostPaths(string Proc, string Sys)
{
    /// <summary>The live machine's <c>/proc</c> and <c>/sys</c>.</summary>
    public static HostPaths Live { get; } = new("/proc", "/sys");
}
