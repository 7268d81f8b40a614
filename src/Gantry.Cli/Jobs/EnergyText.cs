using System.Globalization;
using Gantry.Core.Protocol;

namespace Gantry.Cli.Jobs;

/// <summary>How energy, power and CO2e read in the CLI's tables and views.</summary>
internal static class EnergyText
{
    /// <summary>Joules as J, Wh, kWh or MWh (three significant figures or so), <c>~</c> first when estimated; <c>-</c> for none.</summary>
    public static string Energy(double? joules, bool? estimated = null)
    {
        if (joules is not { } j)
        {
            return "-";
        }

        var prefix = estimated == true ? "~" : "";
        var wh = j / 3600;
        return prefix + (wh switch
        {
            < 1 => string.Create(CultureInfo.InvariantCulture, $"{j:0} J"),
            < 1000 => string.Create(CultureInfo.InvariantCulture, $"{wh:0.#} Wh"),
            < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{wh / 1000:0.##} kWh"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{wh / 1_000_000:0.##} MWh"),
        });
    }

    /// <summary>Grams of CO2e as g, kg or t; <c>-</c> for none.</summary>
    public static string Co2(double? grams) => grams switch
    {
        null => "-",
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{grams:0.#} g"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{grams / 1000:0.##} kg"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{grams / 1_000_000:0.##} t"),
    };

    /// <summary>Watts, whole.</summary>
    public static string Watts(double watts) => string.Create(CultureInfo.InvariantCulture, $"{watts:0} W");

    /// <summary>The show view's energy line: total, its parts, and whether it is an estimate.</summary>
    public static string? Summary(double? total, double? gpu, double? cpu, bool? estimated)
    {
        if (total is null)
        {
            return null;
        }

        var parts = $"GPU {Energy(gpu)}" + (cpu is null ? "" : $", CPU {Energy(cpu)}");
        return $"{Energy(total)} ({parts}){(estimated == true ? ", estimated" : "")}";
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
