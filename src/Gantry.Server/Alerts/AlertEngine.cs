using System.Diagnostics;
using Gantry.Core.Protocol;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Alerts.Evaluation;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Alerts.Silences;
using Gantry.Server.Configuration;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Alerts;

/// <summary>
/// Evaluates every enabled rule against the fleet's series (<see cref="FleetSeries"/>) every
/// <c>--alert-interval</c>, keeps each rule's alerts (<see cref="RuleState"/>), and hands the alerts due
/// for delivery, silenced ones left out, to the <see cref="IAlertSink"/>. Firing alerts are handed over
/// again every <see cref="ResendDelay"/> (Alertmanager forgets an alert not re-sent before its endsAt),
/// resolved ones likewise until they are forgotten 15 minutes after they resolved.
/// </summary>
internal sealed partial class AlertEngine
{
    /// <summary>How often a firing alert is handed to delivery again (Prometheus' default).</summary>
    public static readonly TimeSpan ResendDelay = TimeSpan.FromMinutes(1);

    private readonly Lock _lock = new();
    private readonly AlertRuleBook _rules;
    private readonly SilenceBook _silences;
    private readonly IAlertSeriesSource _series;
    private readonly Action? _refresh;
    private readonly IAlertSink _sink;
    private readonly ServerOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger<AlertEngine> _logger;
    private readonly Dictionary<string, RuleState> _states = new(StringComparer.Ordinal);
    private DateTimeOffset? _evaluatedAt;
    private int _firing;
    private long _evaluations;
    private double _lastSeconds;

    public AlertEngine(AlertRuleBook rules, SilenceBook silences, FleetSeries series, IAlertSink sink, ServerOptions options, TimeProvider time, ILogger<AlertEngine> logger)
        : this(rules, silences, series, series.Refresh, sink, options, time, logger)
    {
    }

    /// <summary>An engine over any series source (<paramref name="refresh"/> is called before each evaluation).</summary>
    public AlertEngine(AlertRuleBook rules, SilenceBook silences, IAlertSeriesSource series, Action? refresh, IAlertSink sink, ServerOptions options, TimeProvider time, ILogger<AlertEngine> logger)
    {
        _rules = rules;
        _silences = silences;
        _series = series;
        _refresh = refresh;
        _sink = sink;
        _options = options;
        _time = time;
        _logger = logger;
    }

    /// <summary>The rules' book (for the API).</summary>
    public AlertRuleBook Rules => _rules;

    /// <summary>Evaluations since the server started.</summary>
    public long Evaluations
    {
        get
        {
            lock (_lock)
            {
                return _evaluations;
            }
        }
    }

    /// <summary>How long the last evaluation took, in seconds.</summary>
    public double LastEvaluationSeconds
    {
        get
        {
            lock (_lock)
            {
                return _lastSeconds;
            }
        }
    }

    /// <summary>Alerts firing after the last evaluation (read without walking the alerts: the dashboard's navigation shows it every second).</summary>
    public int FiringCount => Volatile.Read(ref _firing);

    /// <summary>Alerts firing now, by rule name (for <c>/metrics</c>).</summary>
    public Dictionary<string, int> FiringByRule()
    {
        lock (_lock)
        {
            var counts = new Dictionary<string, int>(StringComparer.Ordinal);
            foreach (var state in _states.Values)
            {
                var firing = state.Alerts.Values.Count(a => a.State == AlertState.Firing);
                counts[state.Rule.Name] = counts.GetValueOrDefault(state.Rule.Name) + firing;
            }

            return counts;
        }
    }

    /// <summary>One evaluation of every enabled rule now, then the hand-over to delivery.</summary>
    public void Evaluate()
    {
        var started = Stopwatch.GetTimestamp();
        _rules.ReloadFile();
        _silences.Purge();
        var now = _time.GetUtcNow();
        var notices = new List<AlertNotice>();
        lock (_lock)
        {
            _refresh?.Invoke();
            var live = new HashSet<string>(StringComparer.Ordinal);
            foreach (var group in _rules.Groups)
            {
                for (var i = 0; i < group.Rules.Count; i++)
                {
                    var rule = group.Rules[i];
                    if (!_rules.IsEnabled(group, rule))
                    {
                        continue;
                    }

                    var key = string.Join('\u0000', group.Name, i.ToString(System.Globalization.CultureInfo.InvariantCulture), rule.Name, rule.ExprText, rule.For.Ticks, rule.KeepFiringFor.Ticks, string.Join(',', rule.Labels.Select(l => l.Key + "=" + l.Value)), string.Join(',', rule.Annotations.Select(l => l.Key + "=" + l.Value)));
                    live.Add(key);
                    if (!_states.TryGetValue(key, out var state))
                    {
                        _states[key] = state = new RuleState(group.Name, rule);
                    }

                    var keepFiringFor = rule.KeepFiringFor > _options.AlertResolveAfter ? rule.KeepFiringFor : _options.AlertResolveAfter;
                    state.Apply(ExprEvaluator.Evaluate(rule.Expr, _series), now, keepFiringFor);
                    if (state.LastError is { } error)
                    {
                        Log.RuleError(_logger, group.Name, rule.Name, error);
                    }

                    Due(state, now, notices);
                }
            }

            // A rule removed or changed: its alerts resolve now (a last notice for those that fired).
            foreach (var key in _states.Keys.Where(k => !live.Contains(k)).ToList())
            {
                var state = _states[key];
                foreach (var alert in state.Alerts.Values)
                {
                    if (alert.State == AlertState.Firing)
                    {
                        alert.State = AlertState.Resolved;
                        alert.ResolvedAt = now;
                        if (alert.LastSentAt is not null)
                        {
                            notices.Add(Notice(state, alert, now, changed: true));
                        }
                    }
                }

                _states.Remove(key);
            }

            _evaluatedAt = now;
            _evaluations++;
            _firing = _states.Values.Sum(static s => s.Alerts.Values.Count(static a => a.State == AlertState.Firing));
            _lastSeconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        }

        if (notices.Count > 0)
        {
            _sink.Publish(notices, now);
        }
    }

    /// <summary>Every alert pending, firing, or resolved within 15 minutes.</summary>
    public AlertsResponse ListAlerts()
    {
        var now = _time.GetUtcNow();
        lock (_lock)
        {
            var alerts = new List<AlertInfo>();
            foreach (var state in _states.Values)
            {
                foreach (var alert in state.Alerts.Values)
                {
                    alerts.Add(new AlertInfo
                    {
                        Name = state.Rule.Name,
                        Group = state.Group,
                        State = alert.State,
                        Labels = alert.Labels.ToDictionary(),
                        Annotations = alert.Annotations,
                        Value = alert.Value,
                        ActiveAt = alert.ActiveAt,
                        FiredAt = alert.FiredAt,
                        ResolvedAt = alert.ResolvedAt,
                        SilencedBy = alert.State == AlertState.Resolved ? [] : _silences.SilencedBy(alert.Labels, now),
                        Fingerprint = alert.Labels.Fingerprint,
                    });
                }
            }

            alerts.Sort(static (a, b) =>
            {
                var byState = Rank(a.State).CompareTo(Rank(b.State));
                return byState != 0 ? byState : (b.FiredAt ?? b.ActiveAt).CompareTo(a.FiredAt ?? a.ActiveAt);
            });
            return new AlertsResponse { EvaluatedAt = _evaluatedAt, Alerts = alerts };
        }
    }

    /// <summary>Every rule group, with each rule's pending and firing counts.</summary>
    public AlertRulesResponse ListRules()
    {
        var groups = _rules.Groups;
        lock (_lock)
        {
            var counts = new Dictionary<(string Group, string Rule), (int Firing, int Pending)>();
            foreach (var state in _states.Values)
            {
                var key = (state.Group, state.Rule.Name);
                var (firing, pending) = counts.GetValueOrDefault(key);
                counts[key] = (
                    firing + state.Alerts.Values.Count(a => a.State == AlertState.Firing),
                    pending + state.Alerts.Values.Count(a => a.State == AlertState.Pending));
            }

            return new AlertRulesResponse
            {
                RulesFile = _rules.FilePath,
                RulesFileError = _rules.FileError,
                Groups = [.. groups.Select(group => new AlertRuleGroupInfo
                {
                    Name = group.Name,
                    Origin = group.Origin switch { RuleOrigin.BuiltIn => "builtIn", RuleOrigin.File => "file", _ => "api" },
                    Rules = [.. group.Rules.Select(rule => new AlertRuleInfo
                    {
                        Name = rule.Name,
                        Expr = rule.Expr.ToString()!,
                        ForSeconds = rule.For.TotalSeconds,
                        KeepFiringForSeconds = Math.Max(rule.KeepFiringFor.TotalSeconds, _options.AlertResolveAfter.TotalSeconds),
                        Labels = rule.Labels,
                        Annotations = rule.Annotations,
                        Enabled = _rules.IsEnabled(group, rule),
                        Firing = counts.GetValueOrDefault((group.Name, rule.Name)).Firing,
                        Pending = counts.GetValueOrDefault((group.Name, rule.Name)).Pending,
                    })],
                })],
            };
        }
    }

    /// <summary>The rules as a Prometheus rule file (built-in rules that are switched off left out).</summary>
    public string Export()
    {
        var groups = _rules.Groups
            .Select(g => g with { Rules = [.. g.Rules.Where(r => _rules.IsEnabled(g, r))] })
            .Where(g => g.Rules.Count > 0);
        return RuleFile.Write(groups, _options.AlertResolveAfter);
    }

    /// <summary>The dashboard's base URL for alerts' links: <c>--external-url</c>, else this replica's advertised URL.</summary>
    public Func<string>? AdvertisedUrl { get; set; }

    private string BaseUrl() => _options.ExternalUrl ?? AdvertisedUrl?.Invoke() ?? "http://" + _options.Listen;

    private static int Rank(AlertState state) => state switch
    {
        AlertState.Firing => 0,
        AlertState.Pending => 1,
        _ => 2,
    };

    // Prometheus' needsSending: never a pending alert; a resolution not yet sent; otherwise once per resend delay.
    private void Due(RuleState state, DateTimeOffset now, List<AlertNotice> notices)
    {
        foreach (var alert in state.Alerts.Values)
        {
            if (alert.State == AlertState.Pending)
            {
                continue;
            }

            var resolvedUnsent = alert.State == AlertState.Resolved && !alert.ResolvedSent;
            if (!resolvedUnsent && alert.LastSentAt is { } last && now - last < ResendDelay)
            {
                continue;
            }

            if (alert.State == AlertState.Resolved && alert.LastSentAt is null)
            {
                // Never delivered (silenced all along): nothing to resolve downstream.
                continue;
            }

            if (alert.State == AlertState.Firing && _silences.SilencedBy(alert.Labels, now).Count > 0)
            {
                continue;
            }

            var changed = alert.LastSentAt is null || resolvedUnsent;
            notices.Add(Notice(state, alert, now, changed));
            alert.LastSentAt = now;
            alert.ResolvedSent |= alert.State == AlertState.Resolved;
        }
    }

    private AlertNotice Notice(RuleState state, ActiveAlert alert, DateTimeOffset now, bool changed)
    {
        var resolved = alert.State == AlertState.Resolved;
        var validFor = 4 * (ResendDelay > _options.AlertInterval ? ResendDelay : _options.AlertInterval);
        return new AlertNotice
        {
            Labels = alert.Labels,
            Annotations = alert.Annotations,
            StartsAt = alert.FiredAt ?? alert.ActiveAt,
            EndsAt = resolved ? alert.ResolvedAt!.Value : now + validFor,
            Resolved = resolved,
            Changed = changed,
            GeneratorUrl = $"{BaseUrl()}/alerts?rule={Uri.EscapeDataString(state.Rule.Name)}",
        };
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 2503, Level = LogLevel.Warning, Message = "Alert rule {Group}/{Rule}: {Error}")]
        public static partial void RuleError(ILogger logger, string group, string rule, string error);
    }
}
