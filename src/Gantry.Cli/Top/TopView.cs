using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Top;

/// <summary>What <c>gantry top</c> draws, from a server's cluster snapshot or from one agent's <c>/status</c>.</summary>
internal sealed record TopView
{
    /// <summary>e.g. "server http://…" or "agent http://…".</summary>
    public required string Source { get; init; }

    public required DateTimeOffset At { get; init; }

    /// <summary>Nodes by state (server only).</summary>
    public IReadOnlyDictionary<NodeState, int> NodeCounts { get; init; } = new Dictionary<NodeState, int>();

    /// <summary>Jobs by state (server only).</summary>
    public IReadOnlyDictionary<JobState, int>? JobCounts { get; init; }

    public int Gpus { get; init; }

    public int BusyGpus { get; init; }

    public required IReadOnlyList<TopNode> Nodes { get; init; }

    public IReadOnlyList<ClusterJob> Running { get; init; } = [];

    public IReadOnlyList<ClusterJob> Pending { get; init; } = [];

    /// <summary>A line about the connection (lost, reconnecting); null when all is well.</summary>
    public string? Notice { get; init; }

    /// <summary>Sum of the power the nodes reported; null when none did.</summary>
    public double? PowerWatts
    {
        get
        {
            double? sum = null;
            foreach (var node in Nodes)
            {
                if (node.PowerWatts is { } watts)
                {
                    sum = (sum ?? 0) + watts;
                }
            }

            return sum;
        }
    }

    public static TopView FromCluster(ClusterSnapshot snapshot, string source)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        var nodes = new TopNode[snapshot.Nodes.Count];
        for (var i = 0; i < nodes.Length; i++)
        {
            nodes[i] = TopNode.FromNode(snapshot.Nodes[i]);
        }

        return new TopView
        {
            Source = source,
            At = snapshot.At,
            NodeCounts = snapshot.NodeCounts,
            JobCounts = snapshot.JobCounts,
            Gpus = snapshot.Gpus,
            BusyGpus = snapshot.BusyGpus,
            Nodes = nodes,
            Running = snapshot.Running,
            Pending = snapshot.Pending,
        };
    }

    /// <summary>
    /// Reads an agent's <c>/status</c> JSON (the agent's own format, not the API's): only the fields
    /// top shows, tolerant of everything else. Throws <see cref="JsonException"/> when it is not one.
    /// </summary>
    public static TopView FromAgentStatus(ReadOnlySpan<byte> json, string source)
    {
        using var document = JsonDocument.Parse(json.ToArray());
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object || !root.TryGetProperty("timestamp", out var timestamp) || !root.TryGetProperty("host", out var host))
        {
            throw new JsonException("not an agent status document (no timestamp or host)");
        }

        var gpus = new List<TopGpu>();
        var simulated = false;
        var busy = 0;
        if (root.TryGetProperty("gpus", out var gpuSnapshot) && gpuSnapshot.TryGetProperty("gpus", out var list) && list.ValueKind == JsonValueKind.Array)
        {
            foreach (var gpu in list.EnumerateArray())
            {
                var view = new TopGpu
                {
                    Index = gpu.GetProperty("index").GetInt32(),
                    Model = String(gpu, "name") ?? "GPU",
                    Simulated = Bool(gpu, "simulated"),
                    Lost = Bool(gpu, "lost"),
                    Utilization = Number(gpu, "utilizationGpuPercent") / 100,
                    MemoryUsedBytes = (long?)Number(gpu, "memoryUsedBytes"),
                    MemoryTotalBytes = (long?)Number(gpu, "memoryTotalBytes"),
                    TemperatureCelsius = Number(gpu, "temperatureCelsius"),
                    PowerWatts = Number(gpu, "powerWatts"),
                };
                simulated |= view.Simulated;
                busy += view.Utilization > 0 ? 1 : 0;
                gpus.Add(view);
            }
        }

        double? power = root.TryGetProperty("nodePower", out var nodePower) ? Number(nodePower, "watts") : null;
        if (power is null)
        {
            foreach (var gpu in gpus)
            {
                power = gpu.PowerWatts is { } watts ? (power ?? 0) + watts : power;
            }
        }

        long? memoryTotal = null;
        long? memoryUsed = null;
        if (host.TryGetProperty("memory", out var memory) && memory.ValueKind == JsonValueKind.Object)
        {
            memoryTotal = (long?)Number(memory, "totalBytes");
            memoryUsed = memoryTotal - (long?)Number(memory, "availableBytes");
        }

        var node = new TopNode
        {
            Name = String(host, "hostname") ?? "agent",
            State = null,
            Simulated = simulated,
            PowerWatts = power,
            MemoryUsedBytes = memoryUsed,
            MemoryTotalBytes = memoryTotal,
            SampledAt = timestamp.GetDateTimeOffset(),
            Gpus = gpus,
            GpuStatus = gpuSnapshot.ValueKind == JsonValueKind.Object && String(gpuSnapshot, "status") is { } status and not "ok" and not "simulated"
                ? status + (String(gpuSnapshot, "message") is { } message ? ": " + message : "")
                : null,
        };
        return new TopView { Source = source, At = node.SampledAt.Value, Nodes = [node], Gpus = gpus.Count, BusyGpus = busy };
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;

    private static bool Bool(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.True;

    private static double? Number(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.Number ? value.GetDouble() : null;
}

/// <summary>One node of the view.</summary>
internal sealed record TopNode
{
    public required string Name { get; init; }

    public string? Id { get; init; }

    /// <summary>The server's state for it; null for an agent's own view.</summary>
    public NodeState? State { get; init; }

    public bool Simulated { get; init; }

    public double? CpuUtilization { get; init; }

    public long? MemoryUsedBytes { get; init; }

    public long? MemoryTotalBytes { get; init; }

    public double? PowerWatts { get; init; }

    public DateTimeOffset? SampledAt { get; init; }

    /// <summary>Why there are no GPU figures (NVML unavailable), for an agent's view.</summary>
    public string? GpuStatus { get; init; }

    public required IReadOnlyList<TopGpu> Gpus { get; init; }

    public static TopNode FromNode(NodeInfo node)
    {
        ArgumentNullException.ThrowIfNull(node);
        var summary = node.Summary;
        var gpus = new TopGpu[node.Gpus.Count];
        for (var i = 0; i < gpus.Length; i++)
        {
            var gpu = node.Gpus[i];
            GpuSummary? figures = null;
            if (summary is not null)
            {
                foreach (var candidate in summary.Gpus)
                {
                    if (candidate.Index == gpu.Index)
                    {
                        figures = candidate;
                        break;
                    }
                }
            }

            gpus[i] = new TopGpu
            {
                Index = gpu.Index,
                Model = gpu.Model,
                Simulated = gpu.Simulated,
                JobId = gpu.JobId,
                Lost = figures?.Lost ?? false,
                Utilization = figures?.Utilization,
                MemoryUsedBytes = figures?.MemoryUsedBytes,
                MemoryTotalBytes = figures?.MemoryTotalBytes ?? gpu.MemoryBytes,
                TemperatureCelsius = figures?.TemperatureCelsius,
                PowerWatts = figures?.PowerWatts,
            };
        }

        return new TopNode
        {
            Id = node.Id,
            Name = node.Name,
            State = node.State,
            Simulated = summary?.Simulated ?? Array.Exists(gpus, g => g.Simulated),
            CpuUtilization = summary?.CpuUtilization,
            MemoryUsedBytes = summary?.MemoryUsedBytes,
            MemoryTotalBytes = summary?.MemoryTotalBytes ?? node.MemoryBytes,
            PowerWatts = summary?.PowerWatts,
            SampledAt = summary?.SampledAt ?? node.LastHeartbeatAt,
            Gpus = gpus,
        };
    }
}

/// <summary>One GPU row; a reading nobody took is null and shows as "-".</summary>
internal sealed record TopGpu
{
    public required int Index { get; init; }

    public required string Model { get; init; }

    public bool Simulated { get; init; }

    public bool Lost { get; init; }

    public long? JobId { get; init; }

    /// <summary>0 to 1.</summary>
    public double? Utilization { get; init; }

    public long? MemoryUsedBytes { get; init; }

    public long? MemoryTotalBytes { get; init; }

    public double? TemperatureCelsius { get; init; }

    public double? PowerWatts { get; init; }
}
