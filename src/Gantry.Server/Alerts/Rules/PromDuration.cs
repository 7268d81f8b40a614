using System.Globalization;
using System.Text;

namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// Prometheus' duration syntax (<c>model.Duration</c>), as rule files write <c>for</c>, <c>keep_firing_for</c> and
/// <c>interval</c>: whole numbers with the units <c>y w d h m s ms</c>, largest first, each at most once
/// (<c>1h30m</c>, <c>90s</c>, <c>500ms</c>, <c>1w</c>), or a lone <c>0</c>. A year is 365 days, a week 7 days.
/// </summary>
internal static class PromDuration
{
    // Largest to smallest, as both the syntax and Prometheus' String() order them.
    private static readonly (string Unit, long Milliseconds)[] Units =
    [
        ("y", 365L * 24 * 60 * 60 * 1000),
        ("w", 7L * 24 * 60 * 60 * 1000),
        ("d", 24L * 60 * 60 * 1000),
        ("h", 60L * 60 * 1000),
        ("m", 60L * 1000),
        ("s", 1000L),
        ("ms", 1L),
    ];

    // Prometheus keeps durations as int64 nanoseconds; anything longer does not fit there.
    private const long MaxMilliseconds = long.MaxValue / 1_000_000;

    /// <summary>Parses <paramref name="text"/>; false with <paramref name="problem"/> set when it is not a Prometheus duration.</summary>
    public static bool TryParse(string text, out TimeSpan duration, out string? problem)
    {
        ArgumentNullException.ThrowIfNull(text);
        duration = TimeSpan.Zero;
        problem = null;
        if (text.Length == 0)
        {
            problem = "empty duration";
            return false;
        }

        if (text == "0")
        {
            return true;
        }

        long total = 0;
        var next = 0; // index into Units: each unit may follow only larger ones
        var i = 0;
        while (i < text.Length)
        {
            var digitsStart = i;
            while (i < text.Length && char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            if (i == digitsStart)
            {
                problem = $"invalid duration \"{text}\": expected a number at \"{text[i..]}\" (e.g. 30s, 5m, 1h30m)";
                return false;
            }

            var unitStart = i;
            while (i < text.Length && !char.IsAsciiDigit(text[i]))
            {
                i++;
            }

            var unit = text[unitStart..i];
            var index = Array.FindIndex(Units, u => u.Unit == unit);
            if (index < 0)
            {
                problem = unit.Length == 0
                    ? $"invalid duration \"{text}\": a number needs a unit (ms, s, m, h, d, w or y)"
                    : $"invalid duration \"{text}\": unknown unit \"{unit}\" (ms, s, m, h, d, w or y)";
                return false;
            }

            if (index < next)
            {
                problem = $"invalid duration \"{text}\": units go from largest to smallest, each once (e.g. 1h30m)";
                return false;
            }

            next = index + 1;
            if (!long.TryParse(text.AsSpan(digitsStart, unitStart - digitsStart), NumberStyles.None, CultureInfo.InvariantCulture, out var count)
                || count > (MaxMilliseconds - total) / Units[index].Milliseconds)
            {
                problem = $"duration \"{text}\" is out of range";
                return false;
            }

            total += count * Units[index].Milliseconds;
        }

        duration = TimeSpan.FromMilliseconds(total);
        return true;
    }

    /// <summary>Parses <paramref name="text"/>, throwing <see cref="FormatException"/> with the reason when it is not a duration.</summary>
    public static TimeSpan Parse(string text) =>
        TryParse(text, out var duration, out var problem) ? duration : throw new FormatException(problem);

    /// <summary>
    /// Writes <paramref name="duration"/> as Prometheus does (<c>model.Duration.String()</c>): <c>1h30m</c>,
    /// <c>1m30s</c>, <c>0s</c>; years and weeks only when they divide it exactly (<c>90d</c>, not <c>12w6d</c>).
    /// Below a millisecond is dropped: Prometheus has no smaller unit.
    /// </summary>
    public static string Format(TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(duration, TimeSpan.Zero);
        var ms = duration.Ticks / TimeSpan.TicksPerMillisecond;
        if (ms == 0)
        {
            return "0s";
        }

        var text = new StringBuilder();
        foreach (var (unit, size) in Units)
        {
            var exactOnly = unit is "y" or "w";
            if (exactOnly && ms % size != 0)
            {
                continue;
            }

            var count = ms / size;
            if (count > 0)
            {
                text.Append(count.ToString(CultureInfo.InvariantCulture)).Append(unit);
                ms -= count * size;
            }
        }

        return text.ToString();
    }
}
