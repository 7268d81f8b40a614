using System.Text.Json;
using System.Text.RegularExpressions;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// The files under <c>deploy/</c> against the real tools: Prometheus' and Alertmanager's own checks, and a real
/// Prometheus that runs <c>deploy/prometheus/prometheus.yml</c> (only addresses, the token file and intervals
/// changed), discovers a real agent through the real server's service discovery, scrapes both, and answers every
/// query of every Grafana dashboard in <c>deploy/grafana/dashboards</c>.
/// </summary>
[Collection("fleet")]
public sealed partial class PrometheusTests : IDisposable
{
    // Families a dashboard shows that the test fleet may lack: they need hardware (RAPL, hwmon, thermal zones, fans,
    // an XID) or an inference server. Their queries must still succeed; the rest must return series.
    private static readonly string[] MayBeEmpty =
    [
        "gantry_rapl_energy_joules_total", "gantry_hwmon_temperature_celsius", "gantry_thermal_zone_temperature_celsius",
        "gantry_gpu_fan_speed_ratio", "gantry_gpu_xid_errors_total",
        "gantry_server_fleet_tokens_per_joule", "gantry_server_node_tokens_per_joule", "gantry_server_fleet_tokens_per_second",
    ];

    // Grafana's variables as the test fleet fills them: one agent (agent0) with GPUs 0 and 1, scraped every second.
    private static readonly Dictionary<string, string> Variables = new(StringComparer.Ordinal)
    {
        ["node"] = "agent0",
        ["gpu"] = "0|1",
        ["__rate_interval"] = "15s",
        ["__interval"] = "1s",
        ["__range"] = "1m",
    };

    private static readonly string Deploy = Path.Combine(Tools.RepositoryRoot, "deploy");

    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-prometheus-test-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public async Task DeployConfigs_PromtoolAndAmtool_AcceptThemAndRulesPassTheirUnitTests()
    {
        var config = Path.Combine(Deploy, "prometheus", "prometheus.yml");
        var rules = Path.Combine(Deploy, "prometheus", "rules.yml");
        var alertmanager = Path.Combine(Deploy, "alertmanager", "alertmanager.yml");

        var (syntaxCode, syntax) = await Tools.RunAsync("promtool", "prometheus", "check", "config", "--syntax-only", config);
        // The full check also reads the token file and the rule file: both where the config says, beside a copy.
        var copy = await WriteConfigAsync(new Dictionary<string, string> { ["/etc/prometheus/gantry-admin.token"] = await WriteTokenAsync("gadm_check") });
        var (fullCode, full) = await Tools.RunAsync("promtool", "prometheus", "check", "config", copy);
        var (rulesCode, rulesOut) = await Tools.RunAsync("promtool", "prometheus", "check", "rules", rules);
        var (amCode, am) = await Tools.RunAsync("amtool", "prometheus-alertmanager", "check-config", alertmanager);
        // The rules' unit tests: each alert fires (and stays quiet) when it should, with the labels and text it should.
        var (unitCode, unit) = await Tools.RunAsync("promtool", "prometheus", "test", "rules", Path.Combine(Deploy, "prometheus", "rules_test.yml"));

        Assert.True(syntaxCode == 0, syntax);
        Assert.True(fullCode == 0, full);
        Assert.Contains("SUCCESS: 1 rule files found", full, StringComparison.Ordinal);
        var alerts = AlertLine().Count(await File.ReadAllTextAsync(rules));
        Assert.True(rulesCode == 0 && rulesOut.Contains($"SUCCESS: {alerts} rules found", StringComparison.Ordinal), rulesOut);
        Assert.True(amCode == 0 && am.Contains("SUCCESS", StringComparison.Ordinal), am);
        Assert.Contains("- 2 receivers", am, StringComparison.Ordinal);
        Assert.True(unitCode == 0 && unit.Contains("SUCCESS", StringComparison.Ordinal), unit);
    }

    [Fact]
    public void Dashboards_EveryPanel_QueriesTheDatasourceVariableWithPromQl()
    {
        var uids = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (file, dashboard) in Dashboards())
        {
            Assert.True(uids.Add(dashboard.GetProperty("uid").GetString()!), $"{file}: uid used twice");
            Assert.StartsWith("Gantry / ", dashboard.GetProperty("title").GetString(), StringComparison.Ordinal);
            Assert.Contains(dashboard.GetProperty("templating").GetProperty("list").EnumerateArray(), v => v.GetProperty("name").GetString() == "datasource" && v.GetProperty("query").GetString() == "prometheus");
            var panels = Panels(dashboard).ToList();
            Assert.True(panels.Count >= 8, $"{file}: {panels.Count} panels");
            foreach (var panel in panels)
            {
                var title = panel.GetProperty("title").GetString();
                Assert.Equal("${datasource}", panel.GetProperty("datasource").GetProperty("uid").GetString());
                var targets = panel.GetProperty("targets").EnumerateArray().ToList();
                Assert.True(targets.Count > 0, $"{file}: panel '{title}' has no query");
                Assert.All(targets, t => Assert.False(string.IsNullOrWhiteSpace(t.GetProperty("expr").GetString()), $"{file}: '{title}'"));
            }
        }

        Assert.Equal(new[] { "energy", "fleet", "gpu", "jobs", "node" }, Dashboards().Select(d => Path.GetFileNameWithoutExtension(d.File)).Order(StringComparer.Ordinal));
    }

    [Fact]
    public void MayBeEmpty_EveryFamily_IsDocumented()
    {
        // A misspelt name here would excuse a dashboard query that can never return anything.
        var documented = File.ReadAllText(Path.Combine(Tools.RepositoryRoot, "docs", "metrics.md"));
        Assert.All(MayBeEmpty, name => Assert.Contains($"`{name}`", documented, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Prometheus_DeployConfig_DiscoversAgentAndAnswersEveryDashboardQuery()
    {
        await using var fleet = await Fleet.StartAsync(
            new FleetOptions
            {
                // Carbon, a power budget (divided every second) and an envelope: their dashboard panels have series too.
                ServerArguments = ["--carbon-source", "static:250", "--power-budget", "2kW", "--power-budget-interval", "1s"],
                AgentArguments = ["--node-power-envelope-watts", "5000"],
                AgentLabels = "zone=eu-1",
            },
            2);
        var node = Assert.Single(await fleet.NodesAsync());
        var token = await WriteTokenAsync(File.ReadAllText(Path.Combine(fleet.DataDir, "admin.token")).Trim());
        var config = await WriteConfigAsync(new Dictionary<string, string>
        {
            ["/etc/prometheus/gantry-admin.token"] = token,
            ["gantry-server:7070"] = $"127.0.0.1:{fleet.Port}",
            ["alertmanager:9093"] = $"127.0.0.1:{Tools.FreePort()}",
            ["scrape_interval: 15s"] = "scrape_interval: 1s",
            ["evaluation_interval: 15s"] = "evaluation_interval: 1s",
            ["refresh_interval: 30s"] = "refresh_interval: 1s",
        });
        var (checkCode, check) = await Tools.RunAsync("promtool", "prometheus", "check", "config", config);
        Assert.True(checkCode == 0, check);

        await using var prometheus = await PrometheusServer.StartAsync(config);

        // The agent, found through GET /api/v1/prometheus/targets, relabelled and scraped.
        JsonElement agent = default;
        await fleet.WaitAsync("Prometheus to scrape the agent it discovered", async () =>
        {
            var targets = (await prometheus.TargetsAsync()).GetProperty("data").GetProperty("activeTargets").EnumerateArray().ToList();
            var found = targets.Where(t => t.GetProperty("labels").GetProperty("job").GetString() == "gantry-agent").ToList();
            agent = found.FirstOrDefault();
            return found.Count == 1 && agent.GetProperty("health").GetString() == "up"
                && targets.Any(t => t.GetProperty("labels").GetProperty("job").GetString() == "gantry-server" && t.GetProperty("health").GetString() == "up");
        }, seconds: 60);
        var labels = agent.GetProperty("labels");
        Assert.Equal("agent0", labels.GetProperty("node").GetString());
        Assert.Equal(node.Id, labels.GetProperty("node_id").GetString());
        Assert.Equal("eu-1", labels.GetProperty("node_zone").GetString());
        Assert.Equal(new Uri(node.AgentUrl!).Authority, labels.GetProperty("instance").GetString());
        var discovered = agent.GetProperty("discoveredLabels");
        Assert.Equal("ready", discovered.GetProperty("__meta_gantry_node_state").GetString());
        Assert.Equal("true", discovered.GetProperty("__meta_gantry_simulated").GetString());
        Assert.Equal("a0", discovered.GetProperty("__meta_gantry_label_agent").GetString());

        // Every query of every dashboard, its variables filled in as Grafana would. A series can take a few
        // scrapes (rates need two samples) or a budget division to appear: asked again until the deadline.
        var queries = Dashboards().SelectMany(d => Panels(d.Dashboard).SelectMany(p => p.GetProperty("targets").EnumerateArray()
            .Select(t => (Where: $"{Path.GetFileName(d.File)}: '{p.GetProperty("title").GetString()}'", Expr: Substitute(t.GetProperty("expr").GetString()!))))).ToList();
        var variables = Dashboards().SelectMany(d => d.Dashboard.GetProperty("templating").GetProperty("list").EnumerateArray()
            .Where(v => v.GetProperty("type").GetString() == "query")
            .Select(v => (Where: $"{Path.GetFileName(d.File)}: variable {v.GetProperty("name").GetString()}", Query: v.GetProperty("definition").GetString()!))).ToList();
        Assert.True(queries.Count >= 80, $"{queries.Count} queries");
        var failures = new List<string>();
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        do
        {
            failures.Clear();
            foreach (var (where, expr) in queries)
            {
                var answer = await prometheus.QueryAsync(expr);
                if (answer.GetProperty("status").GetString() != "success")
                {
                    failures.Add($"{where}: {expr}: {answer.GetProperty("error").GetString()}");
                }
                else if (answer.GetProperty("data").GetProperty("result").GetArrayLength() == 0 && !MayBeEmpty.Any(m => expr.Contains(m, StringComparison.Ordinal)))
                {
                    failures.Add($"{where}: {expr}: no series");
                }
            }

            foreach (var (where, query) in variables)
            {
                await CheckVariableAsync(prometheus, where, query, failures);
            }
        }
        while (failures.Count > 0 && DateTime.UtcNow < deadline && await Delay(TimeSpan.FromSeconds(1)));

        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    private static async Task<bool> Delay(TimeSpan delay)
    {
        await Task.Delay(delay);
        return true;
    }

    private static async Task CheckVariableAsync(PrometheusServer prometheus, string where, string query, List<string> failures)
    {
        // label_values(SELECTOR, LABEL) is Grafana's, not PromQL: the values are those of LABEL on SELECTOR's series.
        var match = LabelValues().Match(query);
        if (!match.Success)
        {
            failures.Add($"{where}: {query}: not label_values(selector, label)");
            return;
        }

        var label = match.Groups["label"].Value;
        var answer = await prometheus.QueryAsync($"group by ({label}) ({Substitute(match.Groups["selector"].Value)})");
        var values = answer.GetProperty("status").GetString() == "success"
            ? answer.GetProperty("data").GetProperty("result").EnumerateArray().Select(r => r.GetProperty("metric").TryGetProperty(label, out var v) ? v.GetString() : null).ToList()
            : [];
        var expected = label == "gpu" ? ["0", "1"] : new[] { "agent0" };
        if (!expected.All(values.Contains))
        {
            failures.Add($"{where}: {query}: values [{string.Join(", ", values)}], wanted {string.Join(", ", expected)}");
        }
    }

    private static string Substitute(string expr)
    {
        var filled = GrafanaVariable().Replace(expr, m =>
        {
            var name = m.Groups["braced"].Success ? m.Groups["braced"].Value : m.Groups["plain"].Value;
            return Variables.TryGetValue(name, out var value) ? value : m.Value;
        });
        Assert.False(filled.Contains('$', StringComparison.Ordinal), $"a variable the test does not know: {filled}");
        return filled;
    }

    private async Task<string> WriteTokenAsync(string token)
    {
        var path = Path.Combine(_dir, "gantry-admin.token");
        await File.WriteAllTextAsync(path, token + "\n");
        return path;
    }

    /// <summary>deploy/prometheus/prometheus.yml with each key replaced by its value (each must occur), and rules.yml beside it.</summary>
    private async Task<string> WriteConfigAsync(Dictionary<string, string> replacements)
    {
        var text = await File.ReadAllTextAsync(Path.Combine(Deploy, "prometheus", "prometheus.yml"));
        foreach (var (from, to) in replacements)
        {
            Assert.True(text.Contains(from, StringComparison.Ordinal), $"deploy/prometheus/prometheus.yml no longer says '{from}'");
            text = text.Replace(from, to, StringComparison.Ordinal);
        }

        File.Copy(Path.Combine(Deploy, "prometheus", "rules.yml"), Path.Combine(_dir, "rules.yml"), overwrite: true);
        var path = Path.Combine(_dir, "prometheus.yml");
        await File.WriteAllTextAsync(path, text);
        return path;
    }

    private static List<(string File, JsonElement Dashboard)> Dashboards() =>
        [.. Directory.GetFiles(Path.Combine(Deploy, "grafana", "dashboards"), "*.json").Order(StringComparer.Ordinal).Select(f => (f, Parse(f)))];

    private static JsonElement Parse(string file)
    {
        using var document = JsonDocument.Parse(File.ReadAllText(file));
        return document.RootElement.Clone();
    }

    /// <summary>Every panel that queries, rows' nested panels included (a collapsed row holds its own).</summary>
    private static IEnumerable<JsonElement> Panels(JsonElement container)
    {
        foreach (var panel in container.GetProperty("panels").EnumerateArray())
        {
            if (panel.GetProperty("type").GetString() == "row")
            {
                foreach (var nested in Panels(panel))
                {
                    yield return nested;
                }
            }
            else
            {
                yield return panel;
            }
        }
    }

    [GeneratedRegex(@"^\s*- alert:", RegexOptions.Multiline)]
    private static partial Regex AlertLine();

    [GeneratedRegex(@"\$(?:\{(?<braced>\w+)\}|(?<plain>\w+))")]
    private static partial Regex GrafanaVariable();

    [GeneratedRegex(@"^label_values\((?<selector>.+),\s*(?<label>\w+)\)$")]
    private static partial Regex LabelValues();
}
