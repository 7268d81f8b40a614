using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Audit;

/// <summary><c>gantry audit ls</c> against a canned API: the query it sends, its table and JSON, and its checks.</summary>
public sealed class AuditCommandTests
{
    private static readonly Page<AuditEntry> Page = new()
    {
        Items =
        [
            new AuditEntry { Id = 12, Time = new DateTimeOffset(2026, 3, 1, 11, 59, 0, TimeSpan.Zero), Actor = "alice", Role = "operator", Address = "10.0.0.7", Action = "node.drain", Target = "gpu-01", Status = 200, Outcome = "ok" },
            new AuditEntry { Id = 11, Time = new DateTimeOffset(2026, 3, 1, 11, 58, 30, TimeSpan.Zero), Actor = "admin", Role = "admin", Address = "127.0.0.1", Action = "job.cancel", Target = "999", Status = 404, Outcome = "refused" },
        ],
    };

    private static async Task<(CliResult Result, FakeApi Api)> RunAsync(params string[] args)
    {
        var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/audit", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Page, GantryJson.Default.PageAuditEntry))));
        var harness = new CliHarness { Clock = TimeProvider.System, TableWidth = 120 };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return (await harness.RunAsync(args), api);
    }

    [Fact]
    public async Task Ls_Table_SendsTheFilters()
    {
        var (result, api) = await RunAsync("audit", "ls", "--since", "7d", "--actor", "alice", "--action", "node.drain", "--limit", "50");
        await using var _ = api;

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/api/v1/audit?limit=50&since=7d&actor=alice&action=node.drain", Assert.Single(api.Received).PathAndQuery);
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Matches(@"^TIME\s+ACTOR\s+ADDRESS\s+ACTION\s+TARGET\s+OUTCOME$", lines[0]);
        Assert.Matches(@"^2026-03-01 11:59:00Z\s+alice \(operator\)\s+10\.0\.0\.7\s+node\.drain\s+gpu-01\s+ok 200$", lines[1]);
        Assert.Matches(@"^2026-03-01 11:58:30Z\s+admin\s+127\.0\.0\.1\s+job\.cancel\s+999\s+refused 404$", lines[2]);
    }

    [Fact]
    public async Task Ls_Json_TheApisItems()
    {
        var (result, api) = await RunAsync("audit", "ls", "-o", "json");
        await using var _ = api;

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/api/v1/audit?limit=100", Assert.Single(api.Received).PathAndQuery);
        using var json = JsonDocument.Parse(result.Output);
        var items = json.RootElement.GetProperty("items");
        Assert.Equal(2, items.GetArrayLength());
        Assert.Equal("refused", items[1].GetProperty("outcome").GetString());
    }

    [Theory]
    [InlineData("--since", "a week", "--since")]
    [InlineData("--since", "0s", "--since")]
    [InlineData("--actor", "a b", "--actor")]
    [InlineData("--action", "Job.Cancel", "--action")]
    [InlineData("--limit", "0", "--limit")]
    [InlineData("-o", "xml", "--output")]
    public async Task BadFlag_ExitCode2NamingIt_NothingSent(string flag, string value, string named)
    {
        var (result, api) = await RunAsync("audit", "ls", flag, value);
        await using var _ = api;

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(named, result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task Help_SaysWhatItListsAndItsFlags()
    {
        var result = await new CliHarness().RunAsync("audit", "ls", "--help");

        Assert.Equal(0, result.ExitCode);
        foreach (var flag in new[] { "--since", "--actor", "--action", "--limit", "--output", "--server", "--token" })
        {
            Assert.Contains(flag, result.Output, StringComparison.Ordinal);
        }
    }
}
