using System.Text;
using Gantry.Telemetry.Apps;

namespace Gantry.Telemetry.Tests.Apps;

public sealed class PrometheusTextParserTests
{
    private sealed record Parsed(string Name, string Labels, double Value, long? Timestamp);

    private static List<Parsed> ParseAll(string text)
    {
        var result = new List<Parsed>();
        foreach (var s in PrometheusTextParser.EnumerateSamples(Encoding.UTF8.GetBytes(text)))
        {
            result.Add(new Parsed(Encoding.UTF8.GetString(s.Name), Encoding.UTF8.GetString(s.Labels), s.Value, s.TimestampMilliseconds));
        }

        return result;
    }

    private static Parsed Single(string line) => Assert.Single(ParseAll(line));

    [Fact]
    public void EnumerateSamples_CommentsAndBlankLines_Skipped()
    {
        var samples = ParseAll("""
            # HELP vllm:prompt_tokens_total Number of prefill tokens processed.
            # TYPE vllm:prompt_tokens_total counter

            vllm:prompt_tokens_total{model_name="m"} 12

            #no space comment
            up 1
            # EOF
            """);

        Assert.Equal([new Parsed("vllm:prompt_tokens_total", "model_name=\"m\"", 12, null), new Parsed("up", "", 1, null)], samples);
    }

    [Fact]
    public void EnumerateSamples_WindowsLineEnds_Parsed()
    {
        var samples = ParseAll("# TYPE a counter\r\na 1\r\nb{x=\"y\"} 2\r\n\r\n");

        Assert.Equal([new Parsed("a", "", 1, null), new Parsed("b", "x=\"y\"", 2, null)], samples);
    }

    [Fact]
    public void EnumerateSamples_NoTrailingNewline_LastLineParsed()
    {
        Assert.Equal(2, ParseAll("a 1\nb 2").Count);
    }

    [Fact]
    public void EnumerateSamples_Empty_NoSamples()
    {
        Assert.Empty(ParseAll(""));
        Assert.Empty(ParseAll("\n\n\r\n"));
    }

    [Fact]
    public void EnumerateSamples_MalformedLine_SkippedAloneRestKept()
    {
        var samples = ParseAll("a 1\nb{x=\"unterminated} 2\nc{x=y} 3\n{} 4\n9bad 5\nd\ne notanumber\nf 6 notatimestamp\ng 7\n");

        Assert.Equal(["a", "g"], samples.Select(s => s.Name));
    }

    [Theory]
    [InlineData("m 1.5e+06", 1.5e6)]
    [InlineData("m 1.5E6", 1.5e6)]
    [InlineData("m 2e-3", 0.002)]
    [InlineData("m -12.25", -12.25)]
    [InlineData("m +3", 3)]
    [InlineData("m 0", 0)]
    [InlineData("m 123456789012345678", 123456789012345678d)]
    [InlineData("m +Inf", double.PositiveInfinity)]
    [InlineData("m Inf", double.PositiveInfinity)]
    [InlineData("m -Inf", double.NegativeInfinity)]
    public void TryParseSample_Values_Parsed(string line, double expected)
    {
        Assert.Equal(expected, Single(line).Value);
    }

    [Fact]
    public void TryParseSample_NaN_Parsed()
    {
        Assert.True(double.IsNaN(Single("m NaN").Value));
    }

    [Fact]
    public void TryParseSample_Timestamp_Parsed()
    {
        Assert.Equal(new Parsed("m", "a=\"b\"", 3, 1718000000000), Single("m{a=\"b\"} 3 1718000000000"));
        Assert.Equal(-5, Single("m 3 -5").Timestamp);
    }

    [Fact]
    public void TryParseSample_TabsAndExtraSpaces_Tolerated()
    {
        Assert.Equal(new Parsed("m", " a = \"b\" , ", 3, 17), Single("  m\t{ a = \"b\" , }  \t3 \t 17  "));
    }

    [Fact]
    public void TryParseSample_Exemplar_Ignored()
    {
        Assert.Equal(new Parsed("m_total", "", 5, null), Single("m_total 5 # {trace_id=\"abc\"} 1.0"));
    }

    [Fact]
    public void TryParseSample_LabelValuesWithCommasBracesAndQuotes_KeptWhole()
    {
        var sample = Single("m{path=\"/a,b}\",quote=\"say \\\"hi\\\"\",slash=\"c:\\\\d\",nl=\"x\\ny\",} 1");

        Assert.Equal(1, sample.Value);
        var labels = Encoding.UTF8.GetBytes(sample.Labels);
        Assert.Equal("/a,b}", Label(labels, "path"));
        Assert.Equal("say \"hi\"", Label(labels, "quote"));
        Assert.Equal("c:\\d", Label(labels, "slash"));
        Assert.Equal("x\ny", Label(labels, "nl"));
        Assert.False(PrometheusTextParser.TryGetLabel(labels, "missing"u8, out _));
    }

    [Fact]
    public void TryParseSample_Utf8LabelValue_Decoded()
    {
        var sample = Single("m{model=\"ünï-çødé 模型\"} 1");

        Assert.Equal("ünï-çødé 模型", Label(Encoding.UTF8.GetBytes(sample.Labels), "model"));
    }

    [Fact]
    public void TryParseSample_EmptyLabelSet_Accepted()
    {
        Assert.Equal(new Parsed("m", "", 2, null), Single("m{} 2"));
    }

    [Theory]
    [InlineData("prompt", "prompt", true)]
    [InlineData("prompt", "prompts", false)]
    [InlineData("prompt", "promp", false)]
    [InlineData("a\\\"b", "a\"b", true)]
    [InlineData("a\\\\b", "a\\b", true)]
    [InlineData("a\\nb", "a\nb", true)]
    [InlineData("a\\nb", "a\\nb", false)]
    [InlineData("a\\\"b", "a\"bc", false)]
    public void LabelValueEquals_Escapes_ComparedDecoded(string raw, string expected, bool equal)
    {
        Assert.Equal(equal, PrometheusTextParser.LabelValueEquals(Encoding.UTF8.GetBytes(raw), Encoding.UTF8.GetBytes(expected)));
    }

    [Fact]
    public void HasLabel_MatchesDecodedValue()
    {
        var line = "model_tokens_total{model=\"a,type=\\\"prompt\\\"\",type=\"generated\"} 4"u8;

        Assert.True(PrometheusTextParser.TryParseSample(line, out var sample));
        Assert.True(sample.HasLabel("type"u8, "generated"u8));
        Assert.False(sample.HasLabel("type"u8, "prompt"u8));
    }

    private static string Label(byte[] labels, string name)
    {
        Assert.True(PrometheusTextParser.TryGetLabel(labels, Encoding.UTF8.GetBytes(name), out var raw));
        return PrometheusTextParser.DecodeLabelValue(raw);
    }
}
