using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Server.Cluster;

internal sealed partial class ControlPlane
{
    /// <summary>Nodes ordered by id, after <paramref name="cursor"/>, optionally of one state.</summary>
    public Page<NodeInfo> ListNodes(NodeState? state, string? cursor, int limit)
    {
        lock (_lock)
        {
            var ids = _nodes.Keys.Where(id => cursor is null || string.CompareOrdinal(id, cursor) > 0).Order(StringComparer.Ordinal);
            var items = new List<NodeInfo>();
            string? last = null;
            foreach (var id in ids)
            {
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

    /// <summary>A node's name without building its whole <see cref="NodeInfo"/>; null when unknown.</summary>
    public string? NodeName(string id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var node) ? node.Name : null;
        }
    }

    public NodeInfo? GetNode(string id)
    {
        lock (_lock)
        {
            return _nodes.TryGetValue(id, out var node) ? ToNodeInfo(node) : null;
        }
    }

    /// <summary>Jobs newest first, below <paramref name="before"/>, optionally of one state.</summary>
    public Page<JobInfo> ListJobs(JobState? state, long? before, int limit)
    {
        lock (_lock)
        {
            var items = new List<JobInfo>();
            var start = _jobs.Count - 1;
            if (before is { } b)
            {
                // Ids ascend with position: find the last job below the cursor.
                var lo = 0;
                var hi = _jobs.Count - 1;
                start = -1;
                while (lo <= hi)
                {
                    var mid = (lo + hi) / 2;
                    if (_jobs[mid].Id < b)
                    {
                        start = mid;
                        lo = mid + 1;
                    }
                    else
                    {
                        hi = mid - 1;
                    }
                }
            }

            for (var i = start; i >= 0; i--)
            {
                var job = _jobs[i];
                if (state is { } s && job.State != s)
                {
                    continue;
                }

                if (items.Count == limit)
                {
                    return new Page<JobInfo> { Items = items, NextCursor = items[^1].Id.ToString(System.Globalization.CultureInfo.InvariantCulture) };
                }

                items.Add(ToJobInfo(job));
            }

            return new Page<JobInfo> { Items = items };
        }
    }

    public JobInfo? GetJob(long id)
    {
        lock (_lock)
        {
            return _jobsById.TryGetValue(id, out var job) ? ToJobInfo(job) : null;
        }
    }

    /// <summary>What a log reader needs: whether the job has ended, its state and code, and the signal of its next change. Null when unknown.</summary>
    public (bool Ended, JobState State, int? ExitCode, Task Changed)? LogStatus(long id)
    {
        lock (_lock)
        {
            if (!_jobsById.TryGetValue(id, out var job))
            {
                return null;
            }

            return (job.State.IsTerminal(), job.State, job.ExitCode, job.Changed.Next);
        }
    }

    /// <summary>Log chunks of a job after <paramref name="afterSeq"/> (read from the store, outside the lock).</summary>
    public List<LogRecord> ReadLogs(long jobId, long afterSeq, int limit) => _store.ReadLogs(jobId, afterSeq, limit);

    /// <summary>Counts for /metrics: nodes by state, jobs by state.</summary>
    public (Dictionary<NodeState, int> Nodes, Dictionary<JobState, int> Jobs, int Gpus, int BusyGpus) Counts()
    {
        lock (_lock)
        {
            var nodes = new Dictionary<NodeState, int>();
            var gpus = 0;
            var busy = 0;
            foreach (var node in _nodes.Values)
            {
                nodes[node.State] = nodes.GetValueOrDefault(node.State) + 1;
                gpus += node.Gpus.Count;
                busy += node.GpuHolders.Count;
            }

            return (nodes, new Dictionary<JobState, int>(_jobCounts), gpus, busy);
        }
    }

    private static NodeInfo ToNodeInfo(NodeRecord node)
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
            };
        }

        var jobs = new long[node.Live.Count];
        for (var i = 0; i < jobs.Length; i++)
        {
            jobs[i] = node.Live[i].Job.Id;
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
        };
    }

    private static JobInfo ToJobInfo(JobRecord job)
    {
        var spec = job.Spec;
        var current = job.Current;
        var attempts = new AttemptInfo[job.Attempts.Count];
        for (var i = 0; i < attempts.Length; i++)
        {
            var a = job.Attempts[i];
            attempts[i] = new AttemptInfo
            {
                Attempt = a.Number,
                Epoch = a.Epoch,
                NodeId = a.NodeId,
                Gpus = a.Gpus,
                GpuUuids = a.GpuUuids,
                State = a.State,
                AssignedAt = a.AssignedAt,
                StartedAt = a.StartedAt,
                EndedAt = a.EndedAt,
                ExitCode = a.ExitCode,
                Signal = a.Signal,
                Reason = a.Reason,
            };
        }

        return new JobInfo
        {
            Id = job.Id,
            Name = spec.Name,
            State = job.State,
            Reason = job.Reason,
            Command = spec.Command,
            Shell = spec.Shell,
            Env = spec.Env,
            WorkingDirectory = spec.WorkingDirectory,
            Resources = spec.Resources,
            Priority = spec.Priority,
            Selector = spec.Selector,
            MaxRuntimeSeconds = spec.MaxRuntimeSeconds,
            Retries = spec.Retries,
            ArrayIndex = job.ArrayIndex,
            CancelRequested = job.CancelRequested,
            SubmittedAt = job.SubmittedAt,
            StartedAt = job.StartedAt,
            EndedAt = job.EndedAt,
            ExitCode = job.ExitCode,
            NodeId = current?.NodeId,
            Gpus = current?.Gpus ?? [],
            Attempts = attempts,
            Transitions = [.. job.Transitions],
        };
    }
}
