using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Server.Nodes;

internal sealed partial class NodeRegistry
{
    /// <summary>Nodes ordered by id, after <paramref name="cursor"/>, optionally of one state.</summary>
    public Page<NodeInfo> ListNodes(NodeState? state, string? cursor, int limit)
    {
        lock (_lock)
        {
            var items = new List<NodeInfo>(Math.Min(limit, _nodes.Count));
            IEnumerable<string> ids = _ids;
            if (cursor is not null)
            {
                ids = _ids.Count == 0 || string.CompareOrdinal(cursor, _ids.Max) >= 0 ? [] : _ids.GetViewBetween(cursor, _ids.Max);
            }

            string? last = null;
            foreach (var id in ids)
            {
                if (cursor is not null && string.CompareOrdinal(id, cursor) <= 0)
                {
                    continue;
                }

                var node = _nodes[id];
                if (state is { } s && node.State != s)
                {
                    continue;
                }

                if (items.Count == limit)
                {
                    return new Page<NodeInfo> { Items = items, NextCursor = last };
                }

                items.Add(ToNodeInfo(node));
                last = id;
            }

            return new Page<NodeInfo> { Items = items };
        }
    }

    /// <summary>
    /// What alert rules read of every node, as it stands: references to immutable parts copied under the
    /// lock (one walk over the fleet per rule evaluation, every <c>--alert-interval</c>, never per heartbeat).
    /// </summary>
    /// <param name="views">Cleared and filled; the caller keeps it from one evaluation to the next.</param>
    public void AlertViews(List<NodeAlertView> views)
    {
        views.Clear();
        lock (_lock)
        {
            views.EnsureCapacity(_nodes.Count);
            foreach (var node in _nodes.Values)
            {
                views.Add(new NodeAlertView(node.Id, node.Name, node.State, node.Drain, node.Labels, node.Gpus, node.Summary, node.Health));
            }
        }
    }

    /// <summary>
    /// Every node whose agent told where it serves, as Prometheus' service discovery names it, ordered by id:
    /// references to immutable parts copied under the lock (one walk over the fleet per discovery refresh,
    /// never per heartbeat).
    /// </summary>
    /// <param name="targets">Cleared and filled.</param>
    public void ScrapeTargets(List<NodeScrapeTarget> targets)
    {
        targets.Clear();
        lock (_lock)
        {
            targets.EnsureCapacity(_nodes.Count);
            foreach (var id in _ids)
            {
                var node = _nodes[id];
                if (node.AgentUrl is { } url)
                {
                    targets.Add(new NodeScrapeTarget(node.Id, node.Name, node.State, url, node.Labels, node.Gpus));
                }
            }
        }
    }

    /// <summary>A node's name without building its whole <see cref="NodeInfo"/>; null when unknown.</summary>
    public string? NodeName(string id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var node) ? node.Name : null;
        }
    }

    /// <summary>
    /// Services (docs/services.md): the host a node's services are reached at, the host of its agent's
    /// advertised URL, else its name; null when the node is unknown.
    /// </summary>
    public string? HostOf(string id)
    {
        lock (_lock)
        {
            if (!_nodes.TryGetValue(id, out var node))
            {
                return null;
            }

            return node.AgentUrl is { } url && Uri.TryCreate(url, UriKind.Absolute, out var uri) && uri.Host.Length > 0 ? uri.Host : node.Name;
        }
    }

    /// <summary>A node's GPUs as it registered them (immutable; models for the anomaly peers); null when unknown.</summary>
    public IReadOnlyList<GpuInventory>? GpuInventoryOf(string id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var node) ? node.Gpus : null;
        }
    }

    /// <summary>A node's state now; null when unknown.</summary>
    public NodeState? StateOf(string id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var node) ? node.State : null;
        }
    }

    public NodeInfo? GetNode(string id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var node) ? ToNodeInfo(node) : null;
        }
    }

    /// <summary>Nodes by state and the fleet's GPUs, kept as nodes change (no walk over the fleet).</summary>
    public (Dictionary<NodeState, int> Nodes, int Gpus, int BusyGpus) Counts()
    {
        lock (_lock)
        {
            var nodes = new Dictionary<NodeState, int>();
            foreach (var (state, count) in _stateCounts)
            {
                if (count > 0)
                {
                    nodes[state] = count;
                }
            }

            return (nodes, _gpus, _busyGpus);
        }
    }

    private NodeInfo ToNodeInfo(NodeRecord node)
    {
        var gpus = new NodeGpuInfo[node.Gpus.Count];
        for (var i = 0; i < gpus.Length; i++)
        {
            var g = node.Gpus[i];
            gpus[i] = new NodeGpuInfo
            {
                Index = g.Index,
                Uuid = g.Uuid,
                Model = g.Model,
                MemoryBytes = g.MemoryBytes,
                Simulated = g.Simulated,
                NvLinkPeers = g.NvLinkPeers,
                JobId = node.GpuHolders.TryGetValue(g.Index, out var job) ? job : null,
                Health = node.Health?.Gpus.GetValueOrDefault(g.Index),
            };
        }

        var jobs = new long[node.Live.Count];
        for (var i = 0; i < jobs.Length; i++)
        {
            jobs[i] = node.Live[i].JobId;
        }

        return new NodeInfo
        {
            Id = node.Id,
            Name = node.Name,
            State = node.State,
            Drain = node.Drain,
            Os = node.Os,
            Architecture = node.Architecture,
            CpuCores = node.CpuCores,
            MemoryBytes = node.MemoryBytes,
            UsedCpus = node.UsedCpus,
            UsedMemoryBytes = node.UsedMemoryBytes,
            Labels = node.Labels,
            Gpus = gpus,
            Jobs = jobs,
            RegisteredAt = node.RegisteredAt,
            LastHeartbeatAt = node.LastHeartbeatAt,
            AgentVersion = node.AgentVersion,
            AgentUrl = node.AgentUrl,
            Summary = node.Summary,
            Health = node.Health?.Node,
            PowerSaving = PowerSavingInfo(node),
            ContainerRuntimes = node.ContainerRuntimes,
        };
    }
}

/// <summary>One node as alert rules see it (<see cref="NodeRegistry.AlertViews"/>).</summary>
internal sealed record NodeAlertView(
    string Id,
    string Name,
    NodeState State,
    bool Drain,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<GpuInventory> Gpus,
    NodeSummary? Summary,
    Health.NodeHealthView? Health);

/// <summary>One node as Prometheus' service discovery sees it (<see cref="NodeRegistry.ScrapeTargets"/>).</summary>
internal sealed record NodeScrapeTarget(
    string Id,
    string Name,
    NodeState State,
    string AgentUrl,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<GpuInventory> Gpus);
