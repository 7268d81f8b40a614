using Gantry.Core.Nodes;
using Gantry.Server.Power;

namespace Gantry.Server.Nodes;

// Power caps (docs/power.md): what the fleet budget reads of the nodes.
internal sealed partial class NodeRegistry
{
    /// <summary>The power-cap feature: wanted caps go out with heartbeats, reports come in; null where caps are not kept (benchmarks).</summary>
    public PowerCaps? Power { get; set; }

    /// <summary>
    /// Every GPU of every node that is not down, for the fleet power budget: busy (held by a live attempt),
    /// its last measured power and the holding job's cap. One walk of the fleet, made per budget division
    /// (on its interval and after jobs start or end, at most once a second), never per heartbeat.
    /// </summary>
    /// <param name="gpus">Cleared and filled; the caller keeps it from one division to the next.</param>
    public void PowerView(List<BudgetGpu> gpus)
    {
        gpus.Clear();
        lock (_lock)
        {
            foreach (var node in _nodes.Values)
            {
                if (node.State == NodeState.Down || node.Gpus.Count == 0)
                {
                    continue;
                }

                var summary = node.Summary?.Gpus;
                foreach (var gpu in node.Gpus)
                {
                    double? watts = null;
                    if (summary is not null)
                    {
                        foreach (var reading in summary)
                        {
                            if (reading.Index == gpu.Index)
                            {
                                watts = reading.Lost ? null : reading.PowerWatts;
                                break;
                            }
                        }
                    }

                    double? jobCap = null;
                    var busy = node.GpuHolders.ContainsKey(gpu.Index);
                    if (busy)
                    {
                        foreach (var live in node.Live)
                        {
                            if (live.GpuPowerCapWatts is { } cap && live.Gpus.Contains(gpu.Index))
                            {
                                jobCap = cap;
                                break;
                            }
                        }
                    }

                    gpus.Add(new BudgetGpu(node.Id, gpu.Index, busy, watts, jobCap));
                }
            }
        }
    }
}
