using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Alerts;

/// <summary><c>gantry alerts rules ls|add|rm|export</c> against a fake API.</summary>
public sealed class AlertRulesCommandTests
{
    private const string Yaml = """
        groups:
          - name: gpu-extra
            rules:
              - alert: GpuWarm
                expr: gantry_gpu_temperature_celsius > 80
                for: 2m
        """;

    private static AlertRulesResponse Rules(string? fileError = null) => new()
    {
        RulesFile = "/etc/gantry/rules.yml",
        RulesFileError = fileError,
        Groups =
        [
            new AlertRuleGroupInfo
            {
                Name = "gantry-builtin",
                Origin = "builtIn",
                Rules =
                [
                    new AlertRuleInfo { Name = "GantryGpuHot", Expr = "gantry_gpu_temperature_celsius > 85", ForSeconds = 300, Firing = 2 },
                    new AlertRuleInfo { Name = "GantryNodeDown", Expr = "gantry_node_state{state=\"down\"} == 1", Enabled = false },
                ],
            },
            new AlertRuleGroupInfo
            {
                Name = "gpu-extra",
                Origin = "api",
                Rules = [new AlertRuleInfo { Name = "GpuWarm", Expr = "gantry_gpu_temperature_celsius > 80", ForSeconds = 120, Pending = 1 }],
            },
        ],
    };

    private static Task<FakeApi> ServeRulesAsync(AlertRulesResponse rules) =>
        FakeApi.StartAsync(app => app.MapGet("/api/v1/alerts/rules", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(rules, GantryJson.Default.AlertRulesResponse))));

    [Fact]
    public async Task RulesLs_Groups_OneRowPerRuleWithOriginForEnabledAndCounts()
    {
        await using var api = await ServeRulesAsync(Rules());

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "ls");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Error);
        Assert.Equal(
            """
            gantry-builtin (built-in)
              RULE            FOR  ENABLED  FIRING  PENDING  EXPR
              GantryGpuHot     5m  yes           2        0  gantry_gpu_temperature_celsius > 85
              GantryNodeDown   0s  no            0        0  gantry_node_state{state="down"} == 1

            gpu-extra (api)
              RULE     FOR  ENABLED  FIRING  PENDING  EXPR
              GpuWarm   2m  yes           0        1  gantry_gpu_temperature_celsius > 80

            """,
            result.Output);
    }

    [Fact]
    public async Task RulesLs_NarrowTerminal_CutsTheExpressionNotTheRule()
    {
        await using var api = await ServeRulesAsync(Rules());

        var result = await AlertsCommandTests.Harness(api, width: 60).RunAsync("alerts", "rules", "ls");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("\n  GantryNodeDown   0s  no            0        0  gantry_nod…\n", result.Output, StringComparison.Ordinal);
        Assert.All(result.Output.Split('\n'), line => Assert.True(line.Length <= 60, line));
    }

    [Fact]
    public async Task RulesLs_RulesFileError_OnStderrAndStillListed()
    {
        await using var api = await ServeRulesAsync(Rules("line 4, column 11: unexpected \")\""));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "ls", "--json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(2, JsonDocument.Parse(result.Output).RootElement.GetProperty("groups").GetArrayLength());
        Assert.Equal("gantry: the rules file /etc/gantry/rules.yml could not be loaded; the server keeps its last good rules: line 4, column 11: unexpected \")\"\n", result.Error);
    }

    [Fact]
    public async Task RulesAdd_File_PostsItsYamlAndPrintsTheGroups()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, Yaml);
        await using var api = await FakeApi.StartAsync(app => app.MapPost("/api/v1/alerts/rules", (HttpContext c) =>
            FakeApi.WriteAsync(c, 201, "application/json", """{"groups":["gpu-extra","gpu-more"]}""")));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "add", file);

        File.Delete(file);
        Assert.Equal(0, result.ExitCode);
        Assert.Equal("added rule group gpu-extra\nadded rule group gpu-more\n", result.Output);
        var request = Assert.Single(api.Received);
        Assert.Equal("Bearer admin-token", request.Authorization);
        Assert.Equal(Yaml, JsonSerializer.Deserialize(request.Body, GantryJson.Default.AddAlertRulesRequest)!.Yaml);
    }

    [Fact]
    public async Task RulesAdd_Stdin_ReadsTheRuleFileFromIt()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapPost("/api/v1/alerts/rules", (HttpContext c) =>
            FakeApi.WriteAsync(c, 201, "application/json", """{"groups":["gpu-extra"]}""")));

        var result = await AlertsCommandTests.Harness(api, input: new StringReader(Yaml)).RunAsync("alerts", "rules", "add", "-", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("{\n  \"groups\": [\n    \"gpu-extra\"\n  ]\n}\n", result.Output);
        Assert.Equal(Yaml, JsonSerializer.Deserialize(Assert.Single(api.Received).Body, GantryJson.Default.AddAlertRulesRequest)!.Yaml);
    }

    [Fact]
    public async Task RulesAdd_ServerRefusesTheExpression_PrintsFileLineAndColumnAndExits2()
    {
        var file = Path.GetTempFileName();
        await File.WriteAllTextAsync(file, Yaml);
        await using var api = await FakeApi.StartAsync(app => app.MapPost("/api/v1/alerts/rules", (HttpContext c) =>
            FakeApi.WriteAsync(c, 400, "application/problem+json",
                """{"title":"Invalid request","status":400,"detail":"yaml: line 5, column 44: unexpected end of input","errors":{"yaml":["line 5, column 44: unexpected end of input"]}}""")));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "add", file);

        File.Delete(file);
        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Equal($"gantry: {file}: line 5, column 44: unexpected end of input\n", result.Error);
    }

    [Fact]
    public async Task RulesAdd_MissingFile_UsageErrorAndNothingSent()
    {
        await using var api = await FakeApi.StartAsync(_ => { });

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "add", "/no/such/rules.yml");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("gantry alerts rules add: FILE: cannot read /no/such/rules.yml", result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task RulesRm_Group_SendsDeleteAndSaysSo()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapDelete("/api/v1/alerts/rules/{group}", (HttpContext c) => { c.Response.StatusCode = 204; return Task.CompletedTask; }));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "rm", "gpu extra");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("removed rule group gpu extra\n", result.Output);
        var request = Assert.Single(api.Received);
        Assert.Equal(("DELETE", "/api/v1/alerts/rules/gpu%20extra"), (request.Method, request.PathAndQuery));
    }

    [Fact]
    public async Task RulesRm_BuiltInGroup_ServersConflictAndExit1()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapDelete("/api/v1/alerts/rules/{group}", (HttpContext c) =>
            FakeApi.WriteAsync(c, 409, "application/problem+json", """{"title":"Conflict","status":409,"detail":"group gantry-builtin holds the built-in rules: switch rules off with the server's --disable-rule"}""")));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "rm", "gantry-builtin");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("gantry: Conflict: group gantry-builtin holds the built-in rules: switch rules off with the server's --disable-rule\n", result.Error);
    }

    [Fact]
    public async Task RulesExport_Stdout_WritesTheRuleFileAsSent()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/alerts/rules/export", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/yaml; charset=utf-8", Yaml)));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "export");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(Yaml, result.Output);
    }

    [Fact]
    public async Task RulesExport_OutputFile_WritesTheFileAndNothingToStdout()
    {
        var dir = Directory.CreateTempSubdirectory("gantry-export-").FullName;
        var path = Path.Combine(dir, "rules.yml");
        await File.WriteAllTextAsync(path, "old");
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/alerts/rules/export", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/yaml; charset=utf-8", Yaml)));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "rules", "export", "-o", path);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Equal(Yaml, await File.ReadAllTextAsync(path));
        Assert.Equal([path], Directory.GetFiles(dir));
        Directory.Delete(dir, recursive: true);
    }

    [Fact]
    public async Task RulesLsHelp_BothJsonSpellings()
    {
        var result = await new CliHarness().RunAsync("alerts", "rules", "ls", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("-o, --output <table|json>", result.Output, StringComparison.Ordinal);
        Assert.Contains("--json", result.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RulesExportHelp_OutputIsAFileNotAFormat()
    {
        var result = await new CliHarness().RunAsync("alerts", "rules", "export", "--help");

        Assert.Equal(0, result.ExitCode);
        Assert.Contains("-o, --output <FILE>", result.Output, StringComparison.Ordinal);
        Assert.DoesNotContain("table|json", result.Output, StringComparison.Ordinal);
        Assert.Contains("--server", result.Output, StringComparison.Ordinal);
    }
}
