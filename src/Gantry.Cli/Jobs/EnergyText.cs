using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Jobs;

/// <summary>How energy, power and CO2e read in the CLI's tables and views.</summary>
internal static class EnergyText
{
    /// <summary>
    /// Joules as J, Wh, kWh or MWh (three significant figures or so), <c>~</c> first when estimated, <c> (sim)</c> after
    /// when from simulated GPUs; <c>-</c> for none.
    /// </summary>
    public static string Energy(double? joules, bool? estimated = null, bool? simulated = null)
    {
        if (joules is not { } j)
        {
            return "-";
        }

        return (estimated == true ? "~" : "") + EnergyUnits.Energy(j) + (simulated == true ? " (sim)" : "");
    }

    /// <summary>Grams of CO2e as g, kg or t; <c>-</c> for none.</summary>
    public static string Co2(double? grams) => grams is { } g ? EnergyUnits.Co2(g) : "-";

    /// <summary>Watts, whole.</summary>
    public static string Watts(double watts) => EnergyUnits.Watts(watts);

    /// <summary>The show view's energy line: total, its parts, and whether it is an estimate or from simulated GPUs.</summary>
    public static string? Summary(double? total, double? gpu, double? cpu, bool? estimated, bool? simulated = null)
    {
        if (total is null)
        {
            return null;
        }

        var parts = $"GPU {Energy(gpu)}" + (cpu is null ? "" : $", CPU {Energy(cpu)}");
        return $"{Energy(total)} ({parts}){(estimated == true ? ", estimated" : "")}{(simulated == true ? ", simulated GPUs" : "")}";
    }

    /// <summary>The show view's GPU power line; null when nothing was measured.</summary>
    public static string? Power(JobInfo job) => (job.AverageGpuPowerWatts, job.PeakGpuPowerWatts) switch
    {
        (null, null) => null,
        ({ } average, { } peak) => $"average {Watts(average)}, peak {Watts(peak)}",
        ({ } average, null) => $"average {Watts(average)}",
        (null, { } peak) => $"peak {Watts(peak)}",
    };
}
