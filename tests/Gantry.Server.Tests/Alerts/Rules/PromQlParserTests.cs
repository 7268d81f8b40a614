using Gantry.Server.Alerts.Rules;

namespace Gantry.Server.Tests.Alerts.Rules;

/// <summary>The PromQL subset: every accepted form, its normalised PromQL, and where each refused form is refused.</summary>
public sealed class PromQlParserTests
{
    /// <summary>Each supported form and its normalised PromQL (the promtool tests check that Prometheus accepts the latter).</summary>
    public static TheoryData<string, string> SupportedForms { get; } = new()
    {
        { "gantry_gpu_temperature_celsius", "gantry_gpu_temperature_celsius" },
        { "up{job=\"gantry\"}", "up{job=\"gantry\"}" },
        { "m{a=\"1\", b!=\"2\", c=~\"x.*\", d!~\"y|z\"}", "m{a=\"1\", b!=\"2\", c=~\"x.*\", d!~\"y|z\"}" },
        { "m{a='single',b=`raw\\n`,}", "m{a=\"single\", b=\"raw\\\\n\"}" },
        { "m{a=\"q\\\"uote\\\\back\\nline\"}", "m{a=\"q\\\"uote\\\\back\\nline\"}" },
        { "m{a=\"\\x41\\101\\u00e9\\U0001F600\"}", "m{a=\"AAé😀\"}" },
        { "m{a='it\\'s'}", "m{a=\"it's\"}" },
        { "m{}", "m" },
        { "job:gpu_util:avg5m", "job:gpu_util:avg5m" },
        { "max by (node) (m)", "max by (node) (m)" },
        { "max(m) by (node, gpu)", "max by (node, gpu) (m)" },
        { "sum(m)", "sum (m)" },
        { "AVG by (a,) (m)", "avg by (a) (m)" },
        { "min by () (m)", "min (m)" },
        { "sum(max by (node) (m{a=~\"x\"}))", "sum (max by (node) (m{a=~\"x\"}))" },
        { "sum by (on) (m)", "sum by (on) (m)" },
        { "absent(up{job=\"x\"})", "absent(up{job=\"x\"})" },
        { "absent((up))", "absent(up)" },
        { "m > 85", "m > 85" },
        { "m >= 85", "m >= 85" },
        { "m < 1.5", "m < 1.5" },
        { "m <= -3", "m <= -3" },
        { "m == 0", "m == 0" },
        { "m != 1e3", "m != 1000" },
        { "85 < m", "m > 85" },
        { "85 <= m", "m >= 85" },
        { "85 > m", "m < 85" },
        { "85 >= m", "m <= 85" },
        { "0 == m", "m == 0" },
        { "0 != m", "m != 0" },
        { "(m) > (5)", "m > 5" },
        { "((max by (node) (m)) > 5)", "max by (node) (m) > 5" },
        { "m > +Inf", "m > +Inf" },
        { "m < -inf", "m < -Inf" },
        { "m != NaN", "m != NaN" },
        { "m > 0x1F", "m > 31" },
        { "m > 010", "m > 8" },
        { "m > 08", "m > 8" },
        { "m > .5", "m > 0.5" },
        { "m > 5.", "m > 5" },
        { "m > 1E+21", "m > 1E+21" },
        { "m > - 5", "m > -5" },
        { "m > 5 < 10", "m > 5 < 10" },
        { "5 < m < 10", "m > 5 < 10" },
        { "absent(m) == 1", "absent(m) == 1" },
        { "max by (node) (m) > 85 # too hot", "max by (node) (m) > 85" },
        { "\n  max by (node) (\n    m{gpu!=\"3\"}\n  )\n  > 85\n", "max by (node) (m{gpu!=\"3\"}) > 85" },
    };

    [Theory]
    [MemberData(nameof(SupportedForms))]
    public void Parse_SupportedForm_WritesNormalisedPromQlThatParsesToTheSameTree(string text, string normalised)
    {
        var expr = PromQlParser.Parse(text);

        Assert.Equal(normalised, expr.ToString());
        Assert.Equal(expr, PromQlParser.Parse(expr.ToString()!));
    }

    [Fact]
    public void Parse_Comparison_BuildsTheExpectedTree()
    {
        var expr = PromQlParser.Parse("90 <= max(gpu_temp{node=~\"a|b\", gpu!=\"3\"}) by (node)");

        var expected = new CompareExpr(
            new AggregateExpr(AggregateOp.Max, ["node"], new SelectorExpr("gpu_temp", [new LabelMatcher("node", MatchOp.Regex, "a|b"), new LabelMatcher("gpu", MatchOp.NotEqual, "3")])),
            CompareOp.GreaterOrEqual,
            90);
        Assert.Equal(expected, expr);
        Assert.NotEqual(expected with { Threshold = 91 }, expr);
    }

    [Fact]
    public void Parse_RegexMatcher_IsAnchoredAsInPromQl()
    {
        var selector = Assert.IsType<SelectorExpr>(PromQlParser.Parse("m{node=~\"gpu-[0-9]+\"}"));

        Assert.True(selector.Matchers[0].Matches("gpu-12"));
        Assert.False(selector.Matchers[0].Matches("x-gpu-12"));
        Assert.False(selector.Matchers[0].Matches("gpu-12x"));
    }

    [Theory]
    [InlineData("rate(m[5m]) > 1", 1, "function \"rate\" is not supported")]
    [InlineData("m[5m] > 1", 2, "range selectors (\"[5m]\") are not supported; Gantry evaluates instant vectors only")]
    [InlineData("(m)[5m:1m] > 1", 4, "subqueries (\"[5m:1m]\") are not supported")]
    [InlineData("m offset 5m > 1", 3, "offset modifiers are not supported")]
    [InlineData("m @ 1609746000 > 1", 3, "@ modifiers are not supported")]
    [InlineData("m + 1 > 5", 3, "arithmetic (\"+\") is not supported")]
    [InlineData("m * 2", 3, "arithmetic (\"*\") is not supported")]
    [InlineData("-m > 1", 1, "unary \"-\" is only supported before a number")]
    [InlineData("m > bool 5", 5, "the bool modifier is not supported")]
    [InlineData("m > other", 5, "comparing two vectors is not supported")]
    [InlineData("m > on(a) n", 5, "vector matching (\"on\") is not supported")]
    [InlineData("m and n", 3, "set operators (\"and\") are not supported")]
    [InlineData("m{a=\"x\"} > 5 or m", 14, "set operators (\"or\") are not supported")]
    [InlineData("sum without (a) (m)", 5, "\"without\" is not supported; list the labels to keep with by (...)")]
    [InlineData("count by (a) (m)", 1, "aggregation \"count\" is not supported; the supported ones are min, max, avg and sum")]
    [InlineData("topk(3, m)", 1, "aggregation \"topk\" is not supported")]
    [InlineData("", 1, "empty expression")]
    [InlineData("   # only a comment", 1, "empty expression")]
    [InlineData("m{a=~\"(x\"}", 6, "invalid regular expression \"(x\"")]
    [InlineData("m{a=~\"(?=x)\"}", 6, "Prometheus uses RE2")]
    [InlineData("m{a=~\"[[:alpha:]]\"}", 6, "POSIX classes")]
    [InlineData("m{a=~\"(a)\\\\1\"}", 6, "no backreferences")]
    [InlineData("m > 5m", 5, "duration literals (\"5m\") are not supported")]
    [InlineData("{job=\"x\"}", 1, "a selector needs a metric name before \"{\"")]
    [InlineData("5 > 3", 3, "comparing two numbers is not supported")]
    [InlineData("5", 1, "the expression is only a number")]
    [InlineData("sum(m > 5)", 7, "a comparison inside an aggregation is not supported")]
    [InlineData("max(absent(m))", 5, "absent(...) inside an aggregation is not supported")]
    [InlineData("sum(5)", 5, "takes a selector or another aggregation, not a number")]
    [InlineData("sum(m, n)", 6, "\"sum\" takes one argument")]
    [InlineData("max by (node) (m) by (gpu)", 19, "\"by\" is given twice")]
    [InlineData("absent(sum(m))", 8, "absent(...) takes a selector here")]
    [InlineData("m{a:b=\"x\"}", 3, "invalid label name \"a:b\"")]
    [InlineData("max by (a:b) (m)", 9, "invalid label name \"a:b\"")]
    [InlineData("m{__name__=\"n\"}", 3, "cannot also match __name__")]
    [InlineData("m{a=\"x\" b=\"y\"}", 9, "unexpected \"b\"; expected \",\" or \"}\"")]
    [InlineData("m{a=5}", 5, "expected a quoted string")]
    [InlineData("m{a==\"x\"}", 4, "expected =, !=, =~ or !~ after \"a\"")]
    [InlineData("m{a=\"x}", 5, "unterminated string")]
    [InlineData("m{a=\"x\ny\"}", 5, "unterminated string")]
    [InlineData("m{a=\"\\q\"}", 6, "unknown escape sequence \"\\q\"")]
    [InlineData("m{a='\\\"'}", 6, "unknown escape sequence")]
    [InlineData("m > 1e400", 5, "out of range")]
    [InlineData("m > 1_000", 5, "bad number or duration \"1_000\"")]
    [InlineData("m > \"5\"", 5, "a string is not supported here")]
    [InlineData("(m > 1", 7, "unexpected end of expression; expected \")\"")]
    [InlineData("m > 1)", 6, "unexpected \")\"")]
    [InlineData("m >", 4, "unexpected end of expression")]
    [InlineData("by (a) m", 1, "\"by\" must follow an aggregation")]
    [InlineData("ABSENT(m)", 1, "function \"ABSENT\" is not supported")]
    [InlineData("m\n  [5m]", 5, "range selectors")]
    [InlineData("m > 5 $", 7, "unexpected character \"$\"")]
    public void Parse_UnsupportedForm_IsRefusedAtItsFirstCharacter(string text, int column, string phrase)
    {
        var error = Assert.Throws<AlertRuleException>(() => PromQlParser.Parse(text));

        Assert.Equal(column, error.Column);
        Assert.Null(error.Line);
        Assert.Contains(phrase, error.Problem, StringComparison.Ordinal);
        Assert.StartsWith($"column {column}: ", error.Message, StringComparison.Ordinal);
    }
}
