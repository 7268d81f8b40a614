using System.Text;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;
using Gantry.Core.Text;

namespace Gantry.Cli.Alerts;

/// <summary>How alerts, rules and silences read in tables.</summary>
internal static class AlertViews
{
    /// <summary>The labels with columns of their own (and alertname, the ALERT column).</summary>
    private static readonly string[] OwnColumns = ["alertname", "node", "gpu", "severity"];

    /// <summary>How long the LABELS cell's summary of the other labels may grow before it counts the rest.</summary>
    internal const int OtherLabelsWidth = 40;

    // Alert and rule names are never cut (they are what a person acts on): on a narrow terminal the
    // free-text columns shrink first, and a row may end up wider than the terminal.
    public static void WriteAlerts(TextWriter writer, AlertsResponse response, DateTimeOffset now, int width, bool filtered)
    {
        var table = new Table(
            new Column("STATE", MaxWidth: 20),
            new Column("ALERT", MaxWidth: 48),
            new Column("NODE", MaxWidth: 24, MinWidth: 6),
            new Column("GPU", AlignRight: true),
            new Column("SEVERITY"),
            new Column("LABELS", MinWidth: 6, Flexible: true),
            new Column("VALUE", AlignRight: true, MaxWidth: 12),
            new Column("SINCE", AlignRight: true),
            new Column("SUMMARY", MinWidth: 12, Flexible: true));
        foreach (var alert in response.Alerts)
        {
            table.AddRow(
                alert.SilencedBy.Count > 0 ? StateName(alert.State) + " (silenced)" : StateName(alert.State),
                alert.Name,
                alert.Labels.GetValueOrDefault("node") ?? "-",
                alert.Labels.GetValueOrDefault("gpu") ?? "-",
                alert.Labels.GetValueOrDefault("severity") ?? "-",
                OtherLabels(alert.Labels),
                Value(alert.Value),
                Since(alert) is { } since ? Formats.Ago(since, now) : "-",
                alert.Annotations.GetValueOrDefault("summary") ?? "");
        }

        if (table.RowCount == 0)
        {
            writer.Write(response.EvaluatedAt is null
                ? "No alerts: the server has not evaluated its rules yet (it does every --alert-interval).\n"
                : filtered ? "No alerts in that state.\n" : "No alerts: nothing is firing or pending, and nothing resolved in the last 15 minutes.\n");
            return;
        }

        table.Write(writer, width);
    }

    /// <summary>
    /// One section per group, <c>NAME (origin)</c> and a table of its rules, so that a rule's name and
    /// expression get the width: the expression comes last and is cut first.
    /// </summary>
    public static void WriteRules(TextWriter writer, AlertRulesResponse response, int width)
    {
        var first = true;
        foreach (var group in response.Groups)
        {
            if (!first)
            {
                writer.Write('\n');
            }

            first = false;
            writer.Write($"{group.Name} ({Origin(group.Origin)})\n");
            if (group.Rules.Count == 0)
            {
                writer.Write("  no rules\n");
                continue;
            }

            var table = new Table(
                new Column("RULE", MaxWidth: 48),
                new Column("FOR", AlignRight: true),
                new Column("ENABLED"),
                new Column("FIRING", AlignRight: true),
                new Column("PENDING", AlignRight: true),
                new Column("EXPR", MinWidth: 8, Flexible: true));
            foreach (var rule in group.Rules)
            {
                table.AddRow(
                    rule.Name,
                    Durations.Format(TimeSpan.FromSeconds(rule.ForSeconds)),
                    rule.Enabled ? "yes" : "no",
                    Formats.Number(rule.Firing),
                    Formats.Number(rule.Pending),
                    rule.Expr);
            }

            using var text = new StringWriter { NewLine = "\n" };
            table.Write(text, width - Indent.Length);
            foreach (var line in text.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                writer.Write(Indent);
                writer.Write(line);
                writer.Write('\n');
            }
        }

        if (first)
        {
            writer.Write("No rules. Add some with 'gantry alerts rules add FILE'.\n");
        }
    }

    private const string Indent = "  ";

    /// <summary>The silences; on a narrow terminal the comment is cut first, then the matchers (never below 24 characters).</summary>
    public static void WriteSilences(TextWriter writer, IReadOnlyList<SilenceInfo> silences, DateTimeOffset now, int width, bool withExpired)
    {
        var table = new Table(
            new Column("ID", MaxWidth: 16),
            new Column("STATUS"),
            new Column("MATCHERS", MaxWidth: 64, MinWidth: 24),
            new Column("STARTS", AlignRight: true),
            new Column("ENDS", AlignRight: true),
            new Column("AUTHOR", MaxWidth: 16, MinWidth: 6),
            new Column("COMMENT", MinWidth: 10, Flexible: true));
        foreach (var silence in silences)
        {
            table.AddRow(
                silence.Id,
                silence.Status,
                string.Join(' ', silence.Matchers),
                Relative(silence.StartsAt, now),
                Relative(silence.EndsAt, now),
                silence.Author,
                silence.Comment);
        }

        if (table.RowCount == 0)
        {
            writer.Write(withExpired ? "No silences.\n" : "No active or pending silences ('--all' lists expired ones too).\n");
            return;
        }

        table.Write(writer, width);
    }

    /// <summary>The labels without a column of their own, <c>k=v k2=v2</c> sorted by name; past <see cref="OtherLabelsWidth"/> characters the rest are counted (<c>+3 more</c>).</summary>
    internal static string OtherLabels(IReadOnlyDictionary<string, string> labels)
    {
        var names = new List<string>();
        foreach (var name in labels.Keys)
        {
            if (Array.IndexOf(OwnColumns, name) < 0)
            {
                names.Add(name);
            }
        }

        if (names.Count == 0)
        {
            return "-";
        }

        names.Sort(StringComparer.Ordinal);
        var text = new StringBuilder();
        for (var i = 0; i < names.Count; i++)
        {
            var pair = names[i] + "=" + labels[names[i]];
            if (i > 0 && text.Length + 1 + pair.Length > OtherLabelsWidth)
            {
                return text.Append(" +").Append(Formats.Number(names.Count - i)).Append(" more").ToString();
            }

            if (i > 0)
            {
                text.Append(' ');
            }

            text.Append(pair);
        }

        return text.ToString();
    }

    /// <summary>An expression's value as people read it (<see cref="Gantry.Core.Text.SampleValues.Format"/>).</summary>
    internal static string Value(double value) => Gantry.Core.Text.SampleValues.Format(value);

    /// <summary>When the state shown began: firing since it fired, pending since it became active, resolved since it resolved.</summary>
    private static DateTimeOffset? Since(AlertInfo alert) => alert.State switch
    {
        AlertState.Firing => alert.FiredAt ?? alert.ActiveAt,
        AlertState.Pending => alert.ActiveAt,
        _ => alert.ResolvedAt,
    };

    /// <summary><c>in 1h59m</c> for a time ahead, <c>3m ago</c> for one past.</summary>
    internal static string Relative(DateTimeOffset time, DateTimeOffset now) =>
        time > now ? "in " + Durations.FormatApproximate(time - now) : Formats.Ago(time, now);

    /// <summary>The state's wire name.</summary>
    internal static string StateName(AlertState state) => state switch
    {
        AlertState.Firing => "firing",
        AlertState.Pending => "pending",
        _ => "resolved",
    };

    private static string Origin(string origin) => origin switch
    {
        "builtIn" => "built-in",
        _ => origin,
    };
}
