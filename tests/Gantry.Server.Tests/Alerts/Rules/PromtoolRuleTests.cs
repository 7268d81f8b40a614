using System.Diagnostics;
using System.Globalization;
using System.Text;
using Gantry.Server.Alerts.Rules;
using Gantry.Testing;

namespace Gantry.Server.Tests.Alerts.Rules;

/// <summary>
/// The exported rule file against Prometheus' own tool: <c>promtool check rules</c> accepts it, and
/// <c>promtool test rules</c> fires its alerts, with the labels and the annotations <see cref="AlertTemplate"/>
/// expands, at the times Gantry's semantics say.
/// </summary>
public sealed class PromtoolRuleTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-rules-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task Write_EveryForm_PassesPromtoolCheckRules()
    {
        var groups = RuleFile.Parse(RuleFileTests.Everything, RuleOrigin.File);
        var path = Path.Combine(_dir, "rules.yml");
        await File.WriteAllTextAsync(path, RuleFile.Write(groups, TimeSpan.FromMinutes(1)));

        var (code, output) = await PromtoolAsync("check", "rules", path);

        Assert.True(code == 0, output);
        Assert.Contains("SUCCESS: 8 rules found", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BuiltInRules_Exported_PassPromtoolCheckRules()
    {
        var groups = RuleFile.Parse(BuiltInRules.Yaml, RuleOrigin.BuiltIn);
        var path = Path.Combine(_dir, "builtin.yml");
        await File.WriteAllTextAsync(path, RuleFile.Write(groups, TimeSpan.Zero));

        var (code, output) = await PromtoolAsync("check", "rules", path);

        Assert.True(code == 0, output);
        Assert.Contains($"SUCCESS: {groups[0].Rules.Count} rules found", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Write_EverySupportedExpression_IsPromQlThatPromtoolAccepts()
    {
        // Each form as written and as Gantry normalises it: Prometheus must read both, so nothing the
        // subset accepts is foreign to PromQL, and every export parses.
        var rules = new List<AlertRule>();
        foreach (var row in PromQlParserTests.SupportedForms)
        {
            var text = (string)row[0];
            var normalised = PromQlParser.Parse(text);
            var asWritten = new VerbatimExpr(text.Trim());
            rules.Add(new AlertRule { Name = $"AsWritten{rules.Count}", ExprText = text, Expr = asWritten });
            rules.Add(new AlertRule { Name = $"Normalised{rules.Count}", ExprText = text, Expr = normalised });
        }

        var path = Path.Combine(_dir, "forms.yml");
        await File.WriteAllTextAsync(path, RuleFile.Write([new RuleGroup("forms", null, rules, RuleOrigin.Api)], TimeSpan.Zero));

        var (code, output) = await PromtoolAsync("check", "rules", path);

        Assert.True(code == 0, output);
        Assert.True(output.Contains($"SUCCESS: {rules.Count} rules found", StringComparison.Ordinal), output);
    }

    [Fact]
    public async Task Write_OddNamesAndStrings_PassesPromtoolCheckRules()
    {
        var group = new RuleGroup("odd \"quoted\" \\ name: {x} # not a comment", TimeSpan.FromMilliseconds(1500), [
            new AlertRule
            {
                Name = "Odd:name_1",
                ExprText = "",
                Expr = PromQlParser.Parse("m{a=\"tab\\there\", b=~\"x\\\\d+|(?i:y)\", c!=\"line\\nbreak\", d!~\"é😀\\u2028\"} != NaN"),
                For = TimeSpan.FromDays(400),
                Labels = new Dictionary<string, string> { ["yes"] = "true", ["on"] = "null", ["hash"] = "# x: y", ["t"] = "{{ .Labels.a }}" },
                Annotations = new Dictionary<string, string> { ["multi"] = "line 1\nline 2\r\n\t{{- $labels.a -}} \"q\" \\ 'q'\u0001\u0085\u2028😀 {{ .Value | printf \"%.3e%%\" }}" },
            },
        ], RuleOrigin.Api);
        var path = Path.Combine(_dir, "odd.yml");
        await File.WriteAllTextAsync(path, RuleFile.Write([group], TimeSpan.Zero));

        var (code, output) = await PromtoolAsync("check", "rules", path);

        Assert.True(code == 0, output);
    }

    [Fact]
    public async Task Write_Rules_FireInPromtoolTestRulesAsGantryExpects()
    {
        var groups = RuleFile.Parse("""
            groups:
              - name: gpu
                interval: 1m
                rules:
                  - alert: GantryGpuHot
                    expr: gantry_gpu_temperature_celsius{gpu!="3", node=~"a|b"} > 85
                    for: 2m
                    labels:
                      severity: warning
                      node_alias: "{{ $labels.node }}-gpu"
                    annotations:
                      summary: "GPU {{ $labels.gpu }} on {{ $labels.node }} is at {{ $value }} °C"
                      description: '{{ .Value | printf "%.1f" }} ({{ humanize .Value }}) on {{ index .Labels "node" }}'
                  - alert: GantryNodeHot
                    expr: 90 <= max by (node) (gantry_gpu_temperature_celsius{gpu!="3"})
                    labels: { severity: critical }
                    annotations:
                      summary: "{{ $labels.node }} peaked at {{ $value }} °C [{{ $labels.gpu }}]"
                  - alert: GantryGpuIdle
                    expr: gantry_gpu_util_ratio{node="a"} < 0.1
                    keep_firing_for: 5m
                    annotations:
                      utilisation: "{{ $value | humanizePercentage }}"
                  - alert: GantryGpuIdleBrief
                    expr: 0.1 > gantry_gpu_util_ratio{node="a"}
                    annotations:
                      utilisation: "  {{- $value | humanizePercentage -}}  "
              - name: presence
                interval: 1m
                rules:
                  - alert: GantryExporterAbsent
                    expr: absent(gantry_up{job="gantry"})
                    annotations:
                      summary: "{{ $labels.job }} is absent ({{ $value }})"
            """, RuleOrigin.File);
        var rules = groups.SelectMany(g => g.Rules).ToDictionary(r => r.Name, StringComparer.Ordinal);

        // The brief rule has no keep_firing_for of its own: the minimum given to Write keeps it firing 2m.
        await File.WriteAllTextAsync(Path.Combine(_dir, "rules.yml"), RuleFile.Write(groups, TimeSpan.FromMinutes(2)));

        var gpu0 = LabelSet.Of("node", "a", "gpu", "0");
        var test = new StringBuilder("""
            rule_files:
              - rules.yml
            evaluation_interval: 1m
            tests:
              - interval: 1m
                input_series:
                  - series: 'gantry_gpu_temperature_celsius{node="a", gpu="0"}'
                    values: '80 84 86 87 88 89 91.5 91.5 91.5 91.5 91.5'
                  - series: 'gantry_gpu_temperature_celsius{node="a", gpu="3"}'
                    values: '95+0x10'
                  - series: 'gantry_gpu_temperature_celsius{node="b", gpu="0"}'
                    values: '70+0x10'
                  - series: 'gantry_gpu_util_ratio{node="a", gpu="0"}'
                    values: '0.5 0.05 0.05 stale'
                  - series: 'gantry_up{job="other"}'
                    values: '1+0x10'
                alert_rule_test:

            """);

        // Crosses 85 at 2m: pending until `for` (2m) has passed, then firing; gpu 3 is left out by its matcher.
        Expect(test, rules["GantryGpuHot"], "2m");
        Expect(test, rules["GantryGpuHot"], "4m", (gpu0, 88));
        Expect(test, rules["GantryGpuHot"], "7m", (gpu0, 91.5));

        // "90 <= max by (node) (…)" keeps node a's maximum once it reaches 90, with only the node label.
        Expect(test, rules["GantryNodeHot"], "5m");
        Expect(test, rules["GantryNodeHot"], "6m", (LabelSet.Of("node", "a"), 91.5));

        // The series goes stale at 3m: keep_firing_for keeps the alert (5m: until 8m; the 2m minimum: until 5m).
        Expect(test, rules["GantryGpuIdle"], "0m");
        Expect(test, rules["GantryGpuIdle"], "1m", (gpu0, 0.05));
        Expect(test, rules["GantryGpuIdle"], "7m", (gpu0, 0.05));
        Expect(test, rules["GantryGpuIdle"], "8m");
        Expect(test, rules["GantryGpuIdleBrief"], "4m", (gpu0, 0.05));
        Expect(test, rules["GantryGpuIdleBrief"], "5m");

        // absent() labels its one sample with the selector's equality matchers.
        Expect(test, rules["GantryExporterAbsent"], "1m", (LabelSet.Of("job", "gantry"), 1));

        var testPath = Path.Combine(_dir, "test.yml");
        await File.WriteAllTextAsync(testPath, test.ToString());

        var (code, output) = await PromtoolAsync("test", "rules", testPath);

        Assert.True(code == 0, output + "\n--- rules.yml\n" + await File.ReadAllTextAsync(Path.Combine(_dir, "rules.yml")) + "\n--- test.yml\n" + test);
    }

    [Fact]
    public async Task Expand_ManyValues_PrintsWhatPrometheusPrints()
    {
        // Values of every magnitude, and ties for the half-to-even rounding of %.Nf and %.4g.
        var random = new Random(20240611);
        var values = new List<double> { 0, -0.0, double.NaN, double.PositiveInfinity, double.NegativeInfinity, 0.5, 1.5, 2.5, -2.5, 0.125, 0.375, 1.0005, 12345, 99995, 999.95, 1e-300, 5e-324, double.MaxValue };
        for (var i = 0; values.Count < 160; i++)
        {
            var mantissa = random.NextDouble() * (random.Next(2) == 0 ? 1 : -1);
            var exponent = random.Next(-25, 26);
            values.Add(i % 3 == 0 ? Math.Round(mantissa * 1000, 1) * Math.Pow(10, exponent % 6) : mantissa * Math.Pow(10, exponent));
        }

        const string Template = "v={{ $value }} h={{ $value | humanize }} p={{ $value | humanizePercentage }} f={{ $value | printf \"%.2f\" }} f0={{ $value | printf \"%.0f\" }} e={{ $value | printf \"%.3e\" }} g={{ $value | printf \"%.3g\" }}";
        var rule = new AlertRule { Name = "Value", ExprText = "gantry_value", Expr = PromQlParser.Parse("gantry_value"), Annotations = new Dictionary<string, string> { ["all"] = Template } };
        await File.WriteAllTextAsync(Path.Combine(_dir, "rules.yml"), RuleFile.Write([new RuleGroup("values", null, [rule], RuleOrigin.Api)], TimeSpan.Zero));

        var test = new StringBuilder("rule_files: [rules.yml]\nevaluation_interval: 1m\ntests:\n  - interval: 1m\n    input_series:\n");
        for (var i = 0; i < values.Count; i++)
        {
            var text = double.IsNaN(values[i]) ? "NaN" : double.IsPositiveInfinity(values[i]) ? "Inf" : double.IsNegativeInfinity(values[i]) ? "-Inf" : values[i].ToString("R", CultureInfo.InvariantCulture);
            test.Append(CultureInfo.InvariantCulture, $"      - series: 'gantry_value{{i=\"{i}\"}}'\n        values: '{text}'\n");
        }

        test.Append("    alert_rule_test:\n");
        Expect(test, rule, "0m", [.. values.Select((v, i) => (LabelSet.Of("i", i.ToString(CultureInfo.InvariantCulture)), v))]);
        var testPath = Path.Combine(_dir, "test.yml");
        await File.WriteAllTextAsync(testPath, test.ToString());

        var (code, output) = await PromtoolAsync("test", "rules", testPath);

        Assert.True(code == 0, output);
    }

    /// <summary>An alert_rule_test entry: at <paramref name="at"/>, <paramref name="rule"/> fires exactly <paramref name="alerts"/> (series labels, value).</summary>
    private static void Expect(StringBuilder test, AlertRule rule, string at, params (LabelSet Series, double Value)[] alerts)
    {
        test.Append("      - eval_time: ").Append(at).Append('\n');
        test.Append("        alertname: ").Append(rule.Name).Append('\n');
        if (alerts.Length == 0)
        {
            test.Append("        exp_alerts: []\n");
            return;
        }

        test.Append("        exp_alerts:\n");
        foreach (var (series, value) in alerts)
        {
            var labels = series.Pairs.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
            foreach (var (name, template) in rule.Labels)
            {
                labels[name] = AlertTemplate.Expand(template, series, value);
            }

            test.Append("          - exp_labels:\n");
            foreach (var (name, text) in labels)
            {
                test.Append("              ").Append(name).Append(": ").Append(Quote(text)).Append('\n');
            }

            test.Append("            exp_annotations:\n");
            foreach (var (name, template) in rule.Annotations)
            {
                test.Append("              ").Append(name).Append(": ").Append(Quote(AlertTemplate.Expand(template, series, value))).Append('\n');
            }
        }
    }

    private static string Quote(string text) =>
        "\"" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    private async Task<(int Code, string Output)> PromtoolAsync(params string[] arguments)
    {
        var start = new ProcessStartInfo(Tools.Require("promtool", "prometheus"))
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = _dir,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;
        return (process.ExitCode, string.Create(CultureInfo.InvariantCulture, $"exit {process.ExitCode}\n{output}"));
    }

    /// <summary>An expression written out as given, so promtool judges the original text too.</summary>
    private sealed record VerbatimExpr(string Text) : AlertExpr
    {
        public override string ToString() => Text;
    }
}
