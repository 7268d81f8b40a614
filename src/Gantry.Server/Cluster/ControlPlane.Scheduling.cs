using Gantry.Core.Jobs;
using Gantry.Core.Scheduling;

namespace Gantry.Server.Cluster;

internal sealed partial class ControlPlane
{
    /// <summary>A snapshot of what the scheduler needs, taken under the lock.</summary>
    public SchedulingInput SchedulingInput(SchedulerPolicy policy)
    {
        lock (_lock)
        {
            var nodes = new List<SchedulingNode>(_nodes.Count);
            foreach (var node in _nodes.Values)
            {
                var gpus = new SchedulingGpu[node.Gpus.Count];
                for (var i = 0; i < gpus.Length; i++)
                {
                    var g = node.Gpus[i];
                    gpus[i] = new SchedulingGpu(g.Index, g.Model, g.MemoryBytes, !node.GpuHolders.ContainsKey(g.Index), g.NvLinkPeers);
                }

                nodes.Add(new SchedulingNode
                {
                    Id = node.Id,
                    Schedulable = node.Schedulable,
                    Labels = node.Labels,
                    CpuCores = node.CpuCores,
                    FreeCpus = node.CpuCores - node.UsedCpus,
                    MemoryBytes = node.MemoryBytes,
                    FreeMemoryBytes = node.MemoryBytes - node.UsedMemoryBytes,
                    Gpus = gpus,
                });
            }

            var pending = new List<PendingJob>(_pending.Count);
            foreach (var job in _pending)
            {
                pending.Add(new PendingJob(job.Id, job.Spec.Priority, job.Id, job.Spec.Resources, job.Spec.Selector, job.QueuedAt));
            }

            return new SchedulingInput(nodes, pending, _time.GetUtcNow(), policy);
        }
    }

    /// <summary>
    /// Turns a pass's placements into attempts, checking each against the state now (a job may have
    /// been cancelled, a node may have gone, since the snapshot). Returns how many were placed.
    /// </summary>
    public int Apply(SchedulingResult result)
    {
        var placed = 0;
        var touched = new HashSet<NodeRecord>();
        lock (_lock)
        {
            var now = _time.GetUtcNow();
            _store.InTransaction(() =>
            {
                foreach (var placement in result.Placements)
                {
                    if (!_jobsById.TryGetValue(placement.JobId, out var job) || job.State != JobState.Pending
                        || !_nodes.TryGetValue(placement.NodeId, out var node) || !Fits(node, placement))
                    {
                        continue;
                    }

                    var uuids = new string[placement.Gpus.Count];
                    for (var i = 0; i < uuids.Length; i++)
                    {
                        uuids[i] = UuidOf(node, placement.Gpus[i]);
                    }

                    var attempt = new AttemptRecord
                    {
                        Job = job,
                        Number = job.Attempts.Count + 1,
                        Epoch = ++_lastEpoch,
                        NodeId = node.Id,
                        Gpus = [.. placement.Gpus],
                        GpuUuids = uuids,
                        Cpus = placement.Cpus,
                        MemoryBytes = placement.MemoryBytes,
                        State = AttemptState.Assigned,
                        AssignedAt = now,
                    };
                    _store.InsertAttempt(attempt);
                    job.Attempts.Add(attempt);
                    _pending.Remove(job);
                    _metrics.QueueWait.Observe((now - job.QueuedAt).TotalSeconds);
                    var gpus = placement.Gpus.Count == 0 ? "no GPUs" : "GPUs " + string.Join(',', placement.Gpus);
                    SetJobState(job, JobState.Assigned, $"placed on node {node.Id} ({gpus})", now);
                    _store.UpdateJob(job);
                    Hold(node, attempt);
                    UpdateNodeState(node, now);
                    touched.Add(node);
                    placed++;
                }
            });

            foreach (var waiting in result.Waiting)
            {
                if (_jobsById.TryGetValue(waiting.JobId, out var job) && job.State == JobState.Pending)
                {
                    job.Reason = waiting.Reason;
                }
            }

            foreach (var node in touched)
            {
                BumpAssignments(node);
            }
        }

        if (placed > 0)
        {
            ClusterChanged.Pulse();
        }

        return placed;
    }

    private static bool Fits(NodeRecord node, Placement placement)
    {
        if (!node.Schedulable || node.CpuCores - node.UsedCpus < placement.Cpus || node.MemoryBytes - node.UsedMemoryBytes < placement.MemoryBytes)
        {
            return false;
        }

        foreach (var gpu in placement.Gpus)
        {
            if (node.GpuHolders.ContainsKey(gpu) || !HasGpu(node, gpu))
            {
                return false;
            }
        }

        return true;
    }

    private static bool HasGpu(NodeRecord node, int index)
    {
        foreach (var gpu in node.Gpus)
        {
            if (gpu.Index == index)
            {
                return true;
            }
        }

        return false;
    }

    private static string UuidOf(NodeRecord node, int index)
    {
        foreach (var gpu in node.Gpus)
        {
            if (gpu.Index == index)
            {
                return gpu.Uuid;
            }
        }

        return "";
    }
}
