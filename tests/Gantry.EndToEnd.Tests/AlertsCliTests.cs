using System.Diagnostics;
using System.Text.Json;
using System.Text.RegularExpressions;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary><c>gantry alerts …</c> as an operator runs it: the real binary against a real <c>gantry server</c> evaluating every second.</summary>
[Collection("fleet")]
public sealed partial class AlertsCliTests : IAsyncLifetime
{
    private const string AlertName = "E2eGpu99Missing";

    // absent() of a series no node has: the alert fires at the first evaluation, with no agent running.
    private const string Rules = """
        groups:
          - name: e2e-absent
            rules:
              - alert: E2eGpu99Missing
                expr: absent(gantry_gpu_temperature_celsius{gpu="99"})
                for: 0s
                labels:
                  severity: info
                annotations:
                  summary: "GPU 99 reports no temperature"
        """;

    // The expression's parenthesis is never closed (line 5).
    private const string BadRules = """
        groups:
          - name: e2e-bad
            rules:
              - alert: Broken
                expr: (gantry_gpu_temperature_celsius > 80
        """;

    private readonly string _root = Directory.CreateTempSubdirectory("gantry-alerts-").FullName;
    private GantryProcess _server = null!;
    private TestStore? _store;
    private Dictionary<string, string> _env = null!;

    public async Task InitializeAsync()
    {
        var dataDir = Path.Combine(_root, "data");
        _store = await TestStore.CreateAsync();
        _server = GantryProcess.Start(["server", "--data-dir", dataDir, .. _store.Arguments, "--listen", $"127.0.0.1:{Tools.FreePort()}", "--alert-interval", "1s"]);
        var url = await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        _env = new Dictionary<string, string>
        {
            ["GANTRY_SERVER"] = url,
            ["GANTRY_TOKEN"] = (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim(),
            ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config"),
            ["USER"] = "e2e-operator",
        };
    }

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        Directory.Delete(_root, recursive: true);
    }

    private Task<(int ExitCode, string Output)> RunAsync(params string[] args) => GantryProcess.RunAsync(args, _env, TimeSpan.FromSeconds(60));

    [Fact]
    public async Task Alerts_RuleFiresIsSilencedAndExportsAndABadRuleIsRefusedWithItsPosition()
    {
        var rules = Path.Combine(_root, "rules.yml");
        await File.WriteAllTextAsync(rules, Rules);
        var (addCode, added) = await RunAsync("alerts", "rules", "add", rules);
        Assert.True(addCode == 0, added);
        Assert.Equal("added rule group e2e-absent\n", added);

        // Fires within a few one-second evaluations.
        var alert = await WaitForAlertAsync(a => a.GetProperty("state").GetString() == "firing", "the rule's alert never fired");
        Assert.Equal("e2e-absent", alert.GetProperty("group").GetString());
        Assert.Equal("info", alert.GetProperty("labels").GetProperty("severity").GetString());
        var (_, table) = await RunAsync("alerts", "ls");
        Assert.Matches($@"\nfiring\s+{AlertName}\s+-\s+(99|-)\s+info\s+.*\s+GPU 99 ", table);

        var (silenceCode, silenceOut) = await RunAsync("alerts", "silence", "add", $"alertname={AlertName}", "--duration", "1h", "--comment", "test");
        Assert.True(silenceCode == 0, silenceOut);
        var id = silenceOut.Trim();
        Assert.Matches(SilenceId(), id);

        alert = await WaitForAlertAsync(a => a.GetProperty("silencedBy").EnumerateArray().Any(s => s.GetString() == id), "the alert was never listed as silenced");
        Assert.Equal("firing", alert.GetProperty("state").GetString());
        Assert.Matches($@"\nfiring \(silenced\)\s+{AlertName}\s", (await RunAsync("alerts", "ls", "--state", "firing")).Output);
        // Redirected output is 80 columns wide, too narrow for every column whole: the fields are read from the JSON.
        Assert.Matches($@"\n{id}\s+active\s+alertname=", (await RunAsync("alerts", "silence", "ls")).Output);
        using (var listed = JsonDocument.Parse((await RunAsync("alerts", "silence", "ls", "-o", "json")).Output))
        {
            var silence = Assert.Single(listed.RootElement.GetProperty("silences").EnumerateArray());
            Assert.Equal(id, silence.GetProperty("id").GetString());
            Assert.Equal($"alertname=\"{AlertName}\"", silence.GetProperty("matchers")[0].GetString());
            Assert.Equal("e2e-operator", silence.GetProperty("author").GetString());
            Assert.Equal("test", silence.GetProperty("comment").GetString());
        }

        var (expireCode, expired) = await RunAsync("alerts", "silence", "expire", id);
        Assert.True(expireCode == 0, expired);
        Assert.Equal($"silence {id} expired\n", expired);
        await WaitForAlertAsync(a => a.GetProperty("silencedBy").GetArrayLength() == 0, "the alert stayed silenced after its silence expired");
        Assert.DoesNotContain(id, (await RunAsync("alerts", "silence", "ls")).Output, StringComparison.Ordinal);
        Assert.Matches($@"\n{id}\s+expired\s", (await RunAsync("alerts", "silence", "ls", "--all")).Output);

        var (lsCode, groups) = await RunAsync("alerts", "rules", "ls");
        Assert.True(lsCode == 0, groups);
        Assert.Matches($@"\ne2e-absent \(api\)\n  RULE .*\n  {AlertName}\s+0s\s+yes\s+1\s+0\s+absent\(", groups);

        // The export is a rule file Prometheus' own checker accepts.
        var exported = Path.Combine(_root, "exported.yml");
        var (exportCode, exportOut) = await RunAsync("alerts", "rules", "export", "-o", exported);
        Assert.True(exportCode == 0, exportOut);
        Assert.Contains(AlertName, await File.ReadAllTextAsync(exported), StringComparison.Ordinal);
        var (checkCode, checkOut) = await PromtoolAsync("check", "rules", exported);
        Assert.True(checkCode == 0, $"promtool check rules refused the export:\n{checkOut}\n{await File.ReadAllTextAsync(exported)}");

        var bad = Path.Combine(_root, "bad.yml");
        await File.WriteAllTextAsync(bad, BadRules);
        var (badCode, badOut) = await RunAsync("alerts", "rules", "add", bad);
        Assert.True(badCode == 2, badOut);
        Assert.Matches(@$"^gantry: {Regex.Escape(bad)}: line 5, column \d+: ", badOut);

        var (rmCode, removed) = await RunAsync("alerts", "rules", "rm", "e2e-absent");
        Assert.True(rmCode == 0, removed);
        Assert.DoesNotContain("e2e-absent", (await RunAsync("alerts", "rules", "ls")).Output, StringComparison.Ordinal);
    }

    /// <summary>Polls <c>gantry alerts ls --json</c> until the test rule's alert satisfies <paramref name="condition"/>.</summary>
    private async Task<JsonElement> WaitForAlertAsync(Func<JsonElement, bool> condition, string failure)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var (code, output) = await RunAsync("alerts", "ls", "--json");
            Assert.True(code == 0, output);
            using (var document = JsonDocument.Parse(output))
            {
                foreach (var alert in document.RootElement.GetProperty("alerts").EnumerateArray())
                {
                    if (alert.GetProperty("name").GetString() == AlertName && condition(alert))
                    {
                        return alert.Clone();
                    }
                }
            }

            Assert.True(DateTime.UtcNow < deadline, $"{failure}; last answer:\n{output}\nserver output:\n{_server.Output}");
            await Task.Delay(250);
        }
    }

    private static async Task<(int ExitCode, string Output)> PromtoolAsync(params string[] args)
    {
        var info = new ProcessStartInfo(Tools.Require("promtool", "prometheus")) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }

    [GeneratedRegex("^[0-9a-f]{16}$")]
    private static partial Regex SilenceId();
}
