using System.Globalization;

namespace Gantry.Core.Text;

/// <summary>Energy and CO2e as people read them (the CLI and the dashboard alike): J, Wh, kWh, MWh; g, kg, t.</summary>
public static class EnergyUnits
{
    /// <summary>Joules as J below 1 Wh, else Wh, kWh or MWh with up to two decimals.</summary>
    public static string Energy(double joules)
    {
        var wh = joules / 3600;
        return wh switch
        {
            < 1 => string.Create(CultureInfo.InvariantCulture, $"{joules:0} J"),
            < 1000 => string.Create(CultureInfo.InvariantCulture, $"{wh:0.#} Wh"),
            < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{wh / 1000:0.##} kWh"),
            _ => string.Create(CultureInfo.InvariantCulture, $"{wh / 1_000_000:0.##} MWh"),
        };
    }

    /// <summary>Grams of CO2e as g, kg or t.</summary>
    public static string Co2(double grams) => grams switch
    {
        < 1000 => string.Create(CultureInfo.InvariantCulture, $"{grams:0.#} g"),
        < 1_000_000 => string.Create(CultureInfo.InvariantCulture, $"{grams / 1000:0.##} kg"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{grams / 1_000_000:0.##} t"),
    };

    /// <summary>Watts, whole.</summary>
    public static string Watts(double watts) => string.Create(CultureInfo.InvariantCulture, $"{watts:0} W");
}
