using Gantry.Server.Alerts.Rules;

namespace Gantry.Server.Alerts.Delivery;

/// <summary>
/// One alert as it goes out to Alertmanager and webhooks: what the rule engine hands to
/// <see cref="IAlertSink.Publish"/> after each evaluation, silenced alerts already left out.
/// </summary>
internal sealed record AlertNotice
{
    /// <summary>The alert's labels: <c>alertname</c>, the series' labels (no <c>__name__</c>) and the rule's.</summary>
    public required LabelSet Labels { get; init; }

    /// <summary>The expanded annotations.</summary>
    public required IReadOnlyDictionary<string, string> Annotations { get; init; }

    /// <summary>When the alert started firing.</summary>
    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>
    /// For a resolved alert, when it resolved. For a firing one, a time in the near future (four resend
    /// intervals, as Prometheus does) after which Alertmanager resolves it by itself if no update came.
    /// </summary>
    public required DateTimeOffset EndsAt { get; init; }

    /// <summary>True when the alert has resolved.</summary>
    public required bool Resolved { get; init; }

    /// <summary>
    /// True when this notice reports a change (it started firing, or it resolved) rather than a re-send
    /// of a firing alert; webhooks are sent changes only, Alertmanager every notice.
    /// </summary>
    public required bool Changed { get; init; }

    /// <summary>The dashboard's page of the alert's rule (absolute URL).</summary>
    public required string GeneratorUrl { get; init; }

    /// <summary><see cref="LabelSet.Fingerprint"/> of <see cref="Labels"/>.</summary>
    public string Fingerprint => Labels.Fingerprint;
}

/// <summary>Where the rule engine hands alerts to be delivered.</summary>
internal interface IAlertSink
{
    /// <summary>
    /// Queues <paramref name="notices"/> (firing alerts due for a (re-)send, and alerts that resolved)
    /// for every receiver; returns at once. Delivery is at least once and survives a restart.
    /// </summary>
    void Publish(IReadOnlyList<AlertNotice> notices, DateTimeOffset now);
}
