using System.Globalization;

namespace Gantry.Core.Text;

/// <summary>Byte counts as people write and read them, in binary units.</summary>
public static class Sizes
{
    /// <summary>
    /// Parses a size in bytes: <c>48MiB</c>, <c>48m</c>, <c>1g</c>, <c>65536</c>; units are binary
    /// (k, m, g with or without <c>i</c> and <c>b</c>: <c>64MB</c> is 64 MiB). <c>0</c>, <c>off</c> and
    /// <c>none</c> give 0.
    /// </summary>
    /// <exception cref="FormatException">Not a size, or too large for a <see cref="long"/>.</exception>
    public static long Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        if (s.Equals("off", StringComparison.OrdinalIgnoreCase) || s.Equals("none", StringComparison.OrdinalIgnoreCase))
        {
            return 0;
        }

        var digits = 0;
        while (digits < s.Length && char.IsAsciiDigit(s[digits]))
        {
            digits++;
        }

        var shift = s[digits..].Trim().ToUpperInvariant() switch
        {
            "" or "B" => 0,
            "K" or "KB" or "KIB" => 10,
            "M" or "MB" or "MIB" => 20,
            "G" or "GB" or "GIB" => 30,
            _ => -1,
        };
        if (digits == 0 || shift < 0 || !long.TryParse(s.AsSpan(0, digits), NumberStyles.None, CultureInfo.InvariantCulture, out var number) || number > long.MaxValue >> shift)
        {
            throw new FormatException("expected a size such as 64MiB, 512m or 1g (binary units), or off");
        }

        return number << shift;
    }

    /// <summary>A byte count for messages: <c>80 GiB</c>, <c>1.5 GiB</c>, <c>512 MiB</c>, <c>256 KiB</c>, <c>1000 bytes</c>.</summary>
    public static string Format(long bytes) => bytes switch
    {
        >= 1L << 30 => (bytes / (double)(1L << 30)).ToString("0.#", CultureInfo.InvariantCulture) + " GiB",
        >= 1L << 20 => (bytes / (double)(1L << 20)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
        >= 1L << 10 => (bytes / (double)(1L << 10)).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        _ => bytes.ToString(CultureInfo.InvariantCulture) + " bytes",
    };
}
