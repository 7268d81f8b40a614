using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.FairShare;

/// <summary><c>gantry fair-share</c> against a canned API: its table and its JSON.</summary>
public sealed class FairShareCommandTests
{
    private static readonly FairShareInfo Info = new()
    {
        Enabled = true,
        HalfLifeSeconds = 7 * 86400,
        Accounts =
        [
            new AccountShareInfo { Account = "", UsageGpuHours = 0.25, RunningGpus = 0, PendingJobs = 3 },
            new AccountShareInfo { Account = "alice", UsageGpuHours = 12.04, RunningGpus = 8, PendingJobs = 1200, MaxGpus = 8, MaxPending = 5000 },
        ],
    };

    private static async Task<(CliResult Result, FakeApi Api)> RunAsync(params string[] args)
    {
        var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/fair-share", (HttpContext c) => FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Info, GantryJson.Default.FairShareInfo))));
        var harness = new CliHarness { Clock = TimeProvider.System };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return (await harness.RunAsync(args), api);
    }

    [Fact]
    public async Task Table_AccountsWithUsageAndLimits()
    {
        var (result, api) = await RunAsync("fair-share");
        await using var _ = api;

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("/api/v1/fair-share", Assert.Single(api.Received).PathAndQuery);
        var lines = result.Output.TrimEnd('\n').Split('\n');
        Assert.Equal("Fair share on: half-life 7d", lines[0]);
        Assert.Matches(@"^ACCOUNT\s+USED GPU-H\s+GPUS\s+PENDING\s+MAX GPUS\s+MAX PENDING$", lines[1]);
        Assert.Matches(@"^\(default\)\s+0.3\s+0\s+3\s+-\s+-$", lines[2]);
        Assert.Matches(@"^alice\s+12.0\s+8\s+1200\s+8\s+5000$", lines[3]);
    }

    [Fact]
    public async Task Json_TheApisAnswer()
    {
        var (result, api) = await RunAsync("fair-share", "-o", "json");
        await using var _ = api;

        Assert.Equal(0, result.ExitCode);
        using var json = JsonDocument.Parse(result.Output);
        var alice = json.RootElement.GetProperty("accounts")[1];
        Assert.Equal("alice", alice.GetProperty("account").GetString());
        Assert.Equal(8, alice.GetProperty("maxGpus").GetInt32());
        Assert.Equal(7 * 86400, json.RootElement.GetProperty("halfLifeSeconds").GetDouble());
    }
}
