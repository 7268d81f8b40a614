using System.Globalization;
using System.Text;

namespace Gantry.Core.Text;

/// <summary>
/// Durations as people type them on command lines and in config files: <c>500ms</c>, <c>30s</c>,
/// <c>5m</c>, <c>1h30m</c>, <c>2d</c>, <c>1.5h</c>, or a plain number of seconds (<c>90</c>).
/// Units are <c>ms</c>, <c>s</c>, <c>m</c>, <c>h</c> and <c>d</c>, lower case, in any combination.
/// </summary>
public static class Durations
{
    /// <summary>Parses a non-negative duration; false for an empty, negative, malformed or too large one.</summary>
    public static bool TryParse(string? text, out TimeSpan value)
    {
        value = TimeSpan.Zero;
        if (text is null)
        {
            return false;
        }

        var s = text.AsSpan().Trim();
        if (s.IsEmpty)
        {
            return false;
        }

        // A plain number is seconds, as in many config files ("timeout": 30).
        if (IsPlainNumber(s))
        {
            return double.TryParse(s, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var seconds)
                && TryFromTicks(seconds * TimeSpan.TicksPerSecond, out value);
        }

        double ticks = 0;
        var i = 0;
        while (i < s.Length)
        {
            var start = i;
            while (i < s.Length && (char.IsAsciiDigit(s[i]) || s[i] == '.'))
            {
                i++;
            }

            if (start == i || !double.TryParse(s[start..i], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
            {
                return false;
            }

            var unitStart = i;
            while (i < s.Length && char.IsAsciiLetterLower(s[i]))
            {
                i++;
            }

            long unit;
            switch (s[unitStart..i])
            {
                case "ms": unit = TimeSpan.TicksPerMillisecond; break;
                case "s": unit = TimeSpan.TicksPerSecond; break;
                case "m": unit = TimeSpan.TicksPerMinute; break;
                case "h": unit = TimeSpan.TicksPerHour; break;
                case "d": unit = TimeSpan.TicksPerDay; break;
                default: return false;
            }

            ticks += number * unit;
        }

        return TryFromTicks(ticks, out value);
    }

    /// <summary>
    /// Writes a duration exactly, largest unit first, the way <see cref="TryParse"/> reads it:
    /// <c>1h30m</c>, <c>2d3h</c>, <c>1s500ms</c>, <c>0s</c>. A fraction of a millisecond is kept as a
    /// decimal (<c>0.5ms</c>); a negative duration gets a leading minus sign (which <see cref="TryParse"/> refuses).
    /// </summary>
    public static string Format(TimeSpan value)
    {
        if (value == TimeSpan.Zero)
        {
            return "0s";
        }

        var builder = new StringBuilder(16);
        // TimeSpan.MinValue has no positive counterpart, so work on the magnitude as an unsigned number.
        var ticks = value.Ticks < 0 ? (ulong)-(value.Ticks + 1) + 1 : (ulong)value.Ticks;
        if (value.Ticks < 0)
        {
            builder.Append('-');
        }

        Append(builder, ref ticks, TimeSpan.TicksPerDay, "d");
        Append(builder, ref ticks, TimeSpan.TicksPerHour, "h");
        Append(builder, ref ticks, TimeSpan.TicksPerMinute, "m");
        Append(builder, ref ticks, TimeSpan.TicksPerSecond, "s");
        if (ticks > 0)
        {
            var milliseconds = (decimal)ticks / TimeSpan.TicksPerMillisecond;
            builder.Append(milliseconds.ToString(CultureInfo.InvariantCulture)).Append("ms");
        }

        return builder.ToString();
    }

    /// <summary>
    /// Writes a duration for people, rounded down to its two largest units: <c>3d4h</c>, <c>2h13m</c>,
    /// <c>5m3s</c>, <c>42s</c>, <c>850ms</c>. Negative durations (clock skew) read as <c>0s</c>.
    /// </summary>
    public static string FormatApproximate(TimeSpan value)
    {
        if (value <= TimeSpan.Zero)
        {
            return "0s";
        }

        if (value < TimeSpan.FromSeconds(1))
        {
            return ((int)value.TotalMilliseconds).ToString(CultureInfo.InvariantCulture) + "ms";
        }

        var (first, firstUnit, second, secondUnit) = value switch
        {
            { TotalDays: >= 1 } => (value.Days, "d", value.Hours, "h"),
            { TotalHours: >= 1 } => (value.Hours, "h", value.Minutes, "m"),
            { TotalMinutes: >= 1 } => (value.Minutes, "m", value.Seconds, "s"),
            _ => (value.Seconds, "s", 0, ""),
        };
        var text = first.ToString(CultureInfo.InvariantCulture) + firstUnit;
        return second > 0 ? text + second.ToString(CultureInfo.InvariantCulture) + secondUnit : text;
    }

    private static void Append(StringBuilder builder, ref ulong ticks, long unit, string suffix)
    {
        var count = ticks / (ulong)unit;
        if (count > 0)
        {
            builder.Append(count.ToString(CultureInfo.InvariantCulture)).Append(suffix);
            ticks -= count * (ulong)unit;
        }
    }

    private static bool IsPlainNumber(ReadOnlySpan<char> s)
    {
        foreach (var c in s)
        {
            if (!char.IsAsciiDigit(c) && c != '.')
            {
                return false;
            }
        }

        return true;
    }

    private static bool TryFromTicks(double ticks, out TimeSpan value)
    {
        // Doubles lose whole ticks past 2^53; rounding keeps 1.5h and 0.1s exact.
        if (double.IsNaN(ticks) || ticks < 0 || ticks >= TimeSpan.MaxValue.Ticks)
        {
            value = TimeSpan.Zero;
            return false;
        }

        value = TimeSpan.FromTicks((long)Math.Round(ticks));
        return true;
    }
}
