using Gantry.Server.Nodes;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.Anomalies;

/// <summary>The anomaly family of the server's <c>/metrics</c>.</summary>
internal static class AnomalyMetrics
{
    /// <summary>
    /// Writes <c>gantry_server_anomaly_score{node,node_id,gpu,metric}</c> from each node's current snapshot
    /// (no lock held while writing; a node's name is asked of the registry once per node):
    /// <code>
    /// gantry_server_anomaly_score{node="gpu-07",node_id="n1a2b3c4d5e6",gpu="3",metric="peer_temperature_celsius"} 0.93
    /// gantry_server_anomaly_score{node="gpu-07",node_id="n1a2b3c4d5e6",metric="cpu_utilization"} 0.02
    /// </code>
    /// </summary>
    public static void Render(PrometheusTextWriter w, AnomalyRegistry registry, NodeRegistry nodes)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(registry);
        ArgumentNullException.ThrowIfNull(nodes);
        w.Family(
            "gantry_server_anomaly_score",
            "gauge",
            "Anomaly score (0 to 1, 0.5 or more an alarm) of each telemetry series for its last completed minute: against its own history, or (metric peer_*) a GPU against same-model GPUs of its node at similar utilisation. Series at 0 are left out to keep the scrape small.");
        foreach (var (nodeId, scores) in registry.AllScores())
        {
            string? name = null;
            foreach (var reading in scores.Readings)
            {
                if (!(reading.Score > 0))
                {
                    continue;
                }

                // A node the server no longer knows (removed) is left out.
                name ??= nodes.NodeName(nodeId);
                if (name is null)
                {
                    break;
                }

                w.Begin().Label("node", name).Label("node_id", nodeId);
                if (reading.Gpu >= 0)
                {
                    w.Label("gpu", reading.Gpu);
                }

                w.Label("metric", ScoredSeries.Name(reading.Metric)).Value(reading.Score);
            }
        }
    }
}
