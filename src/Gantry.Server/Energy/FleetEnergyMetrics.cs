using Gantry.Server.Nodes;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.Energy;

/// <summary>
/// The fleet's power, energy, tokens and CO2e on the server's <c>/metrics</c>, from one
/// <see cref="FleetEnergySnapshot"/> (no lock held while writing). Per-node series carry
/// <c>node</c> (name) and <c>node_id</c>, and <c>simulated="true"</c> when the node's GPUs are simulated.
/// Power and rates of a node that has not reported within a minute are left out, never 0.
/// </summary>
internal static class FleetEnergyMetrics
{
    public static void Render(PrometheusTextWriter w, FleetEnergySnapshot fleet, NodeRegistry registry)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(fleet);
        ArgumentNullException.ThrowIfNull(registry);
        var names = new string?[fleet.Nodes.Count];
        var simulatedReporting = 0;
        for (var i = 0; i < names.Length; i++)
        {
            // A node the registry no longer knows (removed) is left out.
            names[i] = registry.NodeName(fleet.Nodes[i].NodeId);
            if (names[i] is not null && fleet.Nodes[i] is { Fresh: true, Simulated: true })
            {
                simulatedReporting++;
            }
        }

        w.Family("gantry_server_nodes_reporting", "gauge", "Nodes whose last heartbeat summary is less than a minute old; simulated=\"true\" counts those with simulated GPUs.");
        w.Begin().Label("simulated", "false").Value(fleet.NodesReporting - simulatedReporting);
        w.Begin().Label("simulated", "true").Value(simulatedReporting);

        w.Family("gantry_server_fleet_power_watts", "gauge", "Power of the nodes reporting: node (meter, or RAPL plus GPUs), gpu (their GPUs), cpu (RAPL package and DRAM).");
        Component(w, "node", fleet.PowerWatts);
        Component(w, "gpu", fleet.GpuPowerWatts);
        Component(w, "cpu", fleet.CpuPowerWatts);

        w.Family("gantry_server_fleet_energy_joules_total", "counter", "Energy of every node since the server started: gpu from the GPUs' own counters, node and cpu from power over time.");
        w.Begin().Label("component", "node").Value(fleet.NodeJoules);
        w.Begin().Label("component", "gpu").Value(fleet.GpuJoules);
        w.Begin().Label("component", "cpu").Value(fleet.CpuJoules);

        w.Family("gantry_server_fleet_tokens_per_second", "gauge", "Tokens per second of the nodes' inference servers (--app-metrics-url), by kind (generated, prompt).");
        Kind(w, "generated", fleet.GeneratedTokensPerSecond);
        Kind(w, "prompt", fleet.PromptTokensPerSecond);

        w.Family("gantry_server_fleet_tokens_total", "counter", "Tokens of the nodes' inference servers since the server started, by kind.");
        w.Begin().Label("kind", "generated").Value(fleet.GeneratedTokens);
        w.Begin().Label("kind", "prompt").Value(fleet.PromptTokens);

        w.Family("gantry_server_fleet_tokens_per_joule", "gauge", "Generated tokens per joule of GPU energy, over the nodes that serve tokens.");
        if (fleet.GeneratedTokensPerJoule is { } fleetTpj)
        {
            w.Begin().Value(fleetTpj);
        }

        w.Family("gantry_server_co2_grams_total", "counter", "Grams of CO2e of the nodes' energy since the server started, by carbon location (each interval at that interval's intensity).");
        foreach (var location in fleet.Locations)
        {
            w.Begin().Label("location", location.Location).Value(location.Co2Grams);
        }

        w.Family("gantry_server_location_energy_joules_total", "counter", "Node energy counted for CO2e, by carbon location.");
        foreach (var location in fleet.Locations)
        {
            w.Begin().Label("location", location.Location).Value(location.Joules);
        }

        w.Family("gantry_server_node_power_watts", "gauge", "Each reporting node's power by component (node, gpu, cpu).");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is { } name && fleet.Nodes[i] is { Fresh: true } node)
            {
                NodeComponent(w, name, node, "node", node.PowerWatts);
                NodeComponent(w, name, node, "gpu", node.GpuPowerWatts);
                NodeComponent(w, name, node, "cpu", node.CpuPowerWatts);
            }
        }

        w.Family("gantry_server_node_energy_joules_total", "counter", "Each node's energy since the server started, by component (node, gpu, cpu).");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is { } name)
            {
                var node = fleet.Nodes[i];
                NodeComponent(w, name, node, "node", node.NodeJoules);
                NodeComponent(w, name, node, "gpu", node.GpuJoules);
                NodeComponent(w, name, node, "cpu", node.CpuJoules);
            }
        }

        w.Family("gantry_server_node_tokens_per_second", "gauge", "Each node's inference tokens per second, by kind (generated, prompt).");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is { } name && fleet.Nodes[i] is { Fresh: true, GeneratedTokensPerSecond: not null } node)
            {
                NodeLabels(w, name, node).Label("kind", "generated").Value(node.GeneratedTokensPerSecond!.Value);
                if (node.PromptTokensPerSecond is { } prompt)
                {
                    NodeLabels(w, name, node).Label("kind", "prompt").Value(prompt);
                }
            }
        }

        w.Family("gantry_server_node_tokens_per_joule", "gauge", "Each node's generated tokens per joule of GPU energy.");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is { } name && fleet.Nodes[i] is { GeneratedTokensPerJoule: { } tpj } node)
            {
                NodeLabels(w, name, node).Value(tpj);
            }
        }

        w.Family("gantry_server_node_co2_grams_total", "counter", "Each node's grams of CO2e since the server started (nodes in a carbon location only).");
        for (var i = 0; i < names.Length; i++)
        {
            if (names[i] is { } name && fleet.Nodes[i] is { Location: not null } node)
            {
                NodeLabels(w, name, node).Label("location", node.Location).Value(node.Co2Grams);
            }
        }
    }

    private static void Component(PrometheusTextWriter w, string component, double? value)
    {
        if (value is { } v)
        {
            w.Begin().Label("component", component).Value(v);
        }
    }

    private static void Kind(PrometheusTextWriter w, string kind, double? value)
    {
        if (value is { } v)
        {
            w.Begin().Label("kind", kind).Value(v);
        }
    }

    private static void NodeComponent(PrometheusTextWriter w, string name, NodeEnergySnapshot node, string component, double? value)
    {
        if (value is { } v)
        {
            NodeLabels(w, name, node).Label("component", component).Value(v);
        }
    }

    private static PrometheusTextWriter NodeLabels(PrometheusTextWriter w, string name, NodeEnergySnapshot node)
    {
        w.Begin().Label("node", name).Label("node_id", node.NodeId);
        if (node.Simulated)
        {
            w.Label("simulated", "true");
        }

        return w;
    }
}
