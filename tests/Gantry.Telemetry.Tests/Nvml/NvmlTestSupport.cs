using System.Reflection;
using System.Runtime.Loader;
using System.Text.Json;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Nvml;
using Gantry.Testing;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Telemetry.Tests.Nvml;

/// <summary>
/// NVML's library path, the P/Invoke bindings and the fake's script variable are
/// process-wide: every NVML test runs in this one collection, one at a time.
/// </summary>
[CollectionDefinition("nvml", DisableParallelization = true)]
public sealed class NvmlTestGroup;

/// <summary>A logger that keeps what it was told, for asserting on log calls.</summary>
internal sealed class ListLogger<T> : ILogger<T>
{
    private readonly Lock _gate = new();
    private readonly List<(LogLevel Level, EventId Id, string Message, Exception? Exception)> _entries = [];

    public IReadOnlyList<(LogLevel Level, EventId Id, string Message, Exception? Exception)> Entries
    {
        get
        {
            lock (_gate)
            {
                return [.. _entries];
            }
        }
    }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        lock (_gate)
        {
            _entries.Add((logLevel, eventId, formatter(state, exception), exception));
        }
    }
}

/// <summary>
/// Runs an <see cref="NvmlCollector"/> against another NVML library than the rest of the
/// process uses. A library binds once per process (per assembly), so the run loads a second
/// copy of Gantry.Telemetry (and of this assembly, for <see cref="IsolatedNvmlEntry"/>) into
/// its own load context, with its own resolver and bindings. Snapshots come back as JSON.
/// </summary>
internal static class IsolatedNvml
{
    public static GpuSnapshot[] Collect(string? libraryPath, int collects, bool waitForXids = false)
    {
        var context = new IsolatedContext();
        var assembly = context.LoadFromAssemblyPath(typeof(IsolatedNvml).Assembly.Location);
        var entry = assembly.GetType(typeof(IsolatedNvmlEntry).FullName!, throwOnError: true)!;
        var run = entry.GetMethod(nameof(IsolatedNvmlEntry.Run), BindingFlags.Public | BindingFlags.Static)!;
        var json = (string)run.Invoke(null, [libraryPath, collects, waitForXids])!;
        return JsonSerializer.Deserialize<GpuSnapshot[]>(json)!;
    }

    private sealed class IsolatedContext() : AssemblyLoadContext("nvml-isolated")
    {
        protected override Assembly? Load(AssemblyName assemblyName)
        {
            if (assemblyName.Name is "Gantry.Telemetry" or "Gantry.Telemetry.Tests")
            {
                return LoadFromAssemblyPath(Path.Combine(AppContext.BaseDirectory, assemblyName.Name + ".dll"));
            }

            return null;
        }
    }
}

/// <summary>Runs inside the isolated load context: every type here is that context's copy.</summary>
public static class IsolatedNvmlEntry
{
    public static string Run(string? libraryPath, int collects, bool waitForXids)
    {
        var snapshots = new List<GpuSnapshot>();
        using (var collector = new NvmlCollector(libraryPath, NullLogger<NvmlCollector>.Instance, new FakeTimeProvider()))
        {
            for (var i = 0; i < collects; i++)
            {
                snapshots.Add(collector.CollectAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult());
            }

            var deadline = DateTimeOffset.UtcNow.AddSeconds(15);
            while (waitForXids && snapshots[^1].Gpus.All(g => g.XidErrors.Count == 0) && DateTimeOffset.UtcNow < deadline)
            {
                Thread.Sleep(50);
                snapshots.Add(collector.CollectAsync(CancellationToken.None).AsTask().GetAwaiter().GetResult());
            }
        }

        return JsonSerializer.Serialize(snapshots);
    }
}
