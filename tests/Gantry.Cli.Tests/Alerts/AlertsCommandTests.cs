using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Alerts;

/// <summary><c>gantry alerts ls</c> against a fake API.</summary>
public sealed class AlertsCommandTests
{
    private static readonly DateTimeOffset Now = CliHarness.Now;

    internal static CliHarness Harness(FakeApi api, int width = 200, TextReader? input = null)
    {
        var harness = new CliHarness { TableWidth = width, Input = input };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        harness.Environment["USER"] = "ops-alice";
        return harness;
    }

    private static AlertsResponse Sample() => new()
    {
        EvaluatedAt = Now.AddSeconds(-5),
        Alerts =
        [
            new AlertInfo
            {
                Name = "GantryGpuHot",
                Group = "gantry-builtin",
                State = AlertState.Firing,
                Labels = new Dictionary<string, string> { ["alertname"] = "GantryGpuHot", ["node"] = "gpu-01", ["gpu"] = "3", ["severity"] = "warning", ["model"] = "H100" },
                Annotations = new Dictionary<string, string> { ["summary"] = "GPU 3 of gpu-01 is at 91.5 °C" },
                Value = 91.5,
                ActiveAt = Now.AddMinutes(-12),
                FiredAt = Now.AddMinutes(-7),
                SilencedBy = ["0123456789abcdef"],
                Fingerprint = "f1",
            },
            new AlertInfo
            {
                Name = "GantryNodeDown",
                Group = "gantry-builtin",
                State = AlertState.Pending,
                Labels = new Dictionary<string, string> { ["alertname"] = "GantryNodeDown", ["node"] = "gpu-07", ["severity"] = "critical" },
                Annotations = new Dictionary<string, string> { ["summary"] = "gpu-07 is down" },
                Value = 1,
                ActiveAt = Now.AddSeconds(-30),
                Fingerprint = "f2",
            },
            new AlertInfo
            {
                Name = "QueueTooLong",
                Group = "ops",
                State = AlertState.Resolved,
                Labels = new Dictionary<string, string> { ["alertname"] = "QueueTooLong", ["team"] = "ml-platform", ["queue"] = "default", ["zone"] = "eu-west-1a", ["tier"] = "batch" },
                Annotations = new Dictionary<string, string>(),
                Value = 1250000,
                ActiveAt = Now.AddHours(-1),
                FiredAt = Now.AddMinutes(-50),
                ResolvedAt = Now.AddMinutes(-3),
                Fingerprint = "f3",
            },
        ],
    };

    private static Task<FakeApi> ServeAsync(AlertsResponse response) =>
        FakeApi.StartAsync(app => app.MapGet("/api/v1/alerts", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(response, GantryJson.Default.AlertsResponse))));

    [Fact]
    public async Task AlertsLs_FiringPendingResolved_OneRowEachWithLabelsValueSinceAndSummary()
    {
        await using var api = await ServeAsync(Sample());

        var result = await Harness(api).RunAsync("alerts", "ls");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(4, lines.Length);
        Assert.Matches(@"^STATE\s+ALERT\s+NODE\s+GPU\s+SEVERITY\s+LABELS\s+VALUE\s+SINCE\s+SUMMARY$", lines[0]);
        Assert.Matches(@"^firing \(silenced\)\s+GantryGpuHot\s+gpu-01\s+3\s+warning\s+model=H100\s+91\.5\s+7m ago\s+GPU 3 of gpu-01 is at 91\.5 °C$", lines[1]);
        Assert.Matches(@"^pending\s+GantryNodeDown\s+gpu-07\s+-\s+critical\s+-\s+1\s+30s ago\s+gpu-07 is down$", lines[2]);
        Assert.Matches(@"^resolved\s+QueueTooLong\s+-\s+-\s+-\s+queue=default team=ml-platform \+2 more\s+1\.25e\+6\s+3m ago$", lines[3]);
        Assert.Equal(("GET", "/api/v1/alerts"), (api.Received[0].Method, api.Received[0].PathAndQuery));
    }

    [Fact]
    public async Task AlertsLs_StateFilter_SentAsOneQueryParameter()
    {
        await using var api = await ServeAsync(new AlertsResponse { EvaluatedAt = Now, Alerts = [] });

        var result = await Harness(api).RunAsync("alerts", "ls", "--state", "Firing,pending");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("No alerts in that state.\n", result.Output);
        Assert.Equal("/api/v1/alerts?state=firing%2Cpending", Assert.Single(api.Received).PathAndQuery);
    }

    [Theory]
    [InlineData("burning")]
    [InlineData("firing,")]
    public async Task AlertsLs_UnknownState_UsageErrorAndNothingSent(string state)
    {
        await using var api = await ServeAsync(Sample());

        var result = await Harness(api).RunAsync("alerts", "ls", "--state", state);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("gantry alerts ls: --state: expected one of pending, firing, resolved", result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task AlertsLs_Json_PrintsTheAnswerIndented()
    {
        await using var api = await ServeAsync(Sample());

        var result = await Harness(api).RunAsync("alerts", "ls", "--output", "json");

        Assert.Equal(0, result.ExitCode);
        using var document = JsonDocument.Parse(result.Output);
        var alerts = document.RootElement.GetProperty("alerts");
        Assert.Equal(3, alerts.GetArrayLength());
        Assert.Equal("firing", alerts[0].GetProperty("state").GetString());
        Assert.Equal("0123456789abcdef", alerts[0].GetProperty("silencedBy")[0].GetString());
    }

    [Fact]
    public async Task AlertsLs_NotEvaluatedYet_SaysSo()
    {
        await using var api = await ServeAsync(new AlertsResponse { Alerts = [] });

        var result = await Harness(api).RunAsync("alerts", "ls");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("has not evaluated its rules yet", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AlertsLs_Forbidden_ServersWordsAndExit1()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/alerts", (HttpContext c) =>
            FakeApi.WriteAsync(c, 403, "application/problem+json", """{"title":"Forbidden","status":403,"detail":"this call needs the admin token"}""")));

        var result = await Harness(api).RunAsync("alerts", "ls");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("gantry: Forbidden: this call needs the admin token\n", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void OtherLabels_ManyLabels_ListedUntilTheWidthThenCounted()
    {
        var labels = new Dictionary<string, string> { ["alertname"] = "X", ["node"] = "n", ["b"] = "2", ["a"] = "1", ["long"] = new string('x', 40) };

        Assert.Equal("a=1 b=2 +1 more", Gantry.Cli.Alerts.AlertViews.OtherLabels(labels));
        Assert.Equal("-", Gantry.Cli.Alerts.AlertViews.OtherLabels(new Dictionary<string, string> { ["alertname"] = "X" }));
    }

    [Theory]
    [InlineData(0, "0")]
    [InlineData(91.5, "91.5")]
    [InlineData(0.0001234, "1.23e-4")]
    [InlineData(double.NaN, "NaN")]
    [InlineData(double.PositiveInfinity, "+Inf")]
    public void Value_Numbers_ReadAsInTemplates(double value, string expected) =>
        Assert.Equal(expected, Gantry.Cli.Alerts.AlertViews.Value(value));
}
