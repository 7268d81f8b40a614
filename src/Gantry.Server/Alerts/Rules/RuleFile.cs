using System.Globalization;
using System.Text;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// Prometheus' rule-file format, alerting rules only: reads it (YamlDotNet's representation model, no reflection,
/// so NativeAOT-safe) into <see cref="RuleGroup"/>s, refusing what Gantry cannot evaluate with the line and column
/// of the offending node; and writes groups back as a file that <c>promtool check rules</c> accepts.
/// <code>
/// groups:
///   - name: gpu
///     interval: 1m          # optional
///     rules:
///       - alert: GantryGpuHot
///         expr: max by (node, gpu) (gantry_gpu_temperature_celsius) &gt; 85
///         for: 5m
///         keep_firing_for: 10m
///         labels: { severity: warning }
///         annotations: { summary: "GPU {{ $labels.gpu }} on {{ $labels.node }} at {{ $value }} °C" }
/// </code>
/// </summary>
internal static class RuleFile
{
    private static readonly string[] GroupKeys = ["name", "interval", "rules"];

    private static readonly string[] RuleKeys = ["alert", "expr", "for", "keep_firing_for", "labels", "annotations"];

    /// <summary>
    /// The groups of <paramref name="yaml"/>, each marked <paramref name="origin"/>. Throws <see cref="AlertRuleException"/>
    /// with the 1-based line and column for YAML syntax errors, unknown keys, wrong node types, recording rules,
    /// expressions outside <see cref="PromQlParser"/>'s subset, bad durations, label names and templates.
    /// </summary>
    public static IReadOnlyList<RuleGroup> Parse(string yaml, RuleOrigin origin)
    {
        ArgumentNullException.ThrowIfNull(yaml);
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException e)
        {
            throw new AlertRuleException("invalid YAML: " + e.Message, Line(e.Start), Column(e.Start));
        }

        if (stream.Documents.Count == 0)
        {
            throw new AlertRuleException("the rule file is empty; expected \"groups:\" with at least one group", 1, 1);
        }

        if (stream.Documents.Count > 1)
        {
            throw Error(stream.Documents[1].RootNode, "a rule file holds one YAML document; found another");
        }

        var root = stream.Documents[0].RootNode;
        if (IsNull(root))
        {
            throw Error(root, "the rule file is empty; expected \"groups:\" with at least one group");
        }

        YamlNode? groupsNode = null;
        foreach (var (key, value) in Mapping(root, "the rule file"))
        {
            if (key.Value != "groups")
            {
                throw Error(key, $"unknown key \"{key.Value}\"; a rule file has only \"groups\"");
            }

            groupsNode = value;
        }

        if (groupsNode is null || IsNull(groupsNode))
        {
            throw Error(groupsNode ?? root, "no groups: expected \"groups:\" with at least one group");
        }

        var groups = new List<RuleGroup>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var groupNode in Sequence(groupsNode, "groups"))
        {
            var group = ParseGroup(yaml, groupNode, origin);
            if (!names.Add(group.Name))
            {
                throw Error(Child(groupNode, "name")!, $"group name \"{group.Name}\" is repeated; group names are unique in a file");
            }

            groups.Add(group);
        }

        if (groups.Count == 0)
        {
            throw Error(groupsNode, "no groups: expected \"groups:\" with at least one group");
        }

        return groups;
    }

    private static RuleGroup ParseGroup(string yaml, YamlNode node, RuleOrigin origin)
    {
        string? name = null;
        TimeSpan? interval = null;
        var rules = new List<AlertRule>();
        foreach (var (key, value) in Mapping(node, "a group"))
        {
            switch (key.Value)
            {
                case "name":
                    name = Scalar(value, "name").Value ?? "";
                    if (name.Length == 0)
                    {
                        throw Error(value, "a group's name must not be empty");
                    }

                    break;
                case "interval":
                    if (!IsNull(value))
                    {
                        interval = Duration(value, "interval");
                    }

                    break;
                case "rules":
                    if (!IsNull(value))
                    {
                        foreach (var ruleNode in Sequence(value, "rules"))
                        {
                            rules.Add(ParseRule(yaml, ruleNode));
                        }
                    }

                    break;
                case "limit":
                    throw Error(key, "limit is not supported; Gantry keeps every alert a rule finds");
                default:
                    throw Error(key, $"unknown key \"{key.Value}\" in a group; expected one of {string.Join(", ", GroupKeys)}");
            }
        }

        return name is null ? throw Error(node, "a group needs a \"name\"") : new RuleGroup(name, interval, rules, origin);
    }

    private static AlertRule ParseRule(string yaml, YamlNode node)
    {
        string? alert = null;
        YamlScalarNode? expr = null;
        TimeSpan forDuration = TimeSpan.Zero, keepFiringFor = TimeSpan.Zero;
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in Mapping(node, "a rule"))
        {
            switch (key.Value)
            {
                case "alert":
                    alert = Scalar(value, "alert").Value ?? "";
                    if (!PromQlParser.IsMetricName(alert))
                    {
                        throw Error(value, $"invalid alert name \"{alert}\"; an alert name matches [a-zA-Z_:][a-zA-Z0-9_:]*");
                    }

                    break;
                case "record":
                    throw Error(key, "recording rules are not supported; Gantry evaluates alerting rules");
                case "expr":
                    expr = Scalar(value, "expr");
                    break;
                case "for":
                    forDuration = IsNull(value) ? TimeSpan.Zero : Duration(value, "for");
                    break;
                case "keep_firing_for":
                    keepFiringFor = IsNull(value) ? TimeSpan.Zero : Duration(value, "keep_firing_for");
                    break;
                case "labels":
                    ReadTemplates(yaml, value, "labels", labels);
                    break;
                case "annotations":
                    ReadTemplates(yaml, value, "annotations", annotations);
                    break;
                default:
                    throw Error(key, $"unknown key \"{key.Value}\" in a rule; expected one of {string.Join(", ", RuleKeys)}");
            }
        }

        if (alert is null)
        {
            throw Error(node, "a rule needs an \"alert\" name");
        }

        var exprText = expr is null || IsNull(expr) ? "" : expr.Value ?? "";
        if (exprText.Trim().Length == 0)
        {
            throw Error(expr ?? node, $"rule \"{alert}\" needs an \"expr\"");
        }

        AlertExpr parsed;
        try
        {
            parsed = PromQlParser.Parse(exprText);
        }
        catch (AlertRuleException e)
        {
            throw Inside(yaml, expr!, e);
        }

        return new AlertRule
        {
            Name = alert,
            ExprText = exprText,
            Expr = parsed,
            For = forDuration,
            KeepFiringFor = keepFiringFor,
            Labels = labels,
            Annotations = annotations,
        };
    }

    private static void ReadTemplates(string yaml, YamlNode node, string what, Dictionary<string, string> into)
    {
        if (IsNull(node))
        {
            return;
        }

        foreach (var (key, value) in Mapping(node, what))
        {
            var name = key.Value ?? "";
            if (!PromQlParser.IsLabelName(name))
            {
                throw Error(key, $"invalid {(what == "labels" ? "label" : "annotation")} name \"{name}\"; names match [a-zA-Z_][a-zA-Z0-9_]*");
            }

            if (what == "labels" && name.StartsWith("__", StringComparison.Ordinal))
            {
                throw Error(key, $"label name \"{name}\" is reserved (names starting with \"__\" are Prometheus' own)");
            }

            var scalar = Scalar(value, name);
            var text = IsNull(scalar) ? "" : scalar.Value ?? "";
            try
            {
                AlertTemplate.Validate(text);
            }
            catch (AlertRuleException e)
            {
                throw Inside(yaml, scalar, e);
            }

            into[name] = text;
        }
    }

    /// <summary>
    /// Writes <paramref name="groups"/> as a Prometheus rule file: <c>expr</c> normalised (each node's PromQL),
    /// durations in Prometheus' syntax, <c>keep_firing_for</c> raised to <paramref name="minimumKeepFiringFor"/>
    /// and left out when zero, labels and annotations sorted by name, every string double-quoted.
    /// </summary>
    /// <remarks>
    /// <c>keep_firing_for</c> arrived in Prometheus 2.42, which <c>promtool check rules</c> and <c>test rules</c>
    /// accept and honour; an older Prometheus refuses a file that has the key, so it is written only when non-zero.
    /// </remarks>
    public static string Write(IEnumerable<RuleGroup> groups, TimeSpan minimumKeepFiringFor)
    {
        ArgumentNullException.ThrowIfNull(groups);
        var text = new StringBuilder("groups:\n");
        foreach (var group in groups)
        {
            text.Append("  - name: ").Append(Quote(group.Name)).Append('\n');
            if (group.Interval is { } interval)
            {
                text.Append("    interval: ").Append(PromDuration.Format(interval)).Append('\n');
            }

            if (group.Rules.Count == 0)
            {
                text.Append("    rules: []\n");
                continue;
            }

            text.Append("    rules:\n");
            foreach (var rule in group.Rules)
            {
                text.Append("      - alert: ").Append(Quote(rule.Name)).Append('\n');
                text.Append("        expr: ").Append(Quote(rule.Expr.ToString()!)).Append('\n');
                if (rule.For > TimeSpan.Zero)
                {
                    text.Append("        for: ").Append(PromDuration.Format(rule.For)).Append('\n');
                }

                var keep = rule.KeepFiringFor > minimumKeepFiringFor ? rule.KeepFiringFor : minimumKeepFiringFor;
                if (keep > TimeSpan.Zero)
                {
                    text.Append("        keep_firing_for: ").Append(PromDuration.Format(keep)).Append('\n');
                }

                WriteMap(text, "labels", rule.Labels);
                WriteMap(text, "annotations", rule.Annotations);
            }
        }

        return text.ToString();
    }

    private static void WriteMap(StringBuilder text, string key, IReadOnlyDictionary<string, string> map)
    {
        if (map.Count == 0)
        {
            return;
        }

        text.Append("        ").Append(key).Append(":\n");
        foreach (var (name, value) in map.OrderBy(p => p.Key, StringComparer.Ordinal))
        {
            text.Append("          ").Append(Quote(name)).Append(": ").Append(Quote(value)).Append('\n');
        }
    }

    /// <summary>A YAML double-quoted scalar: <c>\\</c>, <c>\"</c> and every control or line-separator character escaped.</summary>
    private static string Quote(string value)
    {
        var text = new StringBuilder(value.Length + 2).Append('"');
        for (var i = 0; i < value.Length; i++)
        {
            var c = value[i];
            switch (c)
            {
                case '\\': text.Append("\\\\"); break;
                case '"': text.Append("\\\""); break;
                case '\n': text.Append("\\n"); break;
                case '\t': text.Append("\\t"); break;
                case '\r': text.Append("\\r"); break;
                case < ' ' or (>= '\x7F' and <= '\x9F'):
                    text.Append("\\x").Append(((int)c).ToString("X2", CultureInfo.InvariantCulture));
                    break;
                case var _ when char.IsSurrogatePair(value, i):
                    // A character outside the BMP is written as it is.
                    text.Append(c).Append(value[++i]);
                    break;
                case '\u2028' or '\u2029' or '\uFEFF' or (>= '\uD800' and <= '\uDFFF'):
                    text.Append("\\u").Append(((int)c).ToString("X4", CultureInfo.InvariantCulture));
                    break;
                default: text.Append(c); break;
            }
        }

        return text.Append('"').ToString();
    }

    private static IEnumerable<(YamlScalarNode Key, YamlNode Value)> Mapping(YamlNode node, string what)
    {
        if (node is not YamlMappingNode mapping)
        {
            throw Error(node, $"{what} must be a mapping (key: value), found {Kind(node)}");
        }

        foreach (var (key, value) in mapping.Children)
        {
            if (key is not YamlScalarNode scalar)
            {
                throw Error(key, $"a key in {what} must be a string, found {Kind(key)}");
            }

            yield return (scalar, value);
        }
    }

    private static YamlSequenceNode Sequence(YamlNode node, string what) =>
        node as YamlSequenceNode ?? throw Error(node, $"\"{what}\" must be a list (- item), found {Kind(node)}");

    private static YamlScalarNode Scalar(YamlNode node, string what) =>
        node as YamlScalarNode ?? throw Error(node, $"\"{what}\" must be a string, found {Kind(node)}");

    private static YamlNode? Child(YamlNode node, string key) =>
        node is YamlMappingNode mapping && mapping.Children.TryGetValue(new YamlScalarNode(key), out var value) ? value : null;

    private static TimeSpan Duration(YamlNode node, string what)
    {
        var text = Scalar(node, what).Value ?? "";
        return PromDuration.TryParse(text, out var duration, out var problem)
            ? duration
            : throw Error(node, $"\"{what}\": {problem}");
    }

    private static string Kind(YamlNode node) => node switch
    {
        YamlMappingNode => "a mapping",
        YamlSequenceNode => "a list",
        YamlScalarNode s when IsNull(s) => "nothing",
        YamlScalarNode s => $"\"{s.Value}\"",
        _ => "an alias",
    };

    // YAML's null: an empty plain scalar, "~" or "null" (as yaml.v3 reads it for Prometheus).
    private static bool IsNull(YamlNode node) =>
        node is YamlScalarNode { Style: ScalarStyle.Plain or ScalarStyle.Any, Value: null or "" or "~" or "null" or "Null" or "NULL" };

    private static AlertRuleException Error(YamlNode node, string problem) => new(problem, Line(node.Start), Column(node.Start));

    private static int Line(Mark mark) => (int)Math.Min(mark.Line, int.MaxValue);

    private static int Column(Mark mark) => (int)Math.Min(mark.Column, int.MaxValue);

    /// <summary>
    /// <paramref name="inner"/> (a column in <paramref name="scalar"/>'s value) moved to the document: the value's
    /// characters are matched to the source's, skipping what YAML adds (quotes, escapes, folding, indentation).
    /// </summary>
    private static AlertRuleException Inside(string yaml, YamlScalarNode scalar, AlertRuleException inner)
    {
        var (line, column) = Locate(yaml, scalar, (inner.Column ?? 1) - 1);
        return new AlertRuleException(inner.Problem, line, column);
    }

    private static (int Line, int Column) Locate(string yaml, YamlScalarNode scalar, int valueIndex)
    {
        var value = scalar.Value ?? "";
        var start = (int)Math.Min(scalar.Start.Index, yaml.Length);
        var end = (int)Math.Min(scalar.End.Index, yaml.Length);
        var j = start;

        // Node properties come first in the node's span: an anchor (&a) or a tag (!t).
        while (j < end && yaml[j] is '&' or '!')
        {
            while (j < end && !IsYamlSpace(yaml[j]))
            {
                j++;
            }

            while (j < end && IsYamlSpace(yaml[j]))
            {
                j++;
            }
        }

        switch (scalar.Style)
        {
            case ScalarStyle.SingleQuoted or ScalarStyle.DoubleQuoted:
                j++;
                break;
            case ScalarStyle.Literal or ScalarStyle.Folded:
                // The header ("|", ">-", "|2 # comment") ends its line; the content starts on the next.
                while (j < end && yaml[j] is not ('\n' or '\r'))
                {
                    j++;
                }

                break;
        }

        var target = j;
        for (var i = 0; i < value.Length && j < end; i++)
        {
            var c = value[i];
            while (true)
            {
                if (j >= end)
                {
                    break;
                }

                var s = yaml[j];
                if (scalar.Style == ScalarStyle.DoubleQuoted && s == '\\')
                {
                    var e = j + 1 < end ? yaml[j + 1] : '\0';
                    if (e is '\n' or '\r')
                    {
                        // An escaped line break joins the lines without adding anything.
                        j += 2;
                        continue;
                    }

                    if (i == valueIndex)
                    {
                        target = j;
                    }

                    j += e switch { 'x' => 4, 'u' => 6, 'U' => 10, _ => 2 };
                    if (e == 'U' && char.IsSurrogatePair(value, i))
                    {
                        i++;
                    }

                    break;
                }

                if (scalar.Style == ScalarStyle.SingleQuoted && s == '\'' && c == '\'')
                {
                    if (i == valueIndex)
                    {
                        target = j;
                    }

                    j += 2;
                    break;
                }

                if (s == c || (c is ' ' or '\n' && s is '\n' or '\r'))
                {
                    if (i == valueIndex)
                    {
                        target = j;
                    }

                    j += s == '\r' && j + 1 < end && yaml[j + 1] == '\n' ? 2 : 1;
                    break;
                }

                if (IsYamlSpace(s))
                {
                    j++;
                    continue;
                }

                // Not expected: stay here rather than wander off.
                if (i == valueIndex)
                {
                    target = j;
                }

                break;
            }

            if (i >= valueIndex)
            {
                return Position(yaml, scalar.Start, target);
            }
        }

        // Past the value's end (e.g. "unexpected end of expression"): just after its last character.
        return Position(yaml, scalar.Start, valueIndex >= value.Length ? j : target);
    }

    private static bool IsYamlSpace(char c) => c is ' ' or '\t' or '\n' or '\r';

    private static (int Line, int Column) Position(string yaml, Mark from, int index)
    {
        var line = Line(from);
        var column = Column(from);
        for (var k = (int)from.Index; k < index && k < yaml.Length; k++)
        {
            if (yaml[k] == '\n' || (yaml[k] == '\r' && (k + 1 >= yaml.Length || yaml[k + 1] != '\n')))
            {
                line++;
                column = 1;
            }
            else if (yaml[k] != '\r')
            {
                column++;
            }
        }

        return (line, column);
    }
}
