using Gantry.Core.Protocol;
using Gantry.Server.Alerts.Rules;

namespace Gantry.Server.Alerts.Evaluation;

/// <summary>One alert of a rule: a label set its expression produced, with its state.</summary>
internal sealed class ActiveAlert
{
    public required LabelSet Labels { get; init; }

    public required IReadOnlyDictionary<string, string> Annotations { get; set; }

    public required double Value { get; set; }

    public required DateTimeOffset ActiveAt { get; init; }

    public AlertState State { get; set; } = AlertState.Pending;

    public DateTimeOffset? FiredAt { get; set; }

    public DateTimeOffset? ResolvedAt { get; set; }

    /// <summary>Since when the expression no longer has it while it keeps firing (<c>keep_firing_for</c>).</summary>
    public DateTimeOffset? KeepFiringSince { get; set; }

    /// <summary>When it was last handed to delivery; null when never.</summary>
    public DateTimeOffset? LastSentAt { get; set; }

    /// <summary>True once a resolved notice went out (after that only re-sends of the resolution).</summary>
    public bool ResolvedSent { get; set; }
}

/// <summary>
/// A rule's alerts across evaluations, with Prometheus' semantics: a new label set is pending, fires once
/// it has lasted the rule's <c>for</c>, keeps firing for <c>keep_firing_for</c> after it is gone, then
/// resolves; resolved alerts are kept (and re-sent) for 15 minutes. Not thread-safe: the engine holds its lock.
/// </summary>
internal sealed class RuleState(string group, AlertRule rule)
{
    /// <summary>How long a resolved alert is kept, and re-sent, after it resolved (as Prometheus).</summary>
    public static readonly TimeSpan ResolvedRetention = TimeSpan.FromMinutes(15);

    public string Group { get; } = group;

    public AlertRule Rule { get; } = rule;

    /// <summary>The alerts by label set.</summary>
    public Dictionary<LabelSet, ActiveAlert> Alerts { get; } = [];

    /// <summary>The rule's last evaluation error (a template that failed), null when fine.</summary>
    public string? LastError { get; private set; }

    /// <summary>One evaluation at <paramref name="now"/> with the expression's result <paramref name="result"/>.</summary>
    public void Apply(IReadOnlyList<AlertSample> result, DateTimeOffset now, TimeSpan keepFiringFor)
    {
        LastError = null;
        var seen = new HashSet<LabelSet>();
        foreach (var sample in result)
        {
            var seriesLabels = sample.Labels.Without(LabelSet.MetricName);
            var labels = seriesLabels;
            if (Rule.Labels.Count > 0)
            {
                labels = labels.With(Rule.Labels.Select(l => new KeyValuePair<string, string>(l.Key, Expand(l.Value, seriesLabels, sample.Value))));
            }

            labels = labels.With([new("alertname", Rule.Name)]);
            if (!seen.Add(labels))
            {
                // Two series that become one alert after the rule's labels: Prometheus errors the rule out.
                LastError = $"two results have the same labels after the rule's labels were applied: {labels}";
                continue;
            }

            var annotations = new Dictionary<string, string>(Rule.Annotations.Count, StringComparer.Ordinal);
            foreach (var (name, template) in Rule.Annotations)
            {
                annotations[name] = Expand(template, seriesLabels, sample.Value);
            }

            if (Alerts.TryGetValue(labels, out var alert) && alert.State != AlertState.Resolved)
            {
                alert.Value = sample.Value;
                alert.Annotations = annotations;
                alert.KeepFiringSince = null;
            }
            else
            {
                alert = new ActiveAlert { Labels = labels, Annotations = annotations, Value = sample.Value, ActiveAt = now };
                Alerts[labels] = alert;
            }

            if (alert.State == AlertState.Pending && now - alert.ActiveAt >= Rule.For)
            {
                alert.State = AlertState.Firing;
                alert.FiredAt = now;
            }
        }

        List<LabelSet>? gone = null;
        foreach (var (labels, alert) in Alerts)
        {
            if (seen.Contains(labels))
            {
                continue;
            }

            switch (alert.State)
            {
                case AlertState.Pending:
                    (gone ??= []).Add(labels);
                    break;
                case AlertState.Firing:
                    alert.KeepFiringSince ??= now;
                    if (now - alert.KeepFiringSince.Value < keepFiringFor)
                    {
                        break;
                    }

                    alert.State = AlertState.Resolved;
                    alert.ResolvedAt = now;
                    break;
                case AlertState.Resolved when now - alert.ResolvedAt!.Value > ResolvedRetention:
                    (gone ??= []).Add(labels);
                    break;
            }
        }

        foreach (var labels in gone ?? [])
        {
            Alerts.Remove(labels);
        }
    }

    private string Expand(string template, LabelSet labels, double value)
    {
        try
        {
            return AlertTemplate.Expand(template, labels, value);
        }
        catch (AlertRuleException ex)
        {
            LastError = ex.Message;
            return template;
        }
    }
}
