using System.Globalization;
using Gantry.Server.Alerts.Rules;

namespace Gantry.Server.Tests.Alerts.Rules;

/// <summary>Alert templates: the supported Go-template forms, expanded as Prometheus expands them, and the refused ones.</summary>
public sealed class AlertTemplateTests
{
    private const string AllFormats =
        "v={{ $value }} h={{ $value | humanize }} p={{ $value | humanizePercentage }} f2={{ $value | printf \"%.2f\" }} f0={{ $value | printf \"%.0f\" }} f1={{ $value | printf \"%.1f\" }}";

    private static readonly LabelSet Labels = LabelSet.Of("node", "a", "gpu", "0");

    /// <summary>Each expected line is what Prometheus 2.42 (promtool test rules) printed for <see cref="AllFormats"/> at that value.</summary>
    [Theory]
    [InlineData("1234567", "v=1.234567e+06 h=1.235M p=1.235e+08% f2=1234567.00 f0=1234567 f1=1234567.0")]
    [InlineData("1000000", "v=1e+06 h=1M p=1e+08% f2=1000000.00 f0=1000000 f1=1000000.0")]
    [InlineData("123456", "v=123456 h=123.5k p=1.235e+07% f2=123456.00 f0=123456 f1=123456.0")]
    [InlineData("0.0001", "v=0.0001 h=100u p=0.01% f2=0.00 f0=0 f1=0.0")]
    [InlineData("0.00001", "v=1e-05 h=10u p=0.001% f2=0.00 f0=0 f1=0.0")]
    [InlineData("0", "v=0 h=0 p=0% f2=0.00 f0=0 f1=0.0")]
    [InlineData("-0.5", "v=-0.5 h=-500m p=-50% f2=-0.50 f0=-0 f1=-0.5")]
    [InlineData("1e21", "v=1e+21 h=1Z p=1e+23% f2=1000000000000000000000.00 f0=1000000000000000000000 f1=1000000000000000000000.0")]
    [InlineData("1e20", "v=1e+20 h=100E p=1e+22% f2=100000000000000000000.00 f0=100000000000000000000 f1=100000000000000000000.0")]
    [InlineData("1e30", "v=1e+30 h=1e+06Y p=1e+32% f2=1000000000000000019884624838656.00 f0=1000000000000000019884624838656 f1=1000000000000000019884624838656.0")]
    [InlineData("1e-30", "v=1e-30 h=1e-06y p=1e-28% f2=0.00 f0=0 f1=0.0")]
    [InlineData("2.5", "v=2.5 h=2.5 p=250% f2=2.50 f0=2 f1=2.5")]
    [InlineData("0.125", "v=0.125 h=125m p=12.5% f2=0.12 f0=0 f1=0.1")]
    [InlineData("-1234.5", "v=-1234.5 h=-1.234k p=-1.234e+05% f2=-1234.50 f0=-1234 f1=-1234.5")]
    [InlineData("999999", "v=999999 h=1000k p=1e+08% f2=999999.00 f0=999999 f1=999999.0")]
    [InlineData("0.001234", "v=0.001234 h=1.234m p=0.1234% f2=0.00 f0=0 f1=0.0")]
    [InlineData("+Inf", "v=+Inf h=+Inf p=+Inf% f2=+Inf f0=+Inf f1=+Inf")]
    [InlineData("85", "v=85 h=85 p=8500% f2=85.00 f0=85 f1=85.0")]
    [InlineData("12345678901234567890", "v=1.2345678901234567e+19 h=12.35E p=1.235e+21% f2=12345678901234567168.00 f0=12345678901234567168 f1=12345678901234567168.0")]
    [InlineData("0.1", "v=0.1 h=100m p=10% f2=0.10 f0=0 f1=0.1")]
    [InlineData("100000", "v=100000 h=100k p=1e+07% f2=100000.00 f0=100000 f1=100000.0")]
    [InlineData("1234.5", "v=1234.5 h=1.234k p=1.234e+05% f2=1234.50 f0=1234 f1=1234.5")]
    [InlineData("-0", "v=-0 h=-0 p=-0% f2=-0.00 f0=-0 f1=-0.0")]
    public void Expand_Value_PrintsAsPrometheusDoes(string value, string expected)
    {
        var number = value == "+Inf" ? double.PositiveInfinity : double.Parse(value, CultureInfo.InvariantCulture);

        Assert.Equal(expected, AlertTemplate.Expand(AllFormats, Labels, number));
    }

    [Theory]
    [InlineData("GPU {{ $labels.gpu }} on {{ $labels.node }} at {{ $value }} °C", "GPU 0 on a at 91.5 °C")]
    [InlineData("{{$labels.node}}/{{.Labels.gpu}}/{{ .Value }}", "a/0/91.5")]
    [InlineData("{{ index $labels \"node\" }} {{ index .Labels `gpu` }}", "a 0")]
    [InlineData("[{{ $labels.missing }}][{{ index $labels \"missing\" }}]", "[][]")]
    [InlineData("{{ humanize $value }} {{ humanizePercentage $value }} {{ printf \"%.1f\" $value }}", "91.5 9150% 91.5")]
    [InlineData("{{ $value | printf \"%.2f%%\" }} {{ $value | printf \"%e\" }} {{ $value | printf \"%g\" }} {{ $value | printf \"%.3g\" }} {{ $value | printf \"%v\" }}", "91.50% 9.150000e+01 91.5 91.5 91.5")]
    [InlineData("a  {{- $value -}}  b", "a91.5b")]
    [InlineData("{{  $value\n  }}", "91.5")]
    [InlineData("no actions, only } and }} braces", "no actions, only } and }} braces")]
    [InlineData("", "")]
    public void Expand_SupportedForms_ExpandsLikeGoTemplates(string template, string expected)
    {
        AlertTemplate.Validate(template);

        Assert.Equal(expected, AlertTemplate.Expand(template, Labels, 91.5));
    }

    [Theory]
    [InlineData("{{ $foo }}", 4, "unsupported template action")]
    [InlineData("x {{ $value | toUpper }}", 15, "unsupported function \"toUpper\"")]
    [InlineData("ok {{ $value", 4, "unclosed action")]
    [InlineData("{{ $value | printf \"%d\" }}", 20, "printf format \"%d\"")]
    [InlineData("{{ $value | printf \"%.2f %.2f\" }}", 20, "exactly one verb")]
    [InlineData("{{ $labels.node | humanize }}", 19, "a label's value cannot be piped")]
    [InlineData("{{ $value | humanize | printf \"%.1f\" }}", 24, "only one function per action")]
    [InlineData("{{ }}", 1, "empty template action")]
    [InlineData("{{/* note */}}", 3, "unexpected \"/\"")]
    [InlineData("{{ $labels.no-de }}", 14, "unexpected \"-\"")]
    [InlineData("{{ $labels.a.b }}", 12, "\"a.b\" is not a label name")]
    [InlineData("{{ index $labels }}", 4, "unsupported use of index")]
    [InlineData("{{ humanize }}", 4, "humanize takes $value")]
    [InlineData("{{ printf \"%.2f\" }}", 4, "printf takes a format and $value")]
    [InlineData("{{ $value $value }}", 11, "unexpected \"$value\"")]
    [InlineData("{{ | humanize }}", 4, "\"|\" needs a value before it")]
    [InlineData("{{ \"text }}", 4, "unterminated string")]
    [InlineData("{{ if $value }}x{{ end }}", 4, "unsupported template action")]
    public void Validate_UnsupportedForm_NamesItsColumn(string template, int column, string phrase)
    {
        var error = Assert.Throws<AlertRuleException>(() => AlertTemplate.Validate(template));

        Assert.Equal(column, error.Column);
        Assert.Contains(phrase, error.Problem, StringComparison.Ordinal);
    }
}
