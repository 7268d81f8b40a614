using Gantry.Core.Anomalies;

namespace Gantry.Server.Anomalies;

/// <summary>A series the server scores (<see cref="ScoredSeries"/> names them).</summary>
internal enum ScoredMetric : byte
{
    /// <summary>A node's power against its own history.</summary>
    NodePower,

    /// <summary>A node's CPU utilisation against its own history.</summary>
    NodeCpu,

    /// <summary>A GPU's temperature against its own history.</summary>
    GpuTemperature,

    /// <summary>A GPU's power against its own history.</summary>
    GpuPower,

    /// <summary>A GPU's temperature against same-model GPUs of its node at similar utilisation.</summary>
    PeerTemperature,

    /// <summary>A GPU's power against same-model GPUs of its node at similar utilisation.</summary>
    PeerPower,
}

/// <summary>
/// The one list of what is scored: per node <c>power_watts</c> and <c>cpu_utilization</c>; per GPU
/// <c>temperature_celsius</c> and <c>power_watts</c> against their own history, and
/// <c>peer_temperature_celsius</c> and <c>peer_power_watts</c> against the GPU's siblings. The names are
/// the <c>metric</c> label of <c>gantry_server_anomaly_score</c> and the API's <c>metric</c>.
/// </summary>
internal static class ScoredSeries
{
    // Indexed by ScoredMetric.
    private static readonly (string Name, bool Gpu, string Label)[] All =
    [
        ("power_watts", false, "power"),
        ("cpu_utilization", false, "CPU utilisation"),
        ("temperature_celsius", true, "temperature"),
        ("power_watts", true, "power"),
        ("peer_temperature_celsius", true, "temperature vs peers"),
        ("peer_power_watts", true, "power vs peers"),
    ];

    // Indexed by AnomalyTerm; None has no name.
    private static readonly string?[] Terms = [null, "rareValue", "rareMix", "jump", "hourOfDay"];

    /// <summary>The metric's name, e.g. <c>peer_temperature_celsius</c>.</summary>
    public static string Name(ScoredMetric metric) => All[(int)metric].Name;

    /// <summary>True for a GPU's series, false for a node's.</summary>
    public static bool IsGpu(ScoredMetric metric) => All[(int)metric].Gpu;

    /// <summary>What a person reads for a metric (by its name, of a GPU or of a node): "temperature vs peers".</summary>
    public static string Label(string metric, bool gpu)
    {
        foreach (var (name, isGpu, label) in All)
        {
            if (isGpu == gpu && name == metric)
            {
                return label;
            }
        }

        return metric;
    }

    /// <summary>The detector's term as the API names it (camelCase); null for <see cref="AnomalyTerm.None"/>.</summary>
    public static string? TermName(AnomalyTerm term) => (int)term < Terms.Length ? Terms[(int)term] : null;
}
