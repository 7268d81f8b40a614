using System.Globalization;
using System.Text.RegularExpressions;
using System.Xml.Linq;
using Gantry.Core.Protocol;
using Gantry.Server.Dashboard.Charts;

namespace Gantry.Server.Tests.Dashboard.Charts;

/// <summary>The SVG chart renderer, read back as XML.</summary>
public sealed partial class SvgChartTests
{
    private static readonly XNamespace Svg = "http://www.w3.org/2000/svg";
    private static readonly DateTimeOffset T0 = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Render_TwoSeries_RootCarriesContractAttributes()
    {
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 60, _ => 37), Line("GPU 1", 60, _ => 45));

        var root = Render(spec);

        Assert.Equal(Svg + "svg", root.Name);
        Assert.Equal("utilization", (string?)root.Attribute("data-chart"));
        Assert.Equal("2", (string?)root.Attribute("data-series"));
        Assert.Equal("120", (string?)root.Attribute("data-points"));
        Assert.Equal("img", (string?)root.Attribute("role"));
        Assert.Equal("0 0 640 220", (string?)root.Attribute("viewBox"));
        var labelledBy = ((string?)root.Attribute("aria-labelledby"))!.Split(' ');
        Assert.Equal(2, labelledBy.Length);
        var title = root.Elements(Svg + "title").Single();
        var desc = root.Elements(Svg + "desc").Single();
        Assert.Equal(labelledBy[0], (string?)title.Attribute("id"));
        Assert.Equal(labelledBy[1], (string?)desc.Attribute("id"));
        Assert.Equal("Utilization", title.Value);
        Assert.Contains("GPU 0 37 %", desc.Value, StringComparison.Ordinal);
        Assert.Contains("GPU 1 45 %", desc.Value, StringComparison.Ordinal);
        Assert.Contains("UTC", desc.Value, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_TwoSeries_OnePathPerSeriesWithPaletteClasses()
    {
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 60, i => i), Line("GPU 1", 60, i => 100 - i));

        var paths = SeriesPaths(Render(spec));

        Assert.Equal(2, paths.Count);
        Assert.Equal("series series-0", (string?)paths[0].Attribute("class"));
        Assert.Equal("series series-1", (string?)paths[1].Attribute("class"));
        Assert.All(paths, p => Assert.Equal(1, MoveCount(p)));
        Assert.All(paths, p => Assert.Equal(59, ((string)p.Attribute("d")!).Count(c => c == 'L')));
    }

    [Fact]
    public void Render_NineSeries_ColourIndexWrapsAtEight()
    {
        var series = Enumerable.Range(0, 9).Select(i => Line($"GPU {i}", 5, _ => i)).ToArray();

        var paths = SeriesPaths(Render(Spec(ChartUnit.Percent, series)));

        Assert.Equal(9, paths.Count);
        Assert.Equal("series series-0", (string?)paths[8].Attribute("class"));
    }

    [Fact]
    public void Render_GapLongerThanTwoSteps_SplitsPath()
    {
        // Minutes 0-9, nothing 10-19, then 20-29: one pause of 11 steps.
        var points = Enumerable.Range(0, 30).Where(i => i is < 10 or >= 20).Select(i => ChartPoint.Raw(T0.AddMinutes(i), 50)).ToArray();

        var paths = SeriesPaths(Render(Spec(ChartUnit.Percent, new ChartSeries("GPU 0", points))));

        Assert.Equal(2, MoveCount(paths.Single()));
    }

    [Fact]
    public void Render_GapOfTwoSteps_KeepsOneLine()
    {
        // Every other minute: each pause is exactly twice the step, which is not a gap.
        var points = Enumerable.Range(0, 30).Select(i => ChartPoint.Raw(T0.AddMinutes(2 * i), 50)).ToArray();

        var paths = SeriesPaths(Render(Spec(ChartUnit.Percent, new ChartSeries("GPU 0", points))));

        Assert.Equal(1, MoveCount(paths.Single()));
    }

    [Fact]
    public void Render_NaNValue_BreaksLineAndIsNotCounted()
    {
        var points = Enumerable.Range(0, 10).Select(i => ChartPoint.Raw(T0.AddMinutes(i), i == 4 ? double.NaN : 50)).ToArray();

        var root = Render(Spec(ChartUnit.Percent, new ChartSeries("GPU 0", points)));

        Assert.Equal(2, MoveCount(SeriesPaths(root).Single()));
        Assert.Equal("9", (string?)root.Attribute("data-points"));
    }

    [Fact]
    public void Render_LonePoint_DrawnAsDot()
    {
        var points = new[] { ChartPoint.Raw(T0.AddMinutes(1), 10), ChartPoint.Raw(T0.AddMinutes(30), 20), ChartPoint.Raw(T0.AddMinutes(31), 30) };

        var d = (string)SeriesPaths(Render(Spec(ChartUnit.Percent, new ChartSeries("GPU 0", points)))).Single().Attribute("d")!;

        Assert.Equal(2, d.Count(c => c == 'M'));
        Assert.Contains("h0", d, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_Percent_AxisFixedFromZeroToHundred()
    {
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 60, _ => 3));

        var labels = TickLabels(Render(spec), "tick-y");

        Assert.Equal(["0 %", "20 %", "40 %", "60 %", "80 %", "100 %"], labels);
    }

    [Fact]
    public void Render_PercentAboveHundred_ClampedInsidePlot()
    {
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 10, _ => 250));
        var root = Render(spec);

        var ys = Coordinates(SeriesPaths(root).Single()).Select(c => c.Y).ToList();
        var gridYs = root.Descendants(Svg + "g").Single(g => HasClass(g, "grid")).Elements(Svg + "line")
            .Select(l => double.Parse((string)l.Attribute("y1")!, CultureInfo.InvariantCulture)).ToList();

        // The top gridline is the 100 % line; nothing is drawn above it.
        Assert.All(ys, y => Assert.Equal(gridYs.Min(), y, 1));
    }

    [Fact]
    public void Render_PositiveWatts_AxisStartsAtZeroWithNiceTicks()
    {
        var spec = Spec(ChartUnit.Watts, Line("GPU 0", 60, i => 200 + i)) with { Id = "power", Title = "Power" };

        var labels = TickLabels(Render(spec), "tick-y");

        Assert.Equal("0 W", labels[0]);
        Assert.Equal(["0 W", "100 W", "200 W", "300 W"], labels);
    }

    [Fact]
    public void Render_KilowattRange_LabelsInKilowatts()
    {
        var spec = Spec(ChartUnit.Watts, Line("node", 60, _ => 1400)) with { Id = "power", Title = "Power" };

        var labels = TickLabels(Render(spec), "tick-y");

        Assert.Equal(["0 kW", "0.5 kW", "1 kW", "1.5 kW"], labels);
    }

    [Fact]
    public void Render_NegativeValue_AxisGoesBelowZero()
    {
        var spec = Spec(ChartUnit.Celsius, Line("inlet", 60, i => i - 15)) with { Id = "temperature", Title = "Temperature" };

        var labels = TickLabels(Render(spec), "tick-y");

        // -15 to 44 over five intervals of 20.
        Assert.Equal(["-20 °C", "0 °C", "20 °C", "40 °C", "60 °C"], labels);
    }

    [Fact]
    public void Render_Bytes_TicksOnWholeGibibytes()
    {
        const double GiB = 1024.0 * 1024 * 1024;
        var spec = Spec(ChartUnit.Bytes, Line("GPU 0", 60, _ => 75 * GiB)) with { Id = "memory", Title = "Memory" };

        var labels = TickLabels(Render(spec), "tick-y");

        Assert.Equal(["0 GiB", "20 GiB", "40 GiB", "60 GiB", "80 GiB"], labels);
    }

    [Fact]
    public void Render_FixedRange_UsedAsGiven()
    {
        var spec = Spec(ChartUnit.Celsius, Line("GPU 0", 60, _ => 45)) with { YMin = 20, YMax = 90 };

        var labels = TickLabels(Render(spec), "tick-y");

        Assert.Equal(["20 °C", "40 °C", "60 °C", "80 °C"], labels);
    }

    [Fact]
    public void Render_FifteenMinuteRange_HourMinuteTicks()
    {
        var start = new DateTimeOffset(2026, 3, 1, 12, 3, 0, TimeSpan.Zero);
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 15, _ => 50, start, TimeSpan.FromMinutes(1))) with
        {
            Start = start,
            End = start.AddMinutes(15),
            Step = TimeSpan.FromMinutes(1),
        };

        var labels = TickLabels(Render(spec), "tick-x");

        Assert.Equal(["12:05", "12:10", "12:15"], labels);
    }

    [Fact]
    public void Render_SevenDayRange_MonthDayTicks()
    {
        var start = new DateTimeOffset(2025, 11, 17, 9, 30, 0, TimeSpan.Zero);
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 7 * 24, _ => 50, start, TimeSpan.FromHours(1))) with
        {
            Start = start,
            End = start.AddDays(7),
            Step = TimeSpan.FromHours(1),
        };

        var labels = TickLabels(Render(spec), "tick-x");

        Assert.Equal(["Nov 18", "Nov 19", "Nov 20", "Nov 21", "Nov 22", "Nov 23", "Nov 24"], labels);
    }

    [Fact]
    public void Render_TwoDayRange_WeekdayHourTicks()
    {
        var start = new DateTimeOffset(2025, 11, 23, 0, 0, 0, TimeSpan.Zero);
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 48, _ => 50, start, TimeSpan.FromHours(1))) with
        {
            Start = start,
            End = start.AddDays(2),
            Step = TimeSpan.FromHours(1),
        };

        var labels = TickLabels(Render(spec), "tick-x");

        Assert.Equal("Sun 00:00", labels[0]);
        Assert.Contains("Mon 12:00", labels);
    }

    [Fact]
    public void Render_AnyRange_SaysUtc()
    {
        var root = Render(Spec(ChartUnit.Percent, Line("GPU 0", 60, _ => 1)));

        Assert.Contains(root.Descendants(Svg + "text"), t => t.Value == "UTC");
    }

    [Fact]
    public void Render_LabelWithMarkup_EscapedEverywhere()
    {
        const string Label = "GPU <0> & \"fast\" 'one'";
        var spec = Spec(ChartUnit.Percent, Line(Label, 10, _ => 37)) with { Id = "util\"<x>", Title = "A & B <c>" };

        var svg = SvgChart.Render(spec);
        var root = XElement.Parse(svg);

        Assert.DoesNotContain("<0>", svg, StringComparison.Ordinal);
        Assert.DoesNotContain("<c>", svg, StringComparison.Ordinal);
        Assert.Contains(root.Descendants(Svg + "g").Single(g => HasClass(g, "legend")).Descendants(Svg + "text"), t => t.Value == Label);
        Assert.Equal("A & B <c>", root.Element(Svg + "title")!.Value);
        Assert.Contains(Label + " 37 %", root.Element(Svg + "desc")!.Value, StringComparison.Ordinal);
        Assert.Equal("util\"<x>", (string?)root.Attribute("data-chart"));
    }

    [Fact]
    public void Render_LabelWithControlCharacter_StillWellFormed()
    {
        var root = Render(Spec(ChartUnit.Percent, Line("bad\u0001name", 10, _ => 37)));

        Assert.Contains(root.Descendants(Svg + "text"), t => t.Value == "bad\uFFFDname");
    }

    [Fact]
    public void Render_NoPoints_CentredNoDataText()
    {
        var root = Render(Spec(ChartUnit.Watts, new ChartSeries("GPU 0", []), new ChartSeries("GPU 1", [])));

        var noData = root.Descendants(Svg + "text").Single(t => HasClass(t, "no-data"));
        Assert.Equal("no data in this range", noData.Value);
        Assert.Equal("middle", (string?)noData.Attribute("text-anchor"));
        Assert.Equal("0", (string?)root.Attribute("data-points"));
        Assert.Equal("2", (string?)root.Attribute("data-series"));
        Assert.Contains("No data in this range.", root.Element(Svg + "desc")!.Value, StringComparison.Ordinal);
        Assert.Empty(TickLabels(root, "tick-y"));
    }

    [Fact]
    public void Render_NoSeries_CentredNoDataText()
    {
        var root = Render(Spec(ChartUnit.Percent));

        Assert.Single(root.Descendants(Svg + "text"), t => HasClass(t, "no-data"));
        Assert.Equal("0", (string?)root.Attribute("data-series"));
    }

    [Fact]
    public void Render_WithData_NoNoDataText()
    {
        var root = Render(Spec(ChartUnit.Percent, Line("GPU 0", 10, _ => 37)));

        Assert.DoesNotContain(root.Descendants(Svg + "text"), t => HasClass(t, "no-data"));
    }

    [Fact]
    public void Render_RawPoints_NoBand()
    {
        var root = Render(Spec(ChartUnit.Percent, Line("GPU 0", 60, i => i)));

        Assert.Empty(Bands(root));
    }

    [Fact]
    public void Render_RollupPoints_BandForRollupSeriesOnly()
    {
        var rollup = Enumerable.Range(0, 60).Select(i => ChartPoint.FromTelemetry(
            new TelemetryPoint { T = T0.AddMinutes(i), Value = 0.5, Min = 0.2, Max = 0.9 }, scale: 100)).ToArray();
        var spec = Spec(ChartUnit.Percent, Line("GPU 0", 60, _ => 10), new ChartSeries("GPU 1", rollup));

        var bands = Bands(Render(spec));

        var band = Assert.Single(bands);
        Assert.Equal("band band-1", (string?)band.Attribute("class"));
        Assert.EndsWith("Z", (string)band.Attribute("d")!, StringComparison.Ordinal);

        // Forwards along the maxima (90 %), back along the minima (20 %): 120 corners.
        var ys = Coordinates(band).Select(c => c.Y).ToList();
        Assert.Equal(120, ys.Count);
        Assert.True(ys[0] < ys[^1]);
    }

    [Fact]
    public void Render_ThirtyDaysHourlyEightGpus_AllPointsDrawn()
    {
        var start = new DateTimeOffset(2026, 2, 1, 0, 0, 0, TimeSpan.Zero);
        var series = Enumerable.Range(0, 8)
            .Select(g => new ChartSeries($"GPU {g}", Enumerable.Range(0, 720).Select(h => new ChartPoint(start.AddHours(h), 40 + g, 10, 90 + (g % 3))).ToArray()))
            .ToArray();
        var spec = Spec(ChartUnit.Percent, series) with { Start = start, End = start.AddDays(30), Step = TimeSpan.FromHours(1) };

        var root = Render(spec);

        Assert.Equal("5760", (string?)root.Attribute("data-points"));
        var paths = SeriesPaths(root);
        Assert.Equal(8, paths.Count);
        Assert.All(paths, p => Assert.Equal(720, Coordinates(p).Count));
        Assert.Equal(8, Bands(root).Count);
        Assert.All(TickLabels(root, "tick-x"), l => Assert.Matches(MonthDay(), l));
    }

    [Fact]
    public void Render_PointsOutsideRange_NotDrawn()
    {
        var points = new[]
        {
            ChartPoint.Raw(T0.AddHours(-2), 10), // long before the start
            ChartPoint.Raw(T0.AddSeconds(-30), 20), // inside the bucket before the start: drawn at the left edge
            ChartPoint.Raw(T0.AddMinutes(5), 30),
            ChartPoint.Raw(T0.AddHours(2), 40), // after the end
        };

        var root = Render(Spec(ChartUnit.Percent, new ChartSeries("GPU 0", points)));

        Assert.Equal("2", (string?)root.Attribute("data-points"));
        Assert.Equal(2, Coordinates(SeriesPaths(root).Single()).Count);
    }

    [Fact]
    public void Render_EndNotAfterStart_Throws()
    {
        var spec = Spec(ChartUnit.Percent) with { End = T0 };

        Assert.Throws<ArgumentException>(() => SvgChart.Render(spec));
    }

    [Fact]
    public void Render_FixedRangeInverted_Throws()
    {
        var spec = Spec(ChartUnit.Celsius) with { YMin = 50, YMax = 10 };

        Assert.Throws<ArgumentException>(() => SvgChart.Render(spec));
    }

    private static ChartSpec Spec(ChartUnit unit, params ChartSeries[] series) => new()
    {
        Id = "utilization",
        Title = "Utilization",
        Unit = unit,
        Start = T0,
        End = T0.AddHours(1),
        Step = TimeSpan.FromMinutes(1),
        Series = series,
    };

    private static ChartSeries Line(string label, int count, Func<int, double> value, DateTimeOffset? start = null, TimeSpan? step = null) =>
        new(label, Enumerable.Range(0, count).Select(i => ChartPoint.Raw((start ?? T0) + ((step ?? TimeSpan.FromMinutes(1)) * i), value(i))).ToArray());

    private static XElement Render(ChartSpec spec) => XElement.Parse(SvgChart.Render(spec));

    private static bool HasClass(XElement element, string name) =>
        ((string?)element.Attribute("class"))?.Split(' ').Contains(name) == true;

    private static List<XElement> SeriesPaths(XElement root) =>
        root.Descendants(Svg + "path").Where(p => HasClass(p, "series")).ToList();

    private static List<XElement> Bands(XElement root) =>
        root.Descendants(Svg + "path").Where(p => HasClass(p, "band")).ToList();

    private static int MoveCount(XElement path) => ((string)path.Attribute("d")!).Count(c => c == 'M');

    private static List<string> TickLabels(XElement root, string axisClass) =>
        root.Descendants(Svg + "text").Where(t => HasClass(t, axisClass)).Select(t => t.Value).ToList();

    private static List<(double X, double Y)> Coordinates(XElement path) =>
        Coordinate().Matches((string)path.Attribute("d")!)
            .Select(m => (double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture), double.Parse(m.Groups[2].Value, CultureInfo.InvariantCulture)))
            .ToList();

    [GeneratedRegex(@"[ML](-?[\d.]+) (-?[\d.]+)")]
    private static partial Regex Coordinate();

    [GeneratedRegex(@"^[A-Z][a-z]{2} \d{1,2}$")]
    private static partial Regex MonthDay();
}
