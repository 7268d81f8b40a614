using System.Globalization;
using System.Text;

namespace Gantry.Server.Dashboard.Charts;

/// <summary>
/// Draws a time-series line chart as one inline <c>&lt;svg&gt;</c> element, on the server, with no script.
/// </summary>
/// <remarks>
/// <para>
/// The element has a <c>viewBox</c> and <c>width</c>/<c>height</c> of <see cref="ChartSpec.Width"/> by
/// <see cref="ChartSpec.Height"/>, so CSS <c>width: 100%; height: auto</c> scales it. It carries
/// <c>class="chart"</c>, <c>role="img"</c>, <c>aria-labelledby</c> naming its <c>&lt;title&gt;</c> and
/// <c>&lt;desc&gt;</c> (the latest value of each series), and <c>data-chart</c>, <c>data-series</c> (series
/// count) and <c>data-points</c> (points drawn).
/// </para>
/// <para>
/// Colours come from the page: text, gridlines and axes use <c>currentColor</c>; series <c>N</c> (index mod 8)
/// is drawn by a <c>path.series.series-N</c> (stroke), its min/max band by a <c>path.band.band-N</c>
/// (fill, 0.15 opacity) and its legend swatch by a <c>line.swatch.series-N</c>; the page's CSS maps
/// <c>.series-N</c> to <c>stroke: var(--series-N)</c> and <c>.band-N</c> to <c>fill: var(--series-N)</c>, so
/// light and dark themes only change the variables. Without that CSS every line is <c>currentColor</c>.
/// </para>
/// <para>
/// Times are UTC (the chart says so). Points are expected oldest first; a point before
/// <c>Start − Step</c> or after <c>End</c>, or with a value that is not finite, is not drawn, and a pause
/// of more than twice the step between drawn points (or an undrawn point between them) breaks the line.
/// Values beyond a fixed Y range are clamped to its edge.
/// </para>
/// </remarks>
internal static class SvgChart
{
    /// <summary>Text shown in the middle of a chart with no point to draw.</summary>
    public const string NoDataText = "no data in this range";

    /// <summary>How many colours the page defines (<c>--series-0</c> … <c>--series-7</c>).</summary>
    public const int Palette = 8;

    private const double FontSize = 11;
    private const double CharWidth = 6.2;   // average advance of an 11px sans-serif character
    private const double RowHeight = 16;
    private const double Pad = 4;
    private const double MinTickSpacingX = 80;
    private const double MinTickSpacingY = 30;
    private const int MaxLegendRows = 3;
    private const int MaxLabelChars = 40;

    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    // Candidate spacings of time ticks, smallest first; the first that fits the width is taken.
    private static readonly TimeSpan[] TimeSteps =
    [
        TimeSpan.FromSeconds(5), TimeSpan.FromSeconds(10), TimeSpan.FromSeconds(15), TimeSpan.FromSeconds(30),
        TimeSpan.FromMinutes(1), TimeSpan.FromMinutes(2), TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10),
        TimeSpan.FromMinutes(15), TimeSpan.FromMinutes(30), TimeSpan.FromHours(1), TimeSpan.FromHours(2),
        TimeSpan.FromHours(3), TimeSpan.FromHours(4), TimeSpan.FromHours(6), TimeSpan.FromHours(12),
        TimeSpan.FromDays(1), TimeSpan.FromDays(2), TimeSpan.FromDays(7), TimeSpan.FromDays(14), TimeSpan.FromDays(28),
    ];

    // Week ticks fall on Mondays: 1970-01-05 was one.
    private static readonly long FirstMondayTicks = new DateTimeOffset(1970, 1, 5, 0, 0, 0, TimeSpan.Zero).UtcTicks;

    /// <summary>Renders <paramref name="spec"/> as one <c>&lt;svg&gt;</c> element (markup, ready to emit unescaped).</summary>
    /// <exception cref="ArgumentException">The range, step, size or fixed Y range is not usable.</exception>
    public static string Render(ChartSpec spec)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(spec.Series);
        ArgumentException.ThrowIfNullOrEmpty(spec.Id);
        ArgumentNullException.ThrowIfNull(spec.Title);
        if (spec.End <= spec.Start)
        {
            throw new ArgumentException("the chart's End must be after its Start", nameof(spec));
        }

        if (spec.Step <= TimeSpan.Zero)
        {
            throw new ArgumentException("the chart's Step must be positive", nameof(spec));
        }

        if (spec.Width < 200 || spec.Height < 120)
        {
            throw new ArgumentException("a chart is at least 200 by 120", nameof(spec));
        }

        if (spec.YMin is { } fixedMin && spec.YMax is { } fixedMax && !(fixedMax > fixedMin))
        {
            throw new ArgumentException("the chart's YMax must be above its YMin", nameof(spec));
        }

        var series = spec.Series;
        var earliest = spec.Start - spec.Step;
        var maxGap = spec.Step + spec.Step;

        // Pass 1, per point: the value range, what is drawn, the latest values, which series have bands.
        var totalPoints = 0;
        var dataLo = double.PositiveInfinity;
        var dataHi = double.NegativeInfinity;
        var hasBand = new bool[series.Count];
        var last = new double[series.Count];
        var drawn = new int[series.Count];
        for (var s = 0; s < series.Count; s++)
        {
            last[s] = double.NaN;
            var points = series[s].Points;
            for (var i = 0; i < points.Count; i++)
            {
                var p = points[i];
                if (!Drawable(p, earliest, spec.End))
                {
                    continue;
                }

                drawn[s]++;
                last[s] = p.Value;
                var lo = p.Value;
                var hi = p.Value;
                if (double.IsFinite(p.Min) && p.Min != p.Value)
                {
                    hasBand[s] = true;
                    lo = Math.Min(lo, p.Min);
                }

                if (double.IsFinite(p.Max) && p.Max != p.Value)
                {
                    hasBand[s] = true;
                    hi = Math.Max(hi, p.Max);
                }

                dataLo = Math.Min(dataLo, lo);
                dataHi = Math.Max(dataHi, hi);
            }
        }

        // About 13 characters per line point ("L123.4 56.7 ") and twice that per band point.
        var capacity = 4096L;
        for (var s = 0; s < series.Count; s++)
        {
            totalPoints += drawn[s];
            capacity += drawn[s] * (hasBand[s] ? 40L : 13L);
        }

        var hasData = totalPoints > 0;
        var width = (double)spec.Width;
        var height = (double)spec.Height;

        // Header: the title, then the legend flowing after it (wrapping, at most MaxLegendRows rows).
        var titleEnd = Pad + (spec.Title.Length * CharWidth * 1.1) + 24;
        var legend = LayOutLegend(series, titleEnd, width);
        var plotTop = (legend.Rows * RowHeight) + 12;
        var plotBottom = height - 22;
        var plotRight = width - 10;

        var y = YAxis.For(spec, hasData, dataLo, dataHi, plotBottom - plotTop);
        var plotLeft = Math.Clamp((y.WidestLabel * CharWidth) + 12, 28, 110);
        var plotWidth = plotRight - plotLeft;
        var plotHeight = plotBottom - plotTop;

        var sb = new StringBuilder((int)Math.Min(capacity, int.MaxValue / 2));
        var ids = SanitiseId(spec.Id);

        // <svg …> and its accessible name and description.
        sb.Append("<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"chart\" viewBox=\"0 0 ");
        sb.Append(Inv, $"{spec.Width} {spec.Height}\" width=\"{spec.Width}\" height=\"{spec.Height}\"");
        sb.Append(" role=\"img\" aria-labelledby=\"chart-").Append(ids).Append("-title chart-").Append(ids).Append("-desc\"");
        sb.Append(" data-chart=\"");
        Escape(sb, spec.Id);
        sb.Append(Inv, $"\" data-series=\"{series.Count}\" data-points=\"{totalPoints}\" font-size=\"{FontSize}\">");
        sb.Append("<title id=\"chart-").Append(ids).Append("-title\">");
        Escape(sb, spec.Title);
        sb.Append("</title><desc id=\"chart-").Append(ids).Append("-desc\">");
        AppendDescription(sb, spec, last, hasData);
        sb.Append("</desc>");

        sb.Append(Inv, $"<text class=\"chart-title\" x=\"{Pad}\" y=\"14\" fill=\"currentColor\" font-weight=\"600\">");
        Escape(sb, spec.Title);
        sb.Append("</text>");
        AppendLegend(sb, series, legend);

        // Horizontal gridlines and Y labels, at nice values of the unit.
        sb.Append("<g class=\"grid\" stroke=\"currentColor\" stroke-opacity=\"0.12\">");
        for (var k = 0; k < y.TickCount; k++)
        {
            var ty = Ry(plotBottom - ((y.Tick(k) - y.Lo) / (y.Hi - y.Lo) * plotHeight));
            sb.Append(Inv, $"<line x1=\"{plotLeft:0.#}\" y1=\"{ty:0.#}\" x2=\"{plotRight:0.#}\" y2=\"{ty:0.#}\"/>");
        }

        sb.Append("</g><g class=\"axis axis-y\" fill=\"currentColor\" text-anchor=\"end\">");
        for (var k = 0; k < y.TickCount; k++)
        {
            var ty = plotBottom - ((y.Tick(k) - y.Lo) / (y.Hi - y.Lo) * plotHeight);
            sb.Append(Inv, $"<text class=\"tick tick-y\" x=\"{plotLeft - 6:0.#}\" y=\"{ty + 4:0.#}\">");
            Escape(sb, y.Label(k));
            sb.Append("</text>");
        }

        sb.Append("</g>");
        AppendTimeAxis(sb, spec, plotLeft, plotRight, plotBottom, height);

        // Lines and bands, in base units: y = plotBottom − (v − lo) · k.
        var loBase = y.Lo * y.Divisor;
        var yk = plotHeight / ((y.Hi - y.Lo) * y.Divisor);
        var xk = plotWidth / (spec.End.UtcTicks - spec.Start.UtcTicks);
        var plot = new Plot(spec.Start.UtcTicks, xk, plotLeft, plotRight, loBase, yk, plotTop, plotBottom, earliest, spec.End, maxGap);

        sb.Append("<g class=\"bands\" stroke=\"none\">");
        for (var s = 0; s < series.Count; s++)
        {
            if (hasBand[s])
            {
                sb.Append(Inv, $"<path class=\"band band-{s % Palette}\" fill=\"currentColor\" fill-opacity=\"0.15\" d=\"");
                AppendPath(sb, series[s].Points, plot, band: true);
                sb.Append("\"/>");
            }
        }

        sb.Append("</g><g class=\"lines\" fill=\"none\" stroke=\"currentColor\" stroke-width=\"1.5\" stroke-linejoin=\"round\" stroke-linecap=\"round\">");
        for (var s = 0; s < series.Count; s++)
        {
            sb.Append(Inv, $"<path class=\"series series-{s % Palette}\" d=\"");
            AppendPath(sb, series[s].Points, plot, band: false);
            sb.Append("\"/>");
        }

        sb.Append("</g>");
        if (!hasData)
        {
            sb.Append(Inv, $"<text class=\"no-data\" x=\"{(plotLeft + plotRight) / 2:0.#}\" y=\"{(plotTop + plotBottom) / 2:0.#}\" text-anchor=\"middle\" fill=\"currentColor\" fill-opacity=\"0.7\">");
            sb.Append(NoDataText).Append("</text>");
        }

        sb.Append("</svg>");
        return sb.ToString();
    }

    private static bool Drawable(in ChartPoint p, DateTimeOffset earliest, DateTimeOffset end) =>
        double.IsFinite(p.Value) && p.At >= earliest && p.At <= end;

    // One path's data: "M x y L x y …" per unbroken run of points; for a band, the run's maxima
    // forwards then its minima backwards, closed with Z.
    private static void AppendPath(StringBuilder sb, IReadOnlyList<ChartPoint> points, in Plot plot, bool band)
    {
        var runStart = -1;
        var previous = default(DateTimeOffset);
        for (var i = 0; i < points.Count; i++)
        {
            var p = points[i];
            if (!Drawable(p, plot.Earliest, plot.End))
            {
                if (runStart >= 0)
                {
                    AppendRun(sb, points, runStart, i - 1, plot, band);
                    runStart = -1;
                }

                continue;
            }

            if (runStart < 0)
            {
                runStart = i;
            }
            else if (p.At - previous > plot.MaxGap)
            {
                AppendRun(sb, points, runStart, i - 1, plot, band);
                runStart = i;
            }

            previous = p.At;
        }

        if (runStart >= 0)
        {
            AppendRun(sb, points, runStart, points.Count - 1, plot, band);
        }
    }

    private static void AppendRun(StringBuilder sb, IReadOnlyList<ChartPoint> points, int from, int to, in Plot plot, bool band)
    {
        if (band && from == to)
        {
            // A band of one point has no width.
            return;
        }

        if (!band)
        {
            for (var i = from; i <= to; i++)
            {
                var p = points[i];
                AppendPoint(sb, i == from ? 'M' : 'L', plot.X(p.At), plot.Y(p.Value));
            }

            if (from == to)
            {
                // A lone point: a zero-length segment that the round line cap draws as a dot.
                sb.Append(" h0");
            }

            return;
        }

        for (var i = from; i <= to; i++)
        {
            var p = points[i];
            var hi = double.IsFinite(p.Max) ? Math.Max(p.Max, p.Value) : p.Value;
            AppendPoint(sb, i == from ? 'M' : 'L', plot.X(p.At), plot.Y(hi));
        }

        for (var i = to; i >= from; i--)
        {
            var p = points[i];
            var lo = double.IsFinite(p.Min) ? Math.Min(p.Min, p.Value) : p.Value;
            AppendPoint(sb, 'L', plot.X(p.At), plot.Y(lo));
        }

        sb.Append(" Z");
    }

    // " Lx y" (no leading space for the first command of a path), coordinates to a tenth of a unit.
    // Hand-rolled because this runs per point and double's custom formats are slow.
    private static void AppendPoint(StringBuilder sb, char command, double x, double y)
    {
        if (sb[^1] != '"')
        {
            sb.Append(' ');
        }

        sb.Append(command);
        AppendTenths(sb, x);
        sb.Append(' ');
        AppendTenths(sb, y);
    }

    private static void AppendTenths(StringBuilder sb, double value)
    {
        var tenths = (long)Math.Round(value * 10, MidpointRounding.AwayFromZero);
        if (tenths < 0)
        {
            sb.Append('-');
            tenths = -tenths;
        }

        Span<char> digits = stackalloc char[20];
        (tenths / 10).TryFormat(digits, out var written, default, Inv);
        sb.Append(digits[..written]);
        var fraction = tenths % 10;
        if (fraction != 0)
        {
            sb.Append('.').Append((char)('0' + fraction));
        }
    }

    private static void AppendTimeAxis(StringBuilder sb, ChartSpec spec, double left, double right, double bottom, double height)
    {
        var range = spec.End - spec.Start;
        var maxTicks = Math.Max(2, (int)((right - left) / MinTickSpacingX));
        var step = TimeSteps[^1];
        foreach (var candidate in TimeSteps)
        {
            // Ceiling: a range of 7.5 steps can hold 8 ticks.
            if ((range.Ticks + candidate.Ticks - 1) / candidate.Ticks <= maxTicks)
            {
                step = candidate;
                break;
            }
        }

        // Ticks on whole multiples of the step since the epoch (so at midnight, on the hour, …), weeks on Mondays.
        var origin = step >= TimeSpan.FromDays(7) ? FirstMondayTicks : DateTimeOffset.UnixEpoch.UtcTicks;
        var startTicks = spec.Start.UtcTicks;
        var offset = startTicks - origin;
        var firstTick = origin + (offset <= 0 ? offset / step.Ticks * step.Ticks : ((offset + step.Ticks - 1) / step.Ticks * step.Ticks));
        var format = step >= TimeSpan.FromDays(1) ? "MMM d"
            : range > TimeSpan.FromDays(1) ? "ddd HH:mm"
            : step < TimeSpan.FromMinutes(1) ? "HH:mm:ss"
            : "HH:mm";
        var xk = (right - left) / range.Ticks;
        var labelY = height - 7;

        sb.Append(Inv, $"<g class=\"axis axis-x\" fill=\"currentColor\"><line class=\"baseline\" x1=\"{left:0.#}\" y1=\"{bottom:0.#}\" x2=\"{right:0.#}\" y2=\"{bottom:0.#}\" stroke=\"currentColor\" stroke-opacity=\"0.4\"/>");
        for (var t = firstTick; t <= spec.End.UtcTicks; t += step.Ticks)
        {
            var x = left + ((t - startTicks) * xk);
            var anchor = x < left + 16 ? "start" : x > right - 16 ? "end" : "middle";
            var at = new DateTime(t, DateTimeKind.Utc);
            sb.Append(Inv, $"<line x1=\"{x:0.#}\" y1=\"{bottom:0.#}\" x2=\"{x:0.#}\" y2=\"{bottom + 4:0.#}\" stroke=\"currentColor\" stroke-opacity=\"0.4\"/>");
            sb.Append(Inv, $"<text class=\"tick tick-x\" x=\"{x:0.#}\" y=\"{labelY:0.#}\" text-anchor=\"{anchor}\">");
            sb.Append(Inv, $"{at.ToString(format, Inv)}</text>");
        }

        sb.Append(Inv, $"<text class=\"tick utc\" x=\"{Pad}\" y=\"{labelY:0.#}\" fill-opacity=\"0.7\">UTC</text></g>");
    }

    private static void AppendDescription(StringBuilder sb, ChartSpec spec, double[] last, bool hasData)
    {
        Escape(sb, spec.Title);
        sb.Append(Inv, $", {spec.Start.UtcDateTime.ToString("yyyy-MM-dd HH:mm", Inv)} to {spec.End.UtcDateTime.ToString("yyyy-MM-dd HH:mm", Inv)} UTC. ");
        if (!hasData)
        {
            sb.Append("No data in this range.");
            return;
        }

        sb.Append("Latest: ");
        for (var s = 0; s < last.Length; s++)
        {
            if (s > 0)
            {
                sb.Append(", ");
            }

            Escape(sb, spec.Series[s].Label);
            sb.Append(' ');
            sb.Append(double.IsFinite(last[s]) ? Units.Format(last[s], spec.Unit) : "no data");
        }

        sb.Append('.');
    }

    private static LegendLayout LayOutLegend(IReadOnlyList<ChartSeries> series, double titleEnd, double width)
    {
        var x = new double[series.Count];
        var row = new int[series.Count];
        var cursor = titleEnd;
        var currentRow = 0;
        var shown = 0;
        for (var s = 0; s < series.Count; s++)
        {
            var itemWidth = 16 + (Math.Min(series[s].Label.Length, MaxLabelChars) * CharWidth) + 12;
            if (cursor + itemWidth > width - Pad && cursor > Pad)
            {
                if (currentRow + 1 == MaxLegendRows)
                {
                    break;
                }

                currentRow++;
                cursor = Pad;
            }

            x[s] = cursor;
            row[s] = currentRow;
            cursor += itemWidth;
            shown++;
        }

        return new LegendLayout(x, row, shown, currentRow + 1, cursor);
    }

    private static void AppendLegend(StringBuilder sb, IReadOnlyList<ChartSeries> series, LegendLayout legend)
    {
        sb.Append("<g class=\"legend\" fill=\"currentColor\">");
        for (var s = 0; s < legend.Shown; s++)
        {
            var baseline = 14 + (legend.Row[s] * RowHeight);
            var x = legend.X[s];
            sb.Append(Inv, $"<g class=\"legend-item\"><line class=\"swatch series-{s % Palette}\" x1=\"{x:0.#}\" y1=\"{baseline - 4:0.#}\" x2=\"{x + 12:0.#}\" y2=\"{baseline - 4:0.#}\" stroke=\"currentColor\" stroke-width=\"3\" stroke-linecap=\"round\"/>");
            sb.Append(Inv, $"<text x=\"{x + 16:0.#}\" y=\"{baseline:0.#}\">");
            var label = series[s].Label;
            if (label.Length > MaxLabelChars)
            {
                // Cut before a surrogate pair rather than through it.
                var cut = char.IsHighSurrogate(label[MaxLabelChars - 1]) ? MaxLabelChars - 2 : MaxLabelChars - 1;
                Escape(sb, label.AsSpan(0, cut));
                sb.Append('…');
            }
            else
            {
                Escape(sb, label);
            }

            sb.Append("</text></g>");
        }

        if (legend.Shown < series.Count)
        {
            var baseline = 14 + ((legend.Rows - 1) * RowHeight);
            sb.Append(Inv, $"<text class=\"legend-more\" x=\"{legend.End:0.#}\" y=\"{baseline:0.#}\">+{series.Count - legend.Shown} more</text>");
        }

        sb.Append("</g>");
    }

    /// <summary>Appends <paramref name="text"/> escaped for XML text and attribute values; characters XML forbids become U+FFFD.</summary>
    internal static void Escape(StringBuilder sb, ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            switch (c)
            {
                case '&': sb.Append("&amp;"); break;
                case '<': sb.Append("&lt;"); break;
                case '>': sb.Append("&gt;"); break;
                case '"': sb.Append("&quot;"); break;
                case '\'': sb.Append("&#39;"); break;
                case < ' ' and not '\t' and not '\n' and not '\r':
                case '\uFFFE' or '\uFFFF':
                    sb.Append('\uFFFD');
                    break;
                default: sb.Append(c); break;
            }
        }
    }

    // Ids of the title and desc: letters, digits, '-' and '_' only.
    private static string SanitiseId(string id)
    {
        return string.Create(id.Length, id, static (span, source) =>
        {
            for (var i = 0; i < span.Length; i++)
            {
                var c = source[i];
                span[i] = char.IsAsciiLetterOrDigit(c) || c is '-' or '_' ? c : '-';
            }
        });
    }

    private static double Ry(double v) => Math.Round(v, 1);

    private sealed record LegendLayout(double[] X, int[] Row, int Shown, int Rows, double End);

    // Maps times and values (base units) to view box coordinates, clamped to the plot.
    private readonly record struct Plot(
        long StartTicks, double Xk, double Left, double Right, double LoBase, double Yk, double Top, double Bottom,
        DateTimeOffset Earliest, DateTimeOffset End, TimeSpan MaxGap)
    {
        public double X(DateTimeOffset at) => Math.Clamp(Left + ((at.UtcTicks - StartTicks) * Xk), Left, Right);

        public double Y(double value) => Math.Clamp(Bottom - ((value - LoBase) * Yk), Top, Bottom);
    }

    /// <summary>The Y axis: its ends and ticks in prefixed units (value / <see cref="Divisor"/>) and their labels.</summary>
    private sealed class YAxis
    {
        private readonly ChartUnit _unit;
        private readonly int _prefix;
        private readonly int _decimals;
        private readonly double _first;
        private readonly double _step;

        private YAxis(ChartUnit unit, int prefix, double lo, double hi, double first, double step, int count, bool labelled)
        {
            _unit = unit;
            _prefix = prefix;
            Lo = lo;
            Hi = hi;
            _first = first;
            _step = step;
            TickCount = count;
            Divisor = Units.Divisor(unit, prefix);
            _decimals = Units.DecimalsForStep(step);
            var widest = 0;
            for (var k = 0; labelled && k < count; k++)
            {
                widest = Math.Max(widest, Label(k).Length);
            }

            WidestLabel = widest;
        }

        /// <summary>Bottom of the axis, in prefixed units.</summary>
        public double Lo { get; }

        /// <summary>Top of the axis, in prefixed units.</summary>
        public double Hi { get; }

        /// <summary>Base units per prefixed unit.</summary>
        public double Divisor { get; }

        /// <summary>Ticks drawn (0 when there is nothing to label).</summary>
        public int TickCount { get; }

        /// <summary>Characters in the longest tick label.</summary>
        public int WidestLabel { get; }

        public double Tick(int k) => _first + (k * _step);

        public string Label(int k) => Units.FormatScaled(Tick(k), _unit, _prefix, _decimals);

        public static YAxis For(ChartSpec spec, bool hasData, double dataLo, double dataHi, double plotHeight)
        {
            var unit = spec.Unit;
            var fixedLo = spec.YMin ?? (unit == ChartUnit.Percent ? 0 : null);
            var fixedHi = spec.YMax ?? (unit == ChartUnit.Percent ? 100 : null);
            if (!hasData && (fixedLo is null || fixedHi is null))
            {
                // Nothing to scale to: an empty axis from 0 to 1, no ticks.
                return new YAxis(unit, 0, 0, 1, 0, 1, 0, labelled: false);
            }

            // Y from 0 unless a value is negative (or the range is fixed).
            var lo = fixedLo ?? Math.Min(0, dataLo);
            var hi = fixedHi ?? Math.Max(0, dataHi);
            if (!hasData)
            {
                lo = fixedLo!.Value;
                hi = fixedHi!.Value;
            }

            var prefix = Units.PrefixFor(unit, Math.Max(Math.Abs(lo), Math.Abs(hi)));
            var divisor = Units.Divisor(unit, prefix);
            lo /= divisor;
            hi /= divisor;
            if (!(hi > lo))
            {
                hi = lo + 1;
            }

            var intervals = Math.Clamp((int)(plotHeight / MinTickSpacingY), 2, 8);
            var step = NiceStep((hi - lo) / intervals);
            var axisLo = fixedLo is null ? Math.Floor(lo / step) * step : lo;
            var axisHi = fixedHi is null ? Math.Ceiling(hi / step) * step : hi;

            // 950 W can round up to a top tick of 1000 W: label it in kW. (Binary prefixes would make
            // the ticks un-nice, so bytes keep theirs.)
            if (unit != ChartUnit.Bytes && prefix < Units.PrefixCount(unit) - 1 && Math.Max(Math.Abs(axisLo), Math.Abs(axisHi)) >= 1000)
            {
                prefix++;
                axisLo /= 1000;
                axisHi /= 1000;
                step /= 1000;
            }

            var first = Math.Ceiling((axisLo / step) - 1e-9) * step;
            var count = (int)Math.Floor(((axisHi - first) / step) + 1e-9) + 1;
            return new YAxis(unit, prefix, axisLo, axisHi, first, step, Math.Max(count, 0), labelled: true);
        }

        // The smallest 1, 2 or 5 × 10^n at or above raw.
        private static double NiceStep(double raw)
        {
            var magnitude = Math.Pow(10, Math.Floor(Math.Log10(raw)));
            var normalised = raw / magnitude;
            var nice = normalised <= 1 + 1e-9 ? 1 : normalised <= 2 + 1e-9 ? 2 : normalised <= 5 + 1e-9 ? 5 : 10;
            return nice * magnitude;
        }
    }
}
