using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Server.Dashboard.Views;

/// <summary>How the job page shows energy, GPU power and CO2e.</summary>
internal static class EnergyShow
{
    /// <summary>"1.2 kWh (GPU 1.1 kWh, CPU 100 Wh), estimated, simulated GPUs"; the dash when not measured.</summary>
    public static string Energy(double? total, double? gpu, double? cpu, bool? estimated, bool? simulated = null)
    {
        if (total is not { } t)
        {
            return Show.Missing;
        }

        var parts = "GPU " + EnergyUnits.Energy(gpu ?? 0) + (cpu is { } c ? ", CPU " + EnergyUnits.Energy(c) : "");
        return $"{EnergyUnits.Energy(t)} ({parts}){(estimated == true ? ", estimated" : "")}{(simulated == true ? ", simulated GPUs" : "")}";
    }

    /// <summary>An attempt's total, <c>~</c> first when estimated, <c>(sim)</c> after when from simulated GPUs; the dash when not measured.</summary>
    public static string Total(AttemptInfo attempt) =>
        attempt.EnergyJoules is { } j ? (attempt.EnergyEstimated == true ? "~" : "") + EnergyUnits.Energy(j) + (attempt.EnergySimulated == true ? " (sim)" : "") : Show.Missing;

    /// <summary>"average 300 W, peak 350 W"; the dash when not measured.</summary>
    public static string Power(JobInfo job) => (job.AverageGpuPowerWatts, job.PeakGpuPowerWatts) switch
    {
        ({ } average, { } peak) => $"average {EnergyUnits.Watts(average)}, peak {EnergyUnits.Watts(peak)}",
        ({ } average, null) => $"average {EnergyUnits.Watts(average)}",
        (null, { } peak) => $"peak {EnergyUnits.Watts(peak)}",
        _ => Show.Missing,
    };

    /// <summary>Grams of CO2e; the dash without a carbon source.</summary>
    public static string Co2(double? grams) => grams is { } g ? EnergyUnits.Co2(g) : Show.Missing;
}
