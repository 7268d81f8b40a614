using Gantry.Core.Text;

namespace Gantry.Core.Tests.Text;

public sealed class SizesTests
{
    [Theory]
    [InlineData("0", 0L)]
    [InlineData("none", 0L)]
    [InlineData("off", 0L)]
    [InlineData("65536", 65536L)]
    [InlineData("512k", 512L << 10)]
    [InlineData("4MiB", 4L << 20)]
    [InlineData("4 MB", 4L << 20)]
    [InlineData("4m", 4L << 20)]
    [InlineData("1G", 1L << 30)]
    public void Parse_Forms_AreUnderstood(string text, long bytes) =>
        Assert.Equal(bytes, Sizes.Parse(text));

    [Theory]
    [InlineData("lots")]
    [InlineData("4 TB")]
    [InlineData("-4m")]
    [InlineData("")]
    [InlineData("99999999999999999999g")]
    public void Parse_NotASize_SaysWhatIsExpected(string text)
    {
        var error = Assert.Throws<FormatException>(() => Sizes.Parse(text));

        Assert.StartsWith("expected a size such as 64MiB", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(80L << 30, "80 GiB")]
    [InlineData(3L << 29, "1.5 GiB")]
    [InlineData(512L << 20, "512 MiB")]
    [InlineData(256L << 10, "256 KiB")]
    [InlineData(1000L, "1000 bytes")]
    public void Format_PicksTheLargestWholeUnit(long bytes, string expected) =>
        Assert.Equal(expected, Sizes.Format(bytes));
}
