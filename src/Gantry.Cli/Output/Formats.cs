using System.Globalization;
using System.Text;
using Gantry.Core.Text;

namespace Gantry.Cli.Output;

/// <summary>How values read in tables and <c>show</c> views.</summary>
internal static class Formats
{
    private static readonly System.Buffers.SearchValues<char> ShellSpecial = System.Buffers.SearchValues.Create(" \t\n'\"\\$`*?;&|<>()#~");

    /// <summary>Binary sizes, short: <c>512M</c>, <c>7.5G</c>, <c>80G</c>, <c>2.0T</c>.</summary>
    public static string Bytes(long bytes)
    {
        if (bytes < 1024)
        {
            return bytes.ToString(CultureInfo.InvariantCulture) + "B";
        }

        ReadOnlySpan<char> units = ['K', 'M', 'G', 'T', 'P', 'E'];
        double value = bytes;
        var unit = -1;
        while (value >= 1024 && unit < units.Length - 1)
        {
            value /= 1024;
            unit++;
        }

        // One decimal below 10 (7.5G), none above (80G); never "10.0" or "1024".
        var text = value < 9.95
            ? value.ToString("0.0", CultureInfo.InvariantCulture)
            : Math.Round(value).ToString("0", CultureInfo.InvariantCulture);
        return text + units[unit];
    }

    /// <summary><c>3s ago</c>, <c>2h13m ago</c>.</summary>
    public static string Ago(DateTimeOffset time, DateTimeOffset now) => Durations.FormatApproximate(now - time) + " ago";

    /// <summary>
    /// An instant in UTC with its age, or how far off it is when it is a second or more ahead (a
    /// deadline, a planned start): <c>2026-01-01 12:00:03Z (3m ago)</c>, <c>2026-01-01 18:00:00Z (in 6h)</c>.
    /// </summary>
    public static string Instant(DateTimeOffset? time, DateTimeOffset now) =>
        time is { } t
            ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture)
              + (t - now >= TimeSpan.FromSeconds(1) ? " (in " + Durations.FormatApproximate(t - now) + ")" : " (" + Ago(t, now) + ")")
            : "-";

    /// <summary>Labels as <c>k=v,k2=v2</c>, sorted by key.</summary>
    public static string Labels(IReadOnlyDictionary<string, string> labels)
    {
        if (labels.Count == 0)
        {
            return "";
        }

        var keys = new string[labels.Count];
        var i = 0;
        foreach (var key in labels.Keys)
        {
            keys[i++] = key;
        }

        Array.Sort(keys, StringComparer.Ordinal);
        var builder = new StringBuilder();
        foreach (var key in keys)
        {
            if (builder.Length > 0)
            {
                builder.Append(',');
            }

            builder.Append(key).Append('=').Append(labels[key]);
        }

        return builder.ToString();
    }

    /// <summary>A command line as a shell would need it typed: arguments with spaces or quotes are single-quoted.</summary>
    public static string CommandLine(IReadOnlyList<string> arguments)
    {
        var builder = new StringBuilder();
        foreach (var argument in arguments)
        {
            if (builder.Length > 0)
            {
                builder.Append(' ');
            }

            if (argument.Length > 0 && argument.AsSpan().IndexOfAny(ShellSpecial) < 0)
            {
                builder.Append(argument);
            }
            else
            {
                builder.Append('\'').Append(argument.Replace("'", "'\\''", StringComparison.Ordinal)).Append('\'');
            }
        }

        return builder.ToString();
    }

    /// <summary>Numbers in the invariant culture.</summary>
    public static string Number(long value) => value.ToString(CultureInfo.InvariantCulture);

    /// <summary>A figure in the invariant culture with at most one decimal (<c>312.5</c>, <c>300</c>).</summary>
    public static string Number(double value) => value.ToString("0.#", CultureInfo.InvariantCulture);
}
