using System.Globalization;

namespace Gantry.Core.Carbon;

/// <summary>
/// Reads a carbon-intensity trace in the format of the traces that ship with the project
/// (<c>shared/data/carbon/*.csv</c>): a header <c>Time,Carbon Intensity</c>, then one row per step,
/// a UTC timestamp <c>YYYY-MM-DD HH:MM:SS</c> (ISO 8601 with a <c>T</c> or an offset is also read)
/// and grams of CO2e per kWh. Used by <c>--carbon-source file:PATH</c> and <c>gantry carbon simulate</c>.
/// </summary>
public static class CarbonTraceCsv
{
    /// <summary>Reads a trace file; errors name the file and the line.</summary>
    public static CarbonForecast ReadFile(string path, string location, DateTimeOffset readAt)
    {
        ArgumentNullException.ThrowIfNull(path);
        using var reader = new StreamReader(path);
        try
        {
            return Read(reader, location, readAt);
        }
        catch (FormatException e)
        {
            throw new FormatException($"{path}: {e.Message}", e);
        }
    }

    /// <summary>
    /// Reads a trace. The step (the forecast's resolution, how long a row holds when the next one is
    /// further away) is the longest gap between rows that makes up at least 5 % of them: traces mix
    /// steps (Great Britain's has stretches of 15 minutes among its 30), and a rare longer gap is a gap
    /// in the data, not a step. Rows must be in increasing time order. Blank lines are skipped; a first line that is not a row is
    /// taken as the header.
    /// </summary>
    /// <exception cref="FormatException">A row that cannot be read, rows out of order, or no rows; the message names the line.</exception>
    public static CarbonForecast Read(TextReader reader, string location, DateTimeOffset generatedAt)
    {
        ArgumentNullException.ThrowIfNull(reader);
        ArgumentNullException.ThrowIfNull(location);
        var points = new List<IntensityPoint>();
        var gaps = new Dictionary<TimeSpan, int>();
        var lineNumber = 0;
        var sawContent = false;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
            {
                continue;
            }

            var first = !sawContent;
            sawContent = true;
            var comma = line.IndexOf(',');
            var timeText = comma < 0 ? line : line[..comma];
            var valueText = comma < 0 ? "" : line[(comma + 1)..];
            if (!TryParseTime(timeText.Trim(), out var time))
            {
                if (first)
                {
                    continue; // the header
                }

                throw new FormatException($"line {lineNumber}: '{timeText.Trim()}' is not a time (expected YYYY-MM-DD HH:MM:SS, UTC).");
            }

            if (!double.TryParse(valueText.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var grams)
                || !double.IsFinite(grams) || grams < 0)
            {
                throw new FormatException($"line {lineNumber}: '{valueText.Trim()}' is not a carbon intensity (grams of CO2e per kWh, zero or more).");
            }

            if (points.Count > 0)
            {
                var gap = time - points[^1].Time;
                if (gap <= TimeSpan.Zero)
                {
                    throw new FormatException($"line {lineNumber}: {time:yyyy-MM-dd HH:mm:ss} is not after the row before it; rows must be in increasing time order.");
                }

                gaps[gap] = gaps.GetValueOrDefault(gap) + 1;
            }

            points.Add(new IntensityPoint(time, grams));
        }

        if (points.Count == 0)
        {
            throw new FormatException("the trace has no rows (expected a header 'Time,Carbon Intensity' and one row per step).");
        }

        return new CarbonForecast(location, points, StepOf(gaps, points.Count - 1), generatedAt);
    }

    private static TimeSpan StepOf(Dictionary<TimeSpan, int> gaps, int total)
    {
        var step = TimeSpan.Zero;
        var mostCommon = (Gap: TimeSpan.FromHours(1), Count: 0);
        foreach (var (gap, count) in gaps)
        {
            if (count * 20 >= total && gap > step)
            {
                step = gap;
            }

            if (count > mostCommon.Count || (count == mostCommon.Count && gap < mostCommon.Gap))
            {
                mostCommon = (gap, count);
            }
        }

        // No step that common (a short, irregular trace): the most common one; one row alone: an hour.
        return step > TimeSpan.Zero ? step : mostCommon.Gap;
    }

    private static bool TryParseTime(string text, out DateTimeOffset time) =>
        DateTimeOffset.TryParseExact(
            text,
            ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-ddTHH:mm:ssZ", "yyyy-MM-ddTHH:mm:ssK", "yyyy-MM-dd HH:mm:ssK"],
            CultureInfo.InvariantCulture,
            DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal,
            out time);
}
