using Gantry.Core.Carbon;

namespace Gantry.Core.Tests.Carbon;

public sealed class CarbonTraceCsvTests
{
    private static readonly DateTimeOffset Now = new(2026, 12, 3, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void Read_TheShippedFormat_GivesPointsAndTheStep()
    {
        var trace = CarbonTraceCsv.Read(new StringReader("Time,Carbon Intensity\n2019-12-20 00:00:00,120.5\n2019-12-20 00:30:00,135\n\n2019-12-20 01:00:00,141\n"), "GB", Now);

        Assert.Equal("GB", trace.Location);
        Assert.Equal(3, trace.Points.Length);
        Assert.Equal(TimeSpan.FromMinutes(30), trace.Resolution);
        Assert.Equal(new DateTimeOffset(2019, 12, 20, 0, 30, 0, TimeSpan.Zero), trace.Points[1].Time);
        Assert.Equal(120.5, trace.IntensityAt(new DateTimeOffset(2019, 12, 20, 0, 29, 0, TimeSpan.Zero)));
        Assert.Equal(141, trace.IntensityAt(new DateTimeOffset(2019, 12, 20, 1, 29, 0, TimeSpan.Zero)));
        Assert.Null(trace.IntensityAt(new DateTimeOffset(2019, 12, 20, 1, 30, 0, TimeSpan.Zero)));
    }

    [Fact]
    public void Read_MixedSteps_TheStepIsTheCommonLongerOne_SoNoRowLeavesAGap()
    {
        // Thirty-minute rows with a stretch of fifteen-minute ones, as Great Britain's trace has.
        var text = "Time,Carbon Intensity\n2020-01-01 00:00:00,100\n2020-01-01 00:30:00,200\n2020-01-01 01:00:00,300\n2020-01-01 01:15:00,400\n2020-01-01 01:30:00,500\n2020-01-01 02:00:00,600\n";

        var trace = CarbonTraceCsv.Read(new StringReader(text), "GB", Now);

        Assert.Equal(TimeSpan.FromMinutes(30), trace.Resolution);
        Assert.Equal(100, trace.IntensityAt(new DateTimeOffset(2020, 1, 1, 0, 20, 0, TimeSpan.Zero)));
        Assert.Equal(300, trace.IntensityAt(new DateTimeOffset(2020, 1, 1, 1, 10, 0, TimeSpan.Zero)));
        Assert.Equal(400, trace.IntensityAt(new DateTimeOffset(2020, 1, 1, 1, 20, 0, TimeSpan.Zero)));
        Assert.Equal(600, trace.IntensityAt(new DateTimeOffset(2020, 1, 1, 2, 29, 0, TimeSpan.Zero)));
        Assert.NotNull(trace.AverageOver(new DateTimeOffset(2020, 1, 1, 0, 0, 0, TimeSpan.Zero), new DateTimeOffset(2020, 1, 1, 2, 30, 0, TimeSpan.Zero)));
    }

    [Theory]
    [InlineData("Time,Carbon Intensity\n2019-12-20 00:00:00,abc\n", "line 2", "not a carbon intensity")]
    [InlineData("Time,Carbon Intensity\n2019-12-20 00:00:00,-1\n", "line 2", "not a carbon intensity")]
    [InlineData("Time,Carbon Intensity\n2019-12-20 00:30:00,1\n2019-12-20 00:00:00,2\n", "line 3", "increasing time order")]
    [InlineData("Time,Carbon Intensity\n2019-12-20 00:00:00,1\nyesterday,2\n", "line 3", "not a time")]
    [InlineData("Time,Carbon Intensity\n", "no rows", "header")]
    public void Read_BadTrace_NamesTheLine(string text, string where, string what)
    {
        var error = Assert.Throws<FormatException>(() => CarbonTraceCsv.Read(new StringReader(text), "GB", Now));

        Assert.Contains(where, error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ReadFile_NamesTheFileInErrors()
    {
        var path = Path.Combine(Path.GetTempPath(), $"gantry-trace-{Guid.NewGuid():N}.csv");
        File.WriteAllText(path, "Time,Carbon Intensity\n2019-12-20 00:00:00,x\n");
        try
        {
            var error = Assert.Throws<FormatException>(() => CarbonTraceCsv.ReadFile(path, "DE", Now));
            Assert.StartsWith(path + ": line 2", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
