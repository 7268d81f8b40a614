using System.Globalization;
using System.Runtime.CompilerServices;

namespace Gantry.Cli.Anomalies;

/// <summary>A row of a series file that cannot be read, with its line number (1 is the header).</summary>
internal sealed class SeriesFormatException(int line, string message) : Exception(message)
{
    /// <summary>The line of the file, from 1.</summary>
    public int Line { get; } = line;
}

/// <summary>One row of a series file: its timestamp and value as written, and as parsed.</summary>
internal readonly record struct SeriesRow(string TimestampText, string ValueText, DateTimeOffset Timestamp, double Value);

/// <summary>
/// Series files as the Numenta Anomaly Benchmark writes them: a <c>timestamp,value</c> header, then one
/// row per sample, oldest first, timestamps like <c>2014-04-10 00:00:00</c> (no zone: UTC) or ISO 8601,
/// values decimal numbers. Rows are read one at a time, so a file of any length takes constant memory.
/// </summary>
internal static class SeriesCsv
{
    /// <summary>The header a series file starts with.</summary>
    public const string Header = "timestamp,value";

    private static readonly string[] TimestampFormats =
    [
        "yyyy-MM-dd HH:mm:ss",
        "yyyy-MM-dd HH:mm:ss.FFFFFFF",
        "yyyy-MM-dd'T'HH:mm:ss.FFFFFFFK",
    ];

    /// <summary>The rows of <paramref name="reader"/>; blank lines are skipped. Throws <see cref="SeriesFormatException"/> at the first bad line.</summary>
    public static async IAsyncEnumerable<SeriesRow> ReadAsync(TextReader reader, [EnumeratorCancellation] CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var header = await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false);
        if (header is null)
        {
            throw new SeriesFormatException(1, $"the file is empty; expected the header '{Header}'");
        }

        if (!string.Equals(header.Trim(), Header, StringComparison.Ordinal))
        {
            throw new SeriesFormatException(1, $"expected the header '{Header}', got '{Shorten(header)}'");
        }

        var line = 1;
        while (await reader.ReadLineAsync(cancellationToken).ConfigureAwait(false) is { } text)
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }

            yield return Parse(text, line);
        }
    }

    /// <summary>Parses one data row; <paramref name="line"/> is for the message.</summary>
    public static SeriesRow Parse(string text, int line)
    {
        ArgumentNullException.ThrowIfNull(text);
        var comma = text.IndexOf(',', StringComparison.Ordinal);
        if (comma < 0 || text.IndexOf(',', comma + 1) >= 0)
        {
            throw new SeriesFormatException(line, $"expected two fields, timestamp,value; got '{Shorten(text)}'");
        }

        var timestampText = text[..comma].Trim();
        var valueText = text[(comma + 1)..].Trim();
        if (!DateTimeOffset.TryParseExact(timestampText, TimestampFormats, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal | DateTimeStyles.AdjustToUniversal, out var timestamp))
        {
            throw new SeriesFormatException(line, $"expected a timestamp such as 2014-04-10 00:00:00, got '{Shorten(timestampText)}'");
        }

        if (!double.TryParse(valueText, NumberStyles.Float, CultureInfo.InvariantCulture, out var value) || !double.IsFinite(value))
        {
            throw new SeriesFormatException(line, $"expected a finite decimal number, got '{Shorten(valueText)}'");
        }

        return new SeriesRow(timestampText, valueText, timestamp, value);
    }

    /// <summary>An output row: <c>timestamp,value,anomaly_score</c>, the first two as they were read.</summary>
    public static string FormatScored(SeriesRow row, double score) =>
        string.Create(CultureInfo.InvariantCulture, $"{row.TimestampText},{row.ValueText},{score:R}");

    private static string Shorten(string text) => text.Length <= 80 ? text : text[..77] + "...";
}
