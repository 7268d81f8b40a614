using System.Globalization;

namespace Gantry.Core.Text;

/// <summary>How an alert's (or any sample's) value is shown to people, in the CLI and on the dashboard alike.</summary>
public static class SampleValues
{
    /// <summary>Up to three decimals between 0.001 and a million (<c>87.5</c>, <c>3</c>), else scientific (<c>1.2e+07</c>); <c>NaN</c>, <c>+Inf</c>, <c>-Inf</c>.</summary>
    public static string Format(double value)
    {
        if (double.IsNaN(value))
        {
            return "NaN";
        }

        if (double.IsInfinity(value))
        {
            return value > 0 ? "+Inf" : "-Inf";
        }

        var magnitude = Math.Abs(value);
        return magnitude == 0 || (magnitude >= 0.001 && magnitude < 1e6)
            ? value.ToString("0.###", CultureInfo.InvariantCulture)
            : value.ToString("0.##e+0", CultureInfo.InvariantCulture);
    }
}
