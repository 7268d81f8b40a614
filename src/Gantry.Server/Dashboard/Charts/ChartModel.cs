using Gantry.Core.Protocol;

namespace Gantry.Server.Dashboard.Charts;

/// <summary>One point of a chart line.</summary>
/// <param name="At">Start of the bucket (or the sample's time, for raw data).</param>
/// <param name="Value">The value drawn as the line (the bucket's mean for rollups). NaN or infinity counts as missing.</param>
/// <param name="Min">Smallest sample in the bucket; equal to <paramref name="Value"/> for raw data.</param>
/// <param name="Max">Largest sample in the bucket; equal to <paramref name="Value"/> for raw data.</param>
internal readonly record struct ChartPoint(DateTimeOffset At, double Value, double Min, double Max)
{
    /// <summary>A raw sample: min and max equal the value.</summary>
    public static ChartPoint Raw(DateTimeOffset at, double value) => new(at, value, value, value);

    /// <summary>A telemetry store point, its value, min and max multiplied by <paramref name="scale"/> (100 turns a 0-to-1 utilization into percent).</summary>
    public static ChartPoint FromTelemetry(TelemetryPoint point, double scale = 1)
    {
        ArgumentNullException.ThrowIfNull(point);
        return new ChartPoint(point.T, point.Value * scale, point.Min * scale, point.Max * scale);
    }
}

/// <summary>One line of a chart (one GPU, say).</summary>
/// <param name="Label">Legend text; escaped when drawn, so node data is safe here.</param>
/// <param name="Points">The points in time order (oldest first).</param>
internal sealed record ChartSeries(string Label, IReadOnlyList<ChartPoint> Points)
{
    /// <summary>A series from telemetry store points, each multiplied by <paramref name="scale"/>.</summary>
    public static ChartSeries FromTelemetry(string label, IReadOnlyList<TelemetryPoint> points, double scale = 1)
    {
        ArgumentNullException.ThrowIfNull(points);
        var converted = new ChartPoint[points.Count];
        for (var i = 0; i < converted.Length; i++)
        {
            converted[i] = ChartPoint.FromTelemetry(points[i], scale);
        }

        return new ChartSeries(label, converted);
    }
}

/// <summary>What <see cref="SvgChart.Render"/> draws: a time range, a step, a unit and the series.</summary>
internal sealed record ChartSpec
{
    /// <summary>Default width of the view box, in user units (the SVG scales to its CSS width).</summary>
    public const int DefaultWidth = 640;

    /// <summary>Default height of the view box, in user units.</summary>
    public const int DefaultHeight = 220;

    /// <summary>
    /// The chart's kind, written as <c>data-chart</c> ("utilization", "temperature", "power", "memory") and
    /// used in the ids of its <c>&lt;title&gt;</c> and <c>&lt;desc&gt;</c>, so it must be unique on a page.
    /// </summary>
    public required string Id { get; init; }

    /// <summary>Heading drawn at the top left and read by screen readers.</summary>
    public required string Title { get; init; }

    /// <summary>Unit of the values; formats the Y axis and the description.</summary>
    public required ChartUnit Unit { get; init; }

    /// <summary>Left end of the time axis.</summary>
    public required DateTimeOffset Start { get; init; }

    /// <summary>Right end of the time axis; after <see cref="Start"/>.</summary>
    public required DateTimeOffset End { get; init; }

    /// <summary>Spacing of the points; a pause of more than twice the step breaks the line.</summary>
    public required TimeSpan Step { get; init; }

    /// <summary>The lines, drawn in order with the colours <c>--series-0</c> to <c>--series-7</c> (index mod 8).</summary>
    public required IReadOnlyList<ChartSeries> Series { get; init; }

    /// <summary>Width of the view box; at least 200.</summary>
    public int Width { get; init; } = DefaultWidth;

    /// <summary>Height of the view box; at least 120.</summary>
    public int Height { get; init; } = DefaultHeight;

    /// <summary>Fixed bottom of the Y axis; null picks it (0 unless a value is negative; 0 for percent).</summary>
    public double? YMin { get; init; }

    /// <summary>Fixed top of the Y axis; null picks it (a nice number above the largest value; 100 for percent).</summary>
    public double? YMax { get; init; }
}
