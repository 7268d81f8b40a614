using System.Runtime.InteropServices;
using Gantry.Core.Nodes;
using Gantry.Server.Power;

namespace Gantry.Server.Nodes;

// Power caps (docs/power.md): what the fleet budget reads of the nodes, told node by node as it changes.
internal sealed partial class NodeRegistry
{
    // One node's GPUs as the budget sees them; filled and handed over under _lock.
    private readonly List<BudgetGpu> _budgetView = [];
    private PowerCaps? _powerCaps;

    /// <summary>
    /// The power-cap feature: wanted caps go out with heartbeats, reports come in; null where caps are not
    /// kept (benchmarks). Set once at start; with a budget, every node's GPUs are told to it then (the one
    /// walk of the fleet it gets), and afterwards each node's whenever its state is set.
    /// </summary>
    public PowerCaps? Power
    {
        get => _powerCaps;
        set
        {
            lock (_lock)
            {
                _powerCaps = value;
                foreach (var node in _nodes.Values)
                {
                    TrackBudget(node);
                }
            }
        }
    }

    /// <summary>
    /// Under <see cref="_lock"/>: tells the budget a node's GPUs (busy when a live attempt holds one, its last
    /// measured power, the holding job's cap) and whether the node counts (is not down). O(GPUs of the node);
    /// called wherever the node's state is set (heartbeats, job starts and ends, registration, liveness).
    /// </summary>
    private void TrackBudget(NodeRecord node)
    {
        if (_powerCaps is not { Budgeted: true } power)
        {
            return;
        }

        _budgetView.Clear();
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

            _budgetView.Add(new BudgetGpu(node.Id, gpu.Index, busy, watts, jobCap));
        }

        // A suspended node draws nothing: it holds no share of the budget until it resumes.
        power.TrackBudget(node.Id, node.State is not (NodeState.Down or NodeState.Suspended), CollectionsMarshal.AsSpan(_budgetView));
    }
}
