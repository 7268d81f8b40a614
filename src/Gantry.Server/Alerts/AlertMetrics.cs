using Gantry.Server.Alerts.Delivery;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.Alerts;

/// <summary>The alerting families of the server's <c>/metrics</c>.</summary>
internal static class AlertMetrics
{
    public static void Render(PrometheusTextWriter w, AlertEngine engine, AlertDelivery delivery)
    {
        w.Family("gantry_server_alerts_firing", "gauge", "Alerts firing now, by rule.");
        foreach (var (rule, count) in engine.FiringByRule().OrderBy(r => r.Key, StringComparer.Ordinal))
        {
            w.Begin().Label("alertname", rule).Value(count);
        }

        w.Family("gantry_server_alert_evaluations_total", "counter", "Evaluations of every alert rule.");
        w.Begin().Value(engine.Evaluations);
        w.Family("gantry_server_alert_evaluation_seconds", "gauge", "How long the last evaluation of every rule took.");
        w.Begin().Value(engine.LastEvaluationSeconds);
        w.Family("gantry_server_alert_rules_file_ok", "gauge", "1 when the rules file (--rules) loaded, 0 when its latest version was refused (the last good rules stay in use).");
        if (engine.Rules.FilePath is not null)
        {
            w.Begin().Value(engine.Rules.FileError is null ? 1 : 0);
        }

        w.Family("gantry_server_alert_notifications_queued", "gauge", "Notifications waiting for delivery (Alertmanager and webhooks), kept across restarts.");
        w.Begin().Value(delivery.Queued);
        w.Family("gantry_server_alert_notifications_sent_total", "counter", "Notifications delivered.");
        w.Begin().Value(delivery.Sent);
        w.Family("gantry_server_alert_notifications_failed_total", "counter", "Delivery attempts that failed (each is retried with backoff).");
        w.Begin().Value(delivery.Failed);
        w.Family("gantry_server_alert_notifications_dropped_total", "counter", "Notifications given up: refused by the receiver (4xx) or pushed out of a full queue.");
        w.Begin().Value(delivery.Dropped);
    }
}
