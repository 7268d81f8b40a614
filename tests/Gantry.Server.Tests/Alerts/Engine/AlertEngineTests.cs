using Gantry.Core.Protocol;
using Gantry.Server.Alerts;
using Gantry.Server.Alerts.Delivery;
using Gantry.Server.Alerts.Evaluation;
using Gantry.Server.Alerts.Rules;
using Gantry.Server.Alerts.Silences;
using Gantry.Server.Configuration;
using Gantry.Server.Storage.Sqlite;
using Gantry.Testing;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Server.Tests.Alerts.Engine;

/// <summary>The rule engine's semantics (Prometheus'): pending, for, keep_firing_for, resolve, re-sends, silences, reloads.</summary>
public sealed class AlertEngineTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-alerts-").FullName;
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 2, 12, 0, 0, TimeSpan.Zero));
    private readonly FakeSeries _series = new();
    private readonly RecordingSink _sink = new();
    private SqliteStateStore? _store;

    public void Dispose()
    {
        _store?.Dispose();
        Directory.Delete(_dir, recursive: true);
    }

    private (AlertEngine Engine, SilenceBook Silences) Build(string? yaml = null, Action<ServerOptions>? configure = null)
    {
        _store?.Dispose();
        _store = SqliteStateStore.Open(Path.Combine(_dir, "gantry.db"));
        var state = _store.Load();
        var options = new ServerOptions { DataDir = _dir, DisabledRules = ["all"], AlertInterval = TimeSpan.FromSeconds(15) };
        configure?.Invoke(options);
        var rules = new AlertRuleBook(_store, state, options, _time, NullLogger<AlertRuleBook>.Instance);
        if (yaml is not null)
        {
            rules.Add(yaml);
        }

        var silences = new SilenceBook(_store, state, _time);
        return (new AlertEngine(rules, silences, _series, null, _sink, options, _time, NullLogger<AlertEngine>.Instance), silences);
    }

    private const string HotRule = """
        groups:
          - name: test
            rules:
              - alert: Hot
                expr: gantry_gpu_temperature_celsius > 85
                for: 1m
                labels:
                  severity: page
                annotations:
                  summary: "GPU {{ $labels.gpu }} at {{ $value }}"
        """;

    private void Temperature(double celsius, string gpu = "0") =>
        _series.Set("gantry_gpu_temperature_celsius", LabelSet.Of(LabelSet.MetricName, "gantry_gpu_temperature_celsius", "node", "a", "gpu", gpu), celsius);

    private void Step(AlertEngine engine, int seconds = 15)
    {
        _time.Advance(TimeSpan.FromSeconds(seconds));
        engine.Evaluate();
    }

    [Fact]
    public void Evaluate_PendingUntilForThenFiring_WithLabelsAndExpandedAnnotations()
    {
        var (engine, _) = Build(HotRule);
        Temperature(90);
        engine.Evaluate();
        var pending = Assert.Single(engine.ListAlerts().Alerts);
        Assert.Equal(AlertState.Pending, pending.State);
        Assert.Empty(_sink.Notices);

        Step(engine, 30);
        Assert.Equal(AlertState.Pending, engine.ListAlerts().Alerts[0].State);
        Step(engine, 30);
        var firing = Assert.Single(engine.ListAlerts().Alerts);
        Assert.Equal(AlertState.Firing, firing.State);
        Assert.Equal(
            new Dictionary<string, string> { ["alertname"] = "Hot", ["gpu"] = "0", ["node"] = "a", ["severity"] = "page" },
            firing.Labels);
        Assert.Equal("GPU 0 at 90", firing.Annotations["summary"]);
        Assert.Equal(pending.ActiveAt, firing.ActiveAt);
        Assert.Equal(_time.GetUtcNow(), firing.FiredAt);

        var notice = Assert.Single(_sink.Notices);
        Assert.True(notice.Changed);
        Assert.False(notice.Resolved);
        Assert.Equal(firing.FiredAt, notice.StartsAt);
        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromMinutes(4), notice.EndsAt);
        Assert.Contains("/alerts?rule=Hot", notice.GeneratorUrl, StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_ClearWhilePending_AlertGoesWithoutNotice()
    {
        var (engine, _) = Build(HotRule);
        Temperature(90);
        engine.Evaluate();
        Temperature(80);
        Step(engine);
        Assert.Empty(engine.ListAlerts().Alerts);
        Assert.Empty(_sink.Notices);
    }

    [Fact]
    public void Evaluate_Firing_ResentEveryMinuteThenResolvedOnceWithEndsAt()
    {
        var (engine, _) = Build(HotRule);
        Temperature(90);
        engine.Evaluate();
        Step(engine, 60);
        Assert.Single(_sink.Notices);
        Step(engine, 30);
        Assert.Single(_sink.Notices);
        Step(engine, 30);
        Assert.Equal(2, _sink.Notices.Count);
        Assert.False(_sink.Notices[1].Changed);

        Temperature(70);
        Step(engine);
        var resolved = _sink.Notices[^1];
        Assert.True(resolved.Resolved);
        Assert.True(resolved.Changed);
        Assert.Equal(_time.GetUtcNow(), resolved.EndsAt);
        Assert.Equal(AlertState.Resolved, engine.ListAlerts().Alerts[0].State);

        // Resolved alerts are re-sent each minute (Alertmanager may have missed one) and forgotten after 15 minutes.
        var count = _sink.Notices.Count;
        Step(engine, 61);
        Assert.Equal(count + 1, _sink.Notices.Count);
        Assert.False(_sink.Notices[^1].Changed);
        Assert.True(_sink.Notices[^1].Resolved);
        Step(engine, 15 * 60);
        Assert.Empty(engine.ListAlerts().Alerts);
    }

    [Fact]
    public void Evaluate_KeepFiringForAndResolveAfter_HoldTheAlertThroughAGap()
    {
        var (engine, _) = Build(HotRule, o => o.AlertResolveAfter = TimeSpan.FromMinutes(2));
        Temperature(90);
        engine.Evaluate();
        Step(engine, 60);
        Temperature(80);
        Step(engine, 60);
        Assert.Equal(AlertState.Firing, engine.ListAlerts().Alerts[0].State);
        Temperature(90);
        Step(engine, 30);
        Temperature(80);
        Step(engine, 60);
        Step(engine, 119);
        Assert.Equal(AlertState.Firing, engine.ListAlerts().Alerts[0].State);
        Step(engine, 1);
        Assert.Equal(AlertState.Resolved, engine.ListAlerts().Alerts[0].State);
        Assert.Equal(120, engine.ListRules().Groups.Single(g => g.Name == "test").Rules[0].KeepFiringForSeconds);
        Assert.Contains("keep_firing_for: 2m", engine.Export(), StringComparison.Ordinal);
    }

    [Fact]
    public void Evaluate_Silenced_NotDeliveredButListed_DeliveredOnceTheSilenceExpires()
    {
        var (engine, silences) = Build(HotRule);
        var silence = silences.Create(
            new CreateSilenceRequest { Matchers = ["alertname=Hot", "node=~a|b"], EndsAt = _time.GetUtcNow().AddHours(1), Author = "ops", Comment = "maintenance" },
            out var errors);
        Assert.Null(errors);
        Temperature(90);
        engine.Evaluate();
        Step(engine, 60);
        var alert = Assert.Single(engine.ListAlerts().Alerts);
        Assert.Equal(AlertState.Firing, alert.State);
        Assert.Equal([silence!.Id], alert.SilencedBy);
        Assert.Empty(_sink.Notices);

        silences.Expire(silence.Id);
        Step(engine);
        var notice = Assert.Single(_sink.Notices);
        Assert.True(notice.Changed);
        Assert.Empty(engine.ListAlerts().Alerts[0].SilencedBy);
    }

    [Fact]
    public void Evaluate_ResolvedWhileSilencedAllAlong_NothingSent()
    {
        var (engine, silences) = Build(HotRule);
        silences.Create(new CreateSilenceRequest { Matchers = ["alertname=Hot"], EndsAt = _time.GetUtcNow().AddHours(1), Author = "ops", Comment = "x" }, out _);
        Temperature(90);
        engine.Evaluate();
        Step(engine, 60);
        Assert.Equal(AlertState.Firing, Assert.Single(engine.ListAlerts().Alerts).State);
        Temperature(10);
        Step(engine);
        Assert.Equal(AlertState.Resolved, Assert.Single(engine.ListAlerts().Alerts).State);
        Assert.Empty(_sink.Notices);
    }

    [Fact]
    public void Evaluate_RuleRemoved_ItsFiringAlertResolvesWithANotice()
    {
        var (engine, _) = Build(HotRule);
        Temperature(90);
        engine.Evaluate();
        Step(engine, 60);
        Assert.Single(_sink.Notices);
        Assert.True(engine.Rules.Remove("test"));
        Step(engine);
        Assert.Equal(2, _sink.Notices.Count);
        Assert.True(_sink.Notices[1].Resolved);
        Assert.Empty(engine.ListAlerts().Alerts);
    }

    [Fact]
    public void Evaluate_AggregationAndAbsent_AlertLabelsAreTheResultsLabels()
    {
        var (engine, _) = Build("""
            groups:
              - name: agg
                rules:
                  - alert: NodeHot
                    expr: max by (node) (gantry_gpu_temperature_celsius) >= 85
                  - alert: NoGpu7
                    expr: absent(gantry_gpu_temperature_celsius{gpu="7", node="a"})
            """);
        Temperature(85, "0");
        Temperature(40, "1");
        engine.Evaluate();
        var alerts = engine.ListAlerts().Alerts.OrderBy(a => a.Name, StringComparer.Ordinal).ToList();
        Assert.Equal(2, alerts.Count);
        Assert.Equal(new Dictionary<string, string> { ["alertname"] = "NoGpu7", ["gpu"] = "7", ["node"] = "a" }, alerts[0].Labels);
        Assert.Equal(new Dictionary<string, string> { ["alertname"] = "NodeHot", ["node"] = "a" }, alerts[1].Labels);
        Assert.Equal(AlertState.Firing, alerts[1].State);
        Assert.Equal(85, alerts[1].Value);
    }

    [Fact]
    public void RulesFile_ChangedIsReloaded_BadVersionKeepsTheLastGoodWithItsPosition()
    {
        var path = Path.Combine(_dir, "rules.yml");
        File.WriteAllText(path, HotRule);
        var (engine, _) = Build(configure: o => o.RulesFile = path);
        Temperature(90);
        engine.Evaluate();
        Assert.Equal("Hot", Assert.Single(engine.ListAlerts().Alerts).Name);

        File.WriteAllText(path, HotRule.Replace("alert: Hot", "alert: Warm", StringComparison.Ordinal).Replace("> 85", "> 50", StringComparison.Ordinal));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(5));
        Step(engine);
        Assert.Equal("Warm", Assert.Single(engine.ListAlerts().Alerts).Name);
        Assert.Null(engine.ListRules().RulesFileError);

        File.WriteAllText(path, HotRule.Replace("> 85", "> rate(x[5m])", StringComparison.Ordinal));
        File.SetLastWriteTimeUtc(path, DateTime.UtcNow.AddSeconds(10));
        Step(engine);
        var rules = engine.ListRules();
        Assert.StartsWith("line 5, column ", rules.RulesFileError, StringComparison.Ordinal);
        Assert.Equal("Warm", rules.Groups.Single(g => g.Origin == "file").Rules[0].Name);
        Assert.Equal("Warm", Assert.Single(engine.ListAlerts().Alerts).Name);
    }

    [Fact]
    public void BuiltInRules_ListedWithDisabledOnesOff_ExportLeavesThemOut()
    {
        var (engine, _) = Build(configure: o => o.DisabledRules = ["GantryGpuHot"]);
        var builtIn = engine.ListRules().Groups.Single(g => g.Origin == "builtIn");
        Assert.Equal(BuiltInRules.GroupName, builtIn.Name);
        Assert.False(builtIn.Rules.Single(r => r.Name == "GantryGpuHot").Enabled);
        Assert.True(builtIn.Rules.Single(r => r.Name == "GantryGpuLost").Enabled);
        var export = engine.Export();
        Assert.DoesNotContain("GantryGpuHot", export, StringComparison.Ordinal);
        Assert.Contains("GantryGpuLost", export, StringComparison.Ordinal);

        Temperature(99);
        engine.Evaluate();
        Step(engine, 600);
        Assert.Empty(engine.ListAlerts().Alerts);
    }

    [Fact]
    public void ApiGroups_SurviveARestart_AndANameOfTheBuiltInsIsRefused()
    {
        var (engine, _) = Build(HotRule);
        var clash = Assert.Throws<AlertRuleException>(() => engine.Rules.Add(HotRule.Replace("name: test", "name: gantry-builtin", StringComparison.Ordinal)));
        Assert.Contains("built-in", clash.Message, StringComparison.Ordinal);

        var (again, _) = Build();
        Assert.Equal("Hot", again.ListRules().Groups.Single(g => g.Name == "test").Rules[0].Name);
    }

    private sealed class FakeSeries : IAlertSeriesSource
    {
        private readonly Dictionary<string, Dictionary<LabelSet, double>> _series = new(StringComparer.Ordinal);

        public void Set(string metric, LabelSet labels, double value)
        {
            if (!_series.TryGetValue(metric, out var byLabels))
            {
                _series[metric] = byLabels = [];
            }

            byLabels[labels] = value;
        }

        public IReadOnlyList<AlertSample> Series(string metric) =>
            _series.TryGetValue(metric, out var byLabels) ? [.. byLabels.Select(s => new AlertSample(s.Key, s.Value))] : [];
    }

    private sealed class RecordingSink : IAlertSink
    {
        public List<AlertNotice> Notices { get; } = [];

        public void Publish(IReadOnlyList<AlertNotice> notices, DateTimeOffset now) => Notices.AddRange(notices);
    }
}
