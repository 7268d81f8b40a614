using Gantry.Core.Protocol;

namespace Gantry.Server.Energy;

/// <summary>
/// One attempt's energy as the server keeps it: the agent's running totals (GPU, CPU share) as of
/// <see cref="MeasuredAt"/>, and the grams of CO2e counted so far, interval by interval as the
/// totals arrived. Immutable: each report makes a new one (<see cref="Advance"/>).
/// </summary>
internal sealed record AttemptEnergy
{
    public required double GpuJoules { get; init; }

    public double? CpuJoules { get; init; }

    public double? AverageGpuWatts { get; init; }

    public double? PeakGpuWatts { get; init; }

    /// <summary>Grams of CO2e over the intervals whose intensity was known; null while none was.</summary>
    public double? Co2Grams { get; init; }

    public required bool Estimated { get; init; }

    /// <summary>True when the attempt's GPUs are simulated: made-up figures, labelled as such wherever they are shown.</summary>
    public bool Simulated { get; init; }

    /// <summary>When the agent took these totals (its clock).</summary>
    public required DateTimeOffset MeasuredAt { get; init; }

    /// <summary>GPU plus CPU energy.</summary>
    public double TotalJoules => GpuJoules + (CpuJoules ?? 0);

    /// <summary>
    /// The figures after <paramref name="report"/>: its totals, and the CO2e of the energy added
    /// since <paramref name="previous"/> (or since metering began) at the intensity of the
    /// interval's middle (<paramref name="intensityAt"/>, grams per kWh; null when unknown). A
    /// report older than what is held changes nothing.
    /// </summary>
    public static AttemptEnergy Advance(AttemptEnergy? previous, AttemptEnergyReport report, Func<DateTimeOffset, double?> intensityAt)
    {
        ArgumentNullException.ThrowIfNull(report);
        ArgumentNullException.ThrowIfNull(intensityAt);
        if (previous is not null && report.MeasuredAt < previous.MeasuredAt)
        {
            return previous;
        }

        var from = previous?.MeasuredAt ?? report.Since;
        var total = Finite(report.GpuEnergyJoules) + Finite(report.CpuEnergyJoules ?? 0);
        var added = Math.Max(0, total - (previous?.TotalJoules ?? 0));
        var co2 = previous?.Co2Grams;
        if (added > 0 && intensityAt(from + ((report.MeasuredAt - from) / 2)) is { } gramsPerKwh && double.IsFinite(gramsPerKwh))
        {
            // 1 kWh = 3.6 MJ.
            co2 = (co2 ?? 0) + (added / 3.6e6 * gramsPerKwh);
        }

        return new AttemptEnergy
        {
            GpuJoules = Finite(report.GpuEnergyJoules),
            CpuJoules = report.CpuEnergyJoules is { } cpu ? Finite(cpu) : null,
            AverageGpuWatts = report.AverageGpuPowerWatts,
            PeakGpuWatts = report.PeakGpuPowerWatts is { } peak && previous?.PeakGpuWatts is { } before ? Math.Max(peak, before) : report.PeakGpuPowerWatts ?? previous?.PeakGpuWatts,
            Co2Grams = co2,
            Estimated = report.Estimated || previous?.Estimated == true,
            Simulated = report.Simulated || previous?.Simulated == true,
            MeasuredAt = report.MeasuredAt,
        };
    }

    private static double Finite(double value) => double.IsFinite(value) && value > 0 ? value : 0;
}
