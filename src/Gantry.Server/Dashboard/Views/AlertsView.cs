using System.Text;
using Gantry.Core.Protocol;
using Gantry.Core.Text;
using Gantry.Server.Alerts;
using Gantry.Server.Alerts.Silences;

namespace Gantry.Server.Dashboard.Views;

/// <summary>What the alerts page shows: the alerts pending and firing, the silences and the rules, read at one moment.</summary>
/// <param name="Alerts">Pending and firing alerts, firing first (resolved ones are left out).</param>
/// <param name="EvaluatedAt">When the rules were last evaluated; null before the first evaluation.</param>
/// <param name="Silences">Pending and active silences, then those expired within a day.</param>
/// <param name="Rules">Every rule group, with the rules file's error if any.</param>
/// <param name="Now">The server's clock when it was read.</param>
public sealed record AlertsModel(IReadOnlyList<AlertInfo> Alerts, DateTimeOffset? EvaluatedAt, IReadOnlyList<SilenceInfo> Silences, AlertRulesResponse Rules, DateTimeOffset Now)
{
    /// <summary>Alerts firing now.</summary>
    public int Firing => Alerts.Count(static a => a.State == AlertState.Firing);

    /// <summary>Alerts pending now.</summary>
    public int Pending => Alerts.Count(static a => a.State == AlertState.Pending);
}

/// <summary>The add-silence form as typed (shown again with the error when the silence is refused).</summary>
public sealed record SilenceForm
{
    /// <summary>Matchers, one per line or separated by spaces (a value in double quotes may hold spaces).</summary>
    public string Matchers { get; init; } = "";

    public string Duration { get; init; } = "2h";

    public string Comment { get; init; } = "";

    /// <summary>What was wrong with the last try; null when nothing was.</summary>
    public string? Error { get; init; }

    /// <summary>The form field the error is about (its input gets <c>aria-invalid</c>): matchers, duration or comment.</summary>
    public string? ErrorField { get; init; }
}

/// <summary>Reads the alerts page from the alert engine and the silences, and turns the form into a silence.</summary>
internal sealed class AlertsData(AlertEngine engine, SilenceBook silences, TimeProvider time)
{
    /// <summary>The page's data now.</summary>
    public AlertsModel Read()
    {
        var alerts = engine.ListAlerts();
        var live = new List<AlertInfo>(alerts.Alerts.Count);
        foreach (var alert in alerts.Alerts)
        {
            if (alert.State != AlertState.Resolved)
            {
                live.Add(alert);
            }
        }

        // Active and pending first (the API lists newest first), then the expired ones.
        var listed = silences.List().Silences;
        var ordered = new List<SilenceInfo>(listed.Count);
        ordered.AddRange(listed.Where(static s => s.Status != "expired"));
        ordered.AddRange(listed.Where(static s => s.Status == "expired"));
        return new AlertsModel(live, alerts.EvaluatedAt, ordered, engine.ListRules(), time.GetUtcNow());
    }

    /// <summary>Alerts firing now, for the navigation's count.</summary>
    public int FiringCount() => engine.FiringCount;

    /// <summary>Makes the silence the form describes, by <paramref name="author"/> (the signed-in person); null with the form and its error when it is refused.</summary>
    public (SilenceInfo? Silence, SilenceForm Form) Create(SilenceForm form, string author)
    {
        ArgumentNullException.ThrowIfNull(form);
        var matchers = SplitMatchers(form.Matchers);
        if (matchers.Count == 0)
        {
            return (null, form with { Error = "Matchers: enter at least one, such as alertname=GantryGpuHot.", ErrorField = "matchers" });
        }

        if (!Durations.TryParse(form.Duration.Trim(), out var duration) || duration <= TimeSpan.Zero)
        {
            return (null, form with { Error = $"Duration: must be a duration such as 30m, 2h or 1d, got '{form.Duration}'.", ErrorField = "duration" });
        }

        if (form.Comment.Trim().Length == 0)
        {
            return (null, form with { Error = "Comment: say why the alerts are silenced.", ErrorField = "comment" });
        }

        var now = time.GetUtcNow();
        var request = new CreateSilenceRequest { Matchers = matchers, StartsAt = now, EndsAt = now + duration, Author = author, Comment = form.Comment.Trim() };
        if (silences.Create(request, out var errors) is { } silence)
        {
            return (silence, form);
        }

        foreach (var (api, field, label) in (ReadOnlySpan<(string, string, string)>)[("matchers", "matchers", "Matchers"), ("endsAt", "duration", "Duration"), ("comment", "comment", "Comment")])
        {
            if (errors!.TryGetValue(api, out var messages))
            {
                return (null, form with { Error = $"{label}: {string.Join("; ", messages)}.", ErrorField = field });
            }
        }

        var (key, first) = errors!.First();
        return (null, form with { Error = $"{key}: {string.Join("; ", first)}." });
    }

    /// <summary>Ends a silence now; null when there is no such silence.</summary>
    public SilenceInfo? Expire(string id) => silences.Expire(id);

    /// <summary>
    /// Matchers as typed in the form: one per line, or several on a line separated by spaces; spaces
    /// inside double quotes (<c>comment="fan swap"</c>) stay in the matcher.
    /// </summary>
    public static List<string> SplitMatchers(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var matchers = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c is '\r' or '\n')
            {
                // A line ends a matcher, even with a quote left open.
                Flush();
                quoted = false;
                continue;
            }

            if (c == '"' && (i == 0 || text[i - 1] != '\\'))
            {
                quoted = !quoted;
            }

            if (!quoted && char.IsWhiteSpace(c))
            {
                Flush();
                continue;
            }

            current.Append(c);
        }

        Flush();
        return matchers;

        void Flush()
        {
            if (current.Length > 0)
            {
                matchers.Add(current.ToString());
                current.Clear();
            }
        }
    }

    /// <summary>The matchers that silence exactly this alert: alertname and each of its labels, one per line.</summary>
    public static string MatchersFor(AlertInfo alert)
    {
        ArgumentNullException.ThrowIfNull(alert);
        var text = new StringBuilder();
        text.Append("alertname=").Append(Quote(alert.Name));
        foreach (var (name, value) in alert.Labels.OrderBy(static l => l.Key, StringComparer.Ordinal))
        {
            if (name != "alertname")
            {
                text.Append('\n').Append(name).Append('=').Append(Quote(value));
            }
        }

        return text.ToString();
    }

    private static string Quote(string value) =>
        value.Length > 0 && !value.Any(static c => char.IsWhiteSpace(c) || c is '"' or '\\')
            ? value
            : "\"" + value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal) + "\"";

    /// <summary>A rule's <c>for</c> as people read it: <c>5m</c>, <c>0s</c>.</summary>
    public static string For(double seconds) => Durations.Format(TimeSpan.FromSeconds(seconds));

    /// <summary>An expression's value as people read it (<see cref="Gantry.Core.Text.SampleValues.Format"/>).</summary>
    public static string Value(double value) => Gantry.Core.Text.SampleValues.Format(value);
}
