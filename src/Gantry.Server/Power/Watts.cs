using System.Globalization;

namespace Gantry.Server.Power;

/// <summary>Power figures as people write them: <c>20kW</c>, <c>350 W</c>, <c>1.5MW</c>, or plain watts.</summary>
internal static class Watts
{
    /// <summary>Reads a positive power in watts; units W, kW or MW (any case), none for watts.</summary>
    /// <exception cref="FormatException">The text is not such a figure.</exception>
    public static double Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var (number, scale) = trimmed.ToUpperInvariant() switch
        {
            var t when t.EndsWith("MW", StringComparison.Ordinal) => (trimmed[..^2], 1e6),
            var t when t.EndsWith("KW", StringComparison.Ordinal) => (trimmed[..^2], 1e3),
            var t when t.EndsWith('W') => (trimmed[..^1], 1.0),
            _ => (trimmed, 1.0),
        };

        if (!double.TryParse(number.Trim(), NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || !(value > 0) || double.IsInfinity(value * scale))
        {
            throw new FormatException($"expected a positive power such as 20kW, 350W or 1.5MW, got '{text}'");
        }

        return value * scale;
    }
}
