using System.Globalization;

namespace Gantry.Server.Dashboard.Charts;

/// <summary>
/// Formats measurements for tables, tooltips and chart axes: invariant culture, a space before the unit
/// symbol, about three significant digits with trailing zeros dropped ("37 %", "45 °C", "120 W",
/// "1.5 kW", "11.2 GiB", "1.41 GHz"). A value that is NaN or infinite prints as <see cref="Missing"/>.
/// </summary>
internal static class Units
{
    /// <summary>What a missing reading prints as (an en dash).</summary>
    public const string Missing = "–";

    private const int MaxDecimals = 6;

    private static readonly string[] SiPrefixes = ["", "k", "M", "G", "T", "P"];
    private static readonly string[] BinaryPrefixes = ["", "Ki", "Mi", "Gi", "Ti", "Pi"];

    // "0", "0.#", "0.##", …: at most N decimals, trailing zeros dropped.
    private static readonly string[] DecimalFormats = ["0", "0.#", "0.##", "0.###", "0.####", "0.#####", "0.######"];

    /// <summary>
    /// One value with its unit: percent (0 to 100 scale) and under 10 keeps one decimal ("4.2 %", "37 %");
    /// Celsius has none ("45 °C"); watts and hertz take SI prefixes (k, M, G, …), bytes binary ones
    /// (KiB, MiB, GiB, …), a plain number k/M/G/T with no space ("12.5k"); a prefixed value keeps three
    /// significant digits ("1.41 GHz", "11.2 GiB", "120 W") and moves to the next prefix at 1000.
    /// </summary>
    public static string Format(double value, ChartUnit unit)
    {
        if (!double.IsFinite(value))
        {
            return Missing;
        }

        var prefix = PrefixFor(unit, Math.Abs(value));
        var scaled = value / Divisor(unit, prefix);
        var decimals = DecimalsFor(unit, prefix, Math.Abs(scaled));
        var rounded = Math.Round(scaled, decimals, MidpointRounding.AwayFromZero);

        // 999.7 W rounds to "1000 W": say "1 kW" instead.
        if (Math.Abs(rounded) >= 1000 && prefix < PrefixCount(unit) - 1)
        {
            prefix++;
            scaled = value / Divisor(unit, prefix);
            decimals = DecimalsFor(unit, prefix, Math.Abs(scaled));
            rounded = Math.Round(scaled, decimals, MidpointRounding.AwayFromZero);
        }

        return FormatScaled(rounded, unit, prefix, decimals);
    }

    /// <summary>
    /// Energy in watt-hours with SI prefixes, the unit electricity is metered and billed in:
    /// 45 000 J is "12.5 Wh", 45 MJ is "12.5 kWh", then "MWh", "GWh" (three significant digits).
    /// </summary>
    public static string FormatEnergy(double joules)
    {
        if (!double.IsFinite(joules))
        {
            return Missing;
        }

        // Watt-hours share the rules of watts; only the symbol differs.
        var watts = Format(joules / 3600, ChartUnit.Watts);
        return watts == Missing ? Missing : watts + "h";
    }

    /// <summary>
    /// A duration in its two largest units, truncated (never rounded up): "850 ms", "45 s", "3 m 20 s", "3 m",
    /// "2 h 5 m", "3 d 4 h". A negative duration gets a leading "-".
    /// </summary>
    public static string FormatDuration(TimeSpan duration)
    {
        if (duration < TimeSpan.Zero)
        {
            return "-" + FormatDuration(duration == TimeSpan.MinValue ? TimeSpan.MaxValue : duration.Negate());
        }

        var i = CultureInfo.InvariantCulture;
        if (duration < TimeSpan.FromSeconds(1))
        {
            return duration == TimeSpan.Zero ? "0 s" : string.Create(i, $"{(int)duration.TotalMilliseconds} ms");
        }

        if (duration < TimeSpan.FromMinutes(1))
        {
            return string.Create(i, $"{duration.Seconds} s");
        }

        if (duration < TimeSpan.FromHours(1))
        {
            return duration.Seconds == 0 ? string.Create(i, $"{duration.Minutes} m") : string.Create(i, $"{duration.Minutes} m {duration.Seconds} s");
        }

        if (duration < TimeSpan.FromDays(1))
        {
            return duration.Minutes == 0 ? string.Create(i, $"{duration.Hours} h") : string.Create(i, $"{duration.Hours} h {duration.Minutes} m");
        }

        return duration.Hours == 0 ? string.Create(i, $"{duration.Days} d") : string.Create(i, $"{duration.Days} d {duration.Hours} h");
    }

    /// <summary>
    /// The prefix (0 = none, 1 = k or Ki, …) that keeps <paramref name="magnitude"/> under 1000 in
    /// <paramref name="unit"/>; always 0 for percent and Celsius.
    /// </summary>
    internal static int PrefixFor(ChartUnit unit, double magnitude)
    {
        var count = PrefixCount(unit);
        var step = unit == ChartUnit.Bytes ? 1024.0 : 1000.0;
        var prefix = 0;
        while (prefix < count - 1 && magnitude >= 1000 * Math.Pow(step, prefix))
        {
            prefix++;
        }

        return prefix;
    }

    /// <summary>How many prefixes <paramref name="unit"/> has (1 when it takes none).</summary>
    internal static int PrefixCount(ChartUnit unit) => unit switch
    {
        ChartUnit.Percent or ChartUnit.Celsius => 1,
        ChartUnit.Plain => 5,
        ChartUnit.Watts or ChartUnit.Hertz => SiPrefixes.Length,
        ChartUnit.Bytes => BinaryPrefixes.Length,
        _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, "not a chart unit"),
    };

    /// <summary>What a value in base units is divided by to be shown with <paramref name="prefix"/>.</summary>
    internal static double Divisor(ChartUnit unit, int prefix) => Math.Pow(unit == ChartUnit.Bytes ? 1024.0 : 1000.0, prefix);

    /// <summary>
    /// An already scaled value (see <see cref="Divisor"/>) with at most <paramref name="decimals"/> decimals
    /// (trailing zeros dropped) and the unit's symbol: the axis labels' formatter.
    /// </summary>
    internal static string FormatScaled(double scaled, ChartUnit unit, int prefix, int decimals)
    {
        decimals = Math.Clamp(decimals, 0, MaxDecimals);
        var rounded = Math.Round(scaled, decimals, MidpointRounding.AwayFromZero);
        if (rounded == 0)
        {
            // No "-0".
            rounded = 0;
        }

        var number = rounded.ToString(DecimalFormats[decimals], CultureInfo.InvariantCulture);
        return unit switch
        {
            ChartUnit.Percent => number + " %",
            ChartUnit.Celsius => number + " °C",
            ChartUnit.Watts => number + " " + SiPrefixes[prefix] + "W",
            ChartUnit.Hertz => number + " " + SiPrefixes[prefix] + "Hz",
            ChartUnit.Bytes => number + " " + BinaryPrefixes[prefix] + "B",
            ChartUnit.Plain => number + SiPrefixes[prefix],
            _ => throw new ArgumentOutOfRangeException(nameof(unit), unit, "not a chart unit"),
        };
    }

    /// <summary>The decimals a tick spacing of <paramref name="step"/> needs (0.5 needs 1, 0.05 needs 2).</summary>
    internal static int DecimalsForStep(double step) =>
        step >= 1 || !(step > 0) ? 0 : Math.Min(MaxDecimals, (int)Math.Ceiling(-Math.Log10(step) - 1e-9));

    private static int DecimalsFor(ChartUnit unit, int prefix, double magnitude) => unit switch
    {
        ChartUnit.Celsius => 0,
        ChartUnit.Percent => magnitude >= 10 ? 0 : 1,
        ChartUnit.Bytes when prefix == 0 => 0,
        _ => magnitude >= 100 ? 0 : magnitude >= 10 ? 1 : 2,
    };
}
