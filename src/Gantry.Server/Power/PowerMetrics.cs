using Gantry.Core.Protocol;
using Gantry.Server.Nodes;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.Power;

/// <summary>
/// Power caps and the fleet budget on the server's <c>/metrics</c>, from one <see cref="PowerSnapshot"/>
/// (no lock held while writing). GPU series carry <c>node</c> (name), <c>node_id</c>, <c>gpu</c> and, for
/// simulated GPUs, <c>simulated="true"</c>; the budget families appear only with <c>--power-budget</c>.
/// </summary>
internal static class PowerMetrics
{
    public static void Render(PrometheusTextWriter w, PowerSnapshot power, NodeRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(power);
        ArgumentNullException.ThrowIfNull(registry);
        var names = new string?[power.Nodes.Count];
        for (var i = 0; i < names.Length; i++)
        {
            names[i] = registry.NodeName(power.Nodes[i].NodeId);
        }

        w.Family("gantry_server_gpu_power_limit_watts", "gauge", "The power limit each GPU enforces, as its agent last reported it, by whose cap set it: manual, budget, job, or none (not capped by Gantry).");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is not { } name || power.Nodes[i].Report is not { } report)
            {
                continue;
            }

            foreach (var gpu in report.Gpus)
            {
                if (gpu.LimitWatts is { } limit)
                {
                    Gpu(w, name, power.Nodes[i].NodeId, gpu.Index, report.Simulated).Label("source", Source(gpu.CapWatts is null ? null : gpu.Source)).Value(limit);
                }
            }
        }

        w.Family("gantry_server_gpu_power_cap_wanted_watts", "gauge", "The power cap the server wants on each GPU (the lower of manual and budget; a job's own cap is applied by the agent), by source.");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is not { } name || power.Nodes[i].Orders is not { } orders)
            {
                continue;
            }

            var simulated = power.Nodes[i].Report?.Simulated ?? false;
            foreach (var order in orders.Gpus)
            {
                Gpu(w, name, power.Nodes[i].NodeId, order.Index, simulated).Label("source", Source(order.Source)).Value(order.Watts);
            }
        }

        w.Family("gantry_server_gpu_power_cap_refused", "gauge", "1 when a GPU's wanted power cap (or the restore of its earlier limit) was refused by its agent (no permission, not supported, out of range); gantry nodes show says why.");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is not { } name || power.Nodes[i].Report is not { } report)
            {
                continue;
            }

            foreach (var gpu in report.Gpus)
            {
                if (gpu.Source is not null || gpu.Error is not null)
                {
                    Gpu(w, name, power.Nodes[i].NodeId, gpu.Index, report.Simulated).Value(gpu.Error is null ? 0 : 1);
                }
            }
        }

        if (power.Budget is not { } budget)
        {
            return;
        }

        var division = budget.Figures;
        w.Family("gantry_server_power_budget_watts", "gauge", "The fleet's GPU power budget (--power-budget).");
        w.Begin().Value(budget.BudgetWatts);
        w.Family("gantry_server_power_budget_allocated_watts", "gauge", "What the budget hands out: idle GPUs' reserve plus what busy GPUs' nodes were last given.");
        w.Begin().Value(division.AllocatedWatts);
        w.Family("gantry_server_power_budget_used_watts", "gauge", "The GPUs' measured power, each as its node last reported it.");
        w.Begin().Value(division.MeasuredWatts);
        w.Family("gantry_server_power_budget_insufficient", "gauge", "1 when the budget does not cover the lowest power limit of every busy GPU.");
        w.Begin().Value(division.Insufficient ? 1 : 0);
        w.Family("gantry_server_power_budget_gpus", "gauge", "GPUs the budget is divided among, by state (busy, idle).");
        w.Begin().Label("state", "busy").Value(division.BusyGpus);
        w.Begin().Label("state", "idle").Value(division.Gpus - division.BusyGpus);
        w.Family("gantry_server_power_budget_divided_timestamp_seconds", "gauge", "When the server last checked the budget (every --power-budget-interval and soon after jobs start or end; Unix time).");
        w.Begin().Value(budget.DividedAt.ToUnixTimeMilliseconds() / 1000.0);
    }

    private static PrometheusTextWriter Gpu(PrometheusTextWriter w, string name, string nodeId, int gpu, bool simulated)
    {
        w.Begin().Label("node", name).Label("node_id", nodeId).Label("gpu", gpu);
        if (simulated)
        {
            w.Label("simulated", "true");
        }

        return w;
    }

    private static string Source(PowerCapSource? source) => source switch
    {
        PowerCapSource.Manual => "manual",
        PowerCapSource.Budget => "budget",
        PowerCapSource.Job => "job",
        _ => "none",
    };
}
