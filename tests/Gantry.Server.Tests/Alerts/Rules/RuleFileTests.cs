using Gantry.Server.Alerts.Rules;

namespace Gantry.Server.Tests.Alerts.Rules;

/// <summary>Prometheus rule files: what is read, where each refusal points (line and column), and Write → Parse.</summary>
public sealed class RuleFileTests
{
    /// <summary>Every form the subset has, as a person would write it; the promtool tests export it too.</summary>
    internal const string Everything = """
        # Gantry's alert rules, in Prometheus' rule-file shape.
        groups:
          - name: gpu
            interval: 30s
            rules:
              - alert: GantryGpuHot
                expr: gantry_gpu_temperature_celsius{node=~"a|b", gpu!="3"} > 85
                for: 5m
                keep_firing_for: 10m
                labels:
                  severity: warning
                  team: "gpu-{{ $labels.node }}"
                annotations:
                  summary: 'GPU {{ $labels.gpu }} on {{ $labels.node }} is at {{ $value }} °C'
                  description: >-
                    {{ $value | humanize }} / {{ $value | printf "%.1f" }} /
                    {{ index $labels "node" }} / {{ humanize $value }}
              - alert: GantryNodeHot
                expr: |
                  90 <= max by (node) (
                    gantry_gpu_temperature_celsius{gpu!~"9.*", node="a"}
                  )
                labels: { severity: critical }
              - alert: GantryAvgHot
                expr: avg(gantry_gpu_temperature_celsius) by (node) >= 80
              - alert: GantryMinCold
                expr: min(gantry_gpu_temperature_celsius) < 10
              - alert: GantrySumPower
                expr: sum by (node, rack) (gantry_gpu_power_watts) <= 5000
              - alert: GantrySumAll
                expr: sum(max by (node) (gantry_gpu_power_watts)) == 0
              - alert: GantryNotOne
                expr: gantry_up{job="gantry"} != 1
                annotations:
                  ratio: "{{ $value | humanizePercentage }}"
          - name: presence
            rules:
              - alert: GantryExporterAbsent
                expr: absent(gantry_up{job="gantry"})
                for: 1h30m
                annotations:
                  summary: "{{ $labels.job }} has sent nothing for {{ $value }} cycles"
        """;

    [Fact]
    public void Parse_EveryForm_ReadsGroupsRulesAndFields()
    {
        var groups = RuleFile.Parse(Everything, RuleOrigin.File);

        Assert.Equal(["gpu", "presence"], groups.Select(g => g.Name));
        Assert.All(groups, g => Assert.Equal(RuleOrigin.File, g.Origin));
        Assert.Equal(TimeSpan.FromSeconds(30), groups[0].Interval);
        Assert.Null(groups[1].Interval);
        Assert.Equal(7, groups[0].Rules.Count);

        var hot = groups[0].Rules[0];
        Assert.Equal("GantryGpuHot", hot.Name);
        Assert.Equal("gantry_gpu_temperature_celsius{node=~\"a|b\", gpu!=\"3\"} > 85", hot.ExprText);
        Assert.IsType<CompareExpr>(hot.Expr);
        Assert.Equal(TimeSpan.FromMinutes(5), hot.For);
        Assert.Equal(TimeSpan.FromMinutes(10), hot.KeepFiringFor);
        Assert.Equal("warning", hot.Labels["severity"]);
        Assert.Equal("gpu-{{ $labels.node }}", hot.Labels["team"]);
        Assert.Equal("{{ $value | humanize }} / {{ $value | printf \"%.1f\" }} / {{ index $labels \"node\" }} / {{ humanize $value }}", hot.Annotations["description"]);

        var node = groups[0].Rules[1];
        Assert.Equal("max by (node) (gantry_gpu_temperature_celsius{gpu!~\"9.*\", node=\"a\"}) >= 90", node.Expr.ToString());
        Assert.Equal("critical", node.Labels["severity"]);
        Assert.Equal(TimeSpan.Zero, node.For);

        var absent = groups[1].Rules[0];
        Assert.Equal(new AbsentExpr(new SelectorExpr("gantry_up", [new LabelMatcher("job", MatchOp.Equal, "gantry")])), absent.Expr);
        Assert.Equal(TimeSpan.FromMinutes(90), absent.For);
    }

    [Fact]
    public void Write_ThenParse_RoundTripsEveryRule()
    {
        var groups = RuleFile.Parse(Everything, RuleOrigin.Api);
        var odd = new RuleGroup("odd \"quoted\" \\ name: {x} # not a comment", TimeSpan.FromMinutes(1), [
            new AlertRule
            {
                Name = "Odd",
                ExprText = "m > 1",
                Expr = PromQlParser.Parse("m{a=\"tab\\there\", b=~\"x\\\\d+\", c!=\"line\\nbreak\", d=\"é😀\\u2028\"} > 1"),
                For = TimeSpan.FromMilliseconds(1500),
                Labels = new Dictionary<string, string> { ["yes"] = "true", ["on"] = "null", ["empty"] = "", ["hash"] = "# x: y" },
                Annotations = new Dictionary<string, string> { ["multi"] = "line 1\nline 2\r\n\t{{ $labels.a }} \"q\" \\ 'q'\u0001\u0085\u2028😀" },
            },
        ], RuleOrigin.Api);
        var empty = new RuleGroup("empty", null, [], RuleOrigin.Api);
        IReadOnlyList<RuleGroup> original = [.. groups, odd, empty];

        var written = RuleFile.Write(original, TimeSpan.Zero);
        var read = RuleFile.Parse(written, RuleOrigin.Api);

        Assert.Equal(original.Count, read.Count);
        for (var g = 0; g < original.Count; g++)
        {
            Assert.Equal(original[g].Name, read[g].Name);
            Assert.Equal(original[g].Interval, read[g].Interval);
            Assert.Equal(original[g].Rules.Count, read[g].Rules.Count);
            for (var r = 0; r < original[g].Rules.Count; r++)
            {
                AssertSameRule(original[g].Rules[r], read[g].Rules[r]);
            }
        }

        Assert.Equal(written, RuleFile.Write(read, TimeSpan.Zero));
    }

    [Fact]
    public void Write_KeepFiringFor_IsRaisedToTheMinimumAndLeftOutWhenZero()
    {
        var groups = RuleFile.Parse(Everything, RuleOrigin.File);

        var plain = RuleFile.Write(groups, TimeSpan.Zero);
        var raised = RuleFile.Write(groups, TimeSpan.FromMinutes(15));

        Assert.Single(plain.Split('\n'), l => l.Contains("keep_firing_for", StringComparison.Ordinal));
        Assert.Contains("keep_firing_for: 10m\n", plain, StringComparison.Ordinal);
        var read = RuleFile.Parse(raised, RuleOrigin.File);
        Assert.All(read.SelectMany(g => g.Rules), r => Assert.Equal(TimeSpan.FromMinutes(15), r.KeepFiringFor));
        Assert.Equal(TimeSpan.FromMinutes(20), RuleFile.Parse(RuleFile.Write(read, TimeSpan.FromMinutes(20)), RuleOrigin.File)[0].Rules[0].KeepFiringFor);
    }

    [Fact]
    public void Write_Rule_NormalisesTheExpressionAndDurations()
    {
        var groups = RuleFile.Parse("""
            groups:
            - name: g
              interval: 90s
              rules:
              - alert: A
                expr: 85 < max(m{a='x'}) by (node)   # hot
                for: 5400s
            """, RuleOrigin.File);

        var written = RuleFile.Write(groups, TimeSpan.Zero);

        Assert.Equal("""
            groups:
              - name: "g"
                interval: 1m30s
                rules:
                  - alert: "A"
                    expr: "max by (node) (m{a=\"x\"}) > 85"
                    for: 1h30m

            """.Replace("\r\n", "\n", StringComparison.Ordinal), written);
    }

    [Theory]
    [InlineData("groups:\n  - name: [a\n", 3, 1, "invalid YAML")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    expr: up == 1\n", 6, 5, "Duplicate key")]
    [InlineData("groups:\n\t- name: g\n", 1, 1, "found invalid tab as indentation")] // YamlDotNet marks the mapping the tab breaks
    [InlineData("", 1, 1, "the rule file is empty")]
    [InlineData("# nothing\n", 1, 1, "the rule file is empty")]
    [InlineData("groups: []\n", 1, 9, "no groups")]
    [InlineData("groups:\n", 1, 8, "no groups")]
    [InlineData("group:\n- name: g\n", 1, 1, "unknown key \"group\"")]
    [InlineData("- name: g\n", 1, 1, "the rule file must be a mapping")]
    [InlineData("groups:\n  name: g\n", 2, 3, "\"groups\" must be a list")]
    [InlineData("groups:\n- name: g\n  rules: {}\n", 3, 10, "\"rules\" must be a list")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n- name: g\n", 6, 9, "group name \"g\" is repeated")]
    [InlineData("groups:\n- rules: []\n", 2, 3, "a group needs a \"name\"")]
    [InlineData("groups:\n- name: \"\"\n", 2, 9, "must not be empty")]
    [InlineData("groups:\n- name: g\n  limit: 10\n", 3, 3, "limit is not supported")]
    [InlineData("groups:\n- name: g\n  query_offset: 1m\n", 3, 3, "unknown key \"query_offset\" in a group")]
    [InlineData("groups:\n- name: g\n  interval: 1minute\n", 3, 13, "\"interval\": invalid duration \"1minute\"")]
    [InlineData("groups:\n- name: g\n  rules:\n  - record: job:up:sum\n    expr: sum(up)\n", 4, 5, "recording rules are not supported; Gantry evaluates alerting rules")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n    severity: page\n", 6, 5, "unknown key \"severity\" in a rule")]
    [InlineData("groups:\n- name: g\n  rules:\n  - expr: up == 0\n", 4, 5, "a rule needs an \"alert\" name")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n", 4, 5, "rule \"A\" needs an \"expr\"")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr:\n", 5, 10, "needs an \"expr\"")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A-B\n    expr: up\n", 4, 12, "invalid alert name \"A-B\"")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: [A]\n    expr: up\n", 4, 12, "\"alert\" must be a string, found a list")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    for: 5 minutes\n", 6, 10, "\"for\": invalid duration")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    keep_firing_for: -1m\n", 6, 22, "\"keep_firing_for\": invalid duration")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      a-b: x\n", 7, 7, "invalid label name \"a-b\"")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      __x: y\n", 7, 7, "reserved")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels: [a]\n", 6, 13, "labels must be a mapping")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      x: {a: b}\n", 7, 10, "\"x\" must be a string, found a mapping")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    annotations:\n      s: \"at {{ $foo }}\"\n", 7, 17, "unsupported template action")]
    [InlineData("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up\n    labels:\n      s: at {{ $value | nope }}\n", 7, 25, "unsupported function \"nope\"")]
    public void Parse_BadFile_NamesLineAndColumn(string yaml, int line, int column, string phrase)
    {
        var error = Assert.Throws<AlertRuleException>(() => RuleFile.Parse(yaml, RuleOrigin.File));

        Assert.Contains(phrase, error.Problem, StringComparison.Ordinal);
        Assert.Equal((line, column), (error.Line, error.Column));
        Assert.StartsWith($"line {line}, column {column}: ", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("    expr: up[5m] == 0", 13, "range selectors (\"[5m]\")")]
    [InlineData("    expr: \"up{job=\\\"a\\\"}[5m]\"", 25, "range selectors (\"[5m]\")")]
    [InlineData("    expr: 'up{job=''a''}[5m]'", 25, "range selectors (\"[5m]\")")]
    [InlineData("    expr: 'up{job=\"a\"}[5m]'", 23, "range selectors (\"[5m]\")")]
    [InlineData("    expr: \"up{job=\\u0022a\\u0022} offset 1m\"", 34, "offset modifiers")]
    [InlineData("    expr: &e rate(up[5m]) > 0", 14, "function \"rate\"")]
    [InlineData("    expr: !!str up > bool 0", 22, "bool modifier")]
    [InlineData("    expr: up >", 15, "unexpected end of expression")]
    [InlineData("    expr: \"up >\"", 16, "unexpected end of expression")]
    public void Parse_BadExpressionOnOneLine_PointsIntoTheScalar(string exprLine, int column, string phrase)
    {
        var yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n" + exprLine + "\n";

        var error = Assert.Throws<AlertRuleException>(() => RuleFile.Parse(yaml, RuleOrigin.File));

        Assert.Contains(phrase, error.Problem, StringComparison.Ordinal);
        Assert.Equal((5, column), (error.Line, error.Column));
    }

    [Fact]
    public void Parse_BadExpressionInLiteralBlock_PointsAtItsLine()
    {
        const string yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: |\n      max by (node) (up)\n        > 0 and up\n";

        var error = Assert.Throws<AlertRuleException>(() => RuleFile.Parse(yaml, RuleOrigin.File));

        Assert.Contains("set operators (\"and\")", error.Problem, StringComparison.Ordinal);
        Assert.Equal((7, 13), (error.Line, error.Column));
    }

    [Fact]
    public void Parse_BadExpressionInFoldedBlock_PointsAtItsLine()
    {
        const string yaml = "groups:\n- name: g\n  rules:\n  - alert: A\n    expr: >-\n      max by (node)\n      (up[5m])\n      > 0\n";

        var error = Assert.Throws<AlertRuleException>(() => RuleFile.Parse(yaml, RuleOrigin.File));

        Assert.Contains("range selectors", error.Problem, StringComparison.Ordinal);
        Assert.Equal((7, 10), (error.Line, error.Column));
    }

    [Fact]
    public void Parse_BadExpressionInMultiLinePlainScalar_PointsAtItsLine()
    {
        const string yaml = "groups:\r\n- name: g\r\n  rules:\r\n  - alert: A\r\n    expr: max by (node)\r\n      (up)\r\n      > bool 0\r\n";

        var error = Assert.Throws<AlertRuleException>(() => RuleFile.Parse(yaml, RuleOrigin.File));

        Assert.Contains("bool modifier", error.Problem, StringComparison.Ordinal);
        Assert.Equal((7, 9), (error.Line, error.Column));
    }

    [Fact]
    public void Parse_NullsAndEmptyRules_AreAccepted()
    {
        var groups = RuleFile.Parse("groups:\n- name: a\n  interval:\n  rules:\n- name: b\n  rules:\n  - alert: A\n    expr: up == 0\n    for: ~\n    labels:\n    annotations: null\n", RuleOrigin.File);

        Assert.Empty(groups[0].Rules);
        Assert.Null(groups[0].Interval);
        var rule = Assert.Single(groups[1].Rules);
        Assert.Equal(TimeSpan.Zero, rule.For);
        Assert.Empty(rule.Labels);
        Assert.Empty(rule.Annotations);
    }

    [Fact]
    public void Parse_RepeatedRuleNames_AreAllowedAsInPrometheus()
    {
        var groups = RuleFile.Parse("groups:\n- name: g\n  rules:\n  - alert: A\n    expr: up == 0\n  - alert: A\n    expr: absent(up)\n", RuleOrigin.File);

        Assert.Equal(2, groups[0].Rules.Count);
    }

    private static void AssertSameRule(AlertRule expected, AlertRule actual)
    {
        Assert.Equal(expected.Name, actual.Name);
        Assert.Equal(expected.Expr, actual.Expr);
        Assert.Equal(expected.Expr.ToString(), actual.ExprText);
        Assert.Equal(expected.For, actual.For);
        Assert.Equal(expected.KeepFiringFor, actual.KeepFiringFor);
        Assert.Equal(expected.Labels.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Labels.OrderBy(p => p.Key, StringComparer.Ordinal));
        Assert.Equal(expected.Annotations.OrderBy(p => p.Key, StringComparer.Ordinal), actual.Annotations.OrderBy(p => p.Key, StringComparer.Ordinal));
    }
}
