namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// Gantry's default alert rules, in Prometheus' rule-file shape (docs/alerts.md lists them). Each can be
/// switched off by name with the server's <c>--disable-rule</c> (<c>all</c> for every one).
/// </summary>
internal static class BuiltInRules
{
    /// <summary>The group the built-in rules are in.</summary>
    public const string GroupName = "gantry-builtin";

    /// <summary>The rules as YAML.</summary>
    public const string Yaml = """
        groups:
          - name: gantry-builtin
            rules:
              - alert: GantryGpuHot
                expr: gantry_gpu_temperature_celsius > 85
                for: 5m
                labels:
                  severity: warning
                annotations:
                  summary: "GPU {{ $labels.gpu }} of {{ $labels.node }} is at {{ $value }} °C"
                  description: "The GPU has been above 85 °C for 5 minutes; expect thermal slowdown."
              - alert: GantryGpuLost
                expr: gantry_gpu_lost == 1
                labels:
                  severity: critical
                annotations:
                  summary: "GPU {{ $labels.gpu }} of {{ $labels.node }} fell off the bus"
                  description: "NVML lost the GPU; it is cordoned and needs a reset or a reboot."
              - alert: GantryGpuNeedsReset
                expr: gantry_gpu_health{state="cordoned", until="reset", manual="false"} == 1
                labels:
                  severity: critical
                annotations:
                  summary: "GPU {{ $labels.gpu }} of {{ $labels.node }} is cordoned until a reset"
                  description: "{{ $labels.cause }}"
              - alert: GantryNodeNeedsReboot
                expr: gantry_node_drained_for_fault == 1
                labels:
                  severity: critical
                annotations:
                  summary: "{{ $labels.node }} is drained until it reboots"
                  description: "{{ $labels.cause }}"
              - alert: GantryGpuEccUncorrectable
                expr: gantry_gpu_ecc_errors_uncorrected_volatile > 0
                labels:
                  severity: critical
                annotations:
                  summary: "GPU {{ $labels.gpu }} of {{ $labels.node }} had {{ $value }} uncorrectable ECC errors"
                  description: "Uncorrectable ECC errors since the driver loaded; the GPU is cordoned until a reset."
              - alert: GantryGpuRowRemapFailure
                expr: gantry_gpu_remapped_rows_failure == 1
                labels:
                  severity: critical
                annotations:
                  summary: "GPU {{ $labels.gpu }} of {{ $labels.node }} failed a row remap"
                  description: "The GPU is out of spare memory rows: it needs service (RMA)."
              - alert: GantryHealthBreakerHolding
                expr: sum(gantry_gpu_health_held) > 0
                labels:
                  severity: critical
                annotations:
                  summary: "{{ $value }} GPU actions wait for a person"
                  description: "GPU health automation reached --max-auto-cordon and holds its cordons and drains; look at gantry nodes ls."
              - alert: GantryNodeDown
                expr: gantry_node_state{state="down"} == 1
                labels:
                  severity: critical
                annotations:
                  summary: "{{ $labels.node }} is down"
                  description: "The node missed its heartbeats past --down-after; its jobs were lost and requeued while retries remained."
              - alert: GantryNodePowerAboveEnvelope
                expr: gantry_node_power_above_envelope == 1
                for: 5m
                labels:
                  severity: warning
                annotations:
                  summary: "{{ $labels.node }} draws more than its power envelope"
                  description: "The node has drawn more than its --node-power-envelope-watts for 5 minutes."
              - alert: GantryGpuUnlikeItsPeers
                expr: gantry_anomaly_score{metric=~"peer_.*"} > 0.9
                for: 10m
                labels:
                  severity: warning
                annotations:
                  summary: "GPU {{ $labels.gpu }} of {{ $labels.node }} is off its peers ({{ $labels.metric }}, score {{ $value | printf \"%.2f\" }})"
                  description: "For 10 minutes the GPU has run hotter, or drawn more power, than its siblings of the same model at similar utilisation: check its cooling, fans and power delivery."
              - alert: GantryTelemetryAnomaly
                expr: gantry_anomaly_score{metric!~"peer_.*"} >= 0.5
                keep_firing_for: 15m
                labels:
                  severity: info
                annotations:
                  summary: "{{ $labels.metric }} of {{ $labels.node }} left its usual behaviour (score {{ $value | printf \"%.2f\" }})"
                  description: "The series' latest minute is unlike its own history; a gpu label names the GPU when the series is one (docs/anomalies.md)."
              - alert: GantryJobFailureRate
                expr: gantry_job_failure_ratio{window="15m"} > 0.5
                for: 5m
                labels:
                  severity: warning
                annotations:
                  summary: "{{ $value | humanizePercentage }} of the jobs that ended in 15 minutes failed"
                  description: "More than half of the jobs that ended in the last 15 minutes (at least 5) failed or were lost."
        """;
}
