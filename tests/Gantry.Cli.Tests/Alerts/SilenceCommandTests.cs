using System.Text.Json;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Alerts;

/// <summary><c>gantry alerts silence add|ls|expire</c> against a fake API.</summary>
public sealed class SilenceCommandTests
{
    private static readonly DateTimeOffset Now = CliHarness.Now;

    private static SilenceInfo Silence(string id, string status, DateTimeOffset startsAt, DateTimeOffset endsAt) => new()
    {
        Id = id,
        Matchers = ["alertname=GantryGpuHot", "node=~gpu-0[1-4]"],
        StartsAt = startsAt,
        EndsAt = endsAt,
        Author = "ops-alice",
        Comment = "fan swap",
        Status = status,
    };

    private static Task<FakeApi> ServeCreateAsync() =>
        FakeApi.StartAsync(app => app.MapPost("/api/v1/alerts/silences", (HttpContext c) =>
            FakeApi.WriteAsync(c, 201, "application/json", JsonSerializer.Serialize(Silence("5f1e0c9a2b3d4e6f", "active", Now, Now.AddHours(2)), GantryJson.Default.SilenceInfo))));

    private static CreateSilenceRequest Sent(FakeApi api) =>
        JsonSerializer.Deserialize(Assert.Single(api.Received).Body, GantryJson.Default.CreateSilenceRequest)!;

    [Fact]
    public async Task SilenceAdd_MatchersAndDuration_PostsTheSilenceAndPrintsItsId()
    {
        await using var api = await ServeCreateAsync();

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "add", "alertname=GantryGpuHot", "node=~\"gpu-0[1-4]\"", "--duration", "2h", "--comment", "fan swap");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("5f1e0c9a2b3d4e6f\n", result.Output);
        var sent = Sent(api);
        Assert.Equal(["alertname=GantryGpuHot", "node=~\"gpu-0[1-4]\""], sent.Matchers);
        Assert.Null(sent.StartsAt);
        Assert.Equal(Now.AddHours(2), sent.EndsAt);
        Assert.Equal("ops-alice", sent.Author);
        Assert.Equal("fan swap", sent.Comment);
    }

    [Fact]
    public async Task SilenceAdd_BareFirstMatcherStartAndUntil_AlertNameAndTimesInUtc()
    {
        await using var api = await ServeCreateAsync();

        var result = await AlertsCommandTests.Harness(api).RunAsync(
            "alerts", "silence", "add", "GantryNodeDown", "node!=gpu-07", "--start", "2026-03-01 13:00", "--until", "2026-03-01T16:30:00+02:00", "-c", "rack work", "--author", "bob");

        Assert.Equal(0, result.ExitCode);
        var sent = Sent(api);
        Assert.Equal(["alertname=GantryNodeDown", "node!=gpu-07"], sent.Matchers);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 13, 0, 0, TimeSpan.Zero), sent.StartsAt);
        Assert.Equal(new DateTimeOffset(2026, 3, 1, 14, 30, 0, TimeSpan.Zero), sent.EndsAt);
        Assert.Equal("bob", sent.Author);
    }

    [Theory]
    [InlineData(new[] { "alertname=X", "--comment", "c" }, "--duration: say how long")]
    [InlineData(new[] { "alertname=X", "--duration", "2h", "--until", "2026-03-02T00:00Z", "--comment", "c" }, "--duration: give --duration or --until, not both")]
    [InlineData(new[] { "alertname=X", "--duration", "soon", "--comment", "c" }, "--duration: expected a duration")]
    [InlineData(new[] { "alertname=X", "--duration", "0s", "--comment", "c" }, "--duration: expected a duration")]
    [InlineData(new[] { "alertname=X", "--until", "tomorrow", "--comment", "c" }, "--until: expected a time")]
    [InlineData(new[] { "alertname=X", "--until", "2026-03-01T11:00Z", "--comment", "c" }, "--until: 2026-03-01 11:00:00Z is not in the future")]
    [InlineData(new[] { "alertname=X", "--start", "2026-03-01T15:00Z", "--until", "2026-03-01T14:00Z", "--comment", "c" }, "--until: 2026-03-01 14:00:00Z is not after --start")]
    [InlineData(new[] { "alertname=X", "node~gpu", "--duration", "1h", "--comment", "c" }, "MATCHER: 'node~gpu' is not a matcher")]
    [InlineData(new[] { "alertname=X", "=gpu", "--duration", "1h", "--comment", "c" }, "MATCHER: '=gpu' is not a matcher")]
    [InlineData(new[] { "alertname=X", "gpu-node", "--duration", "1h", "--comment", "c" }, "MATCHER: 'gpu-node' is not a matcher")]
    [InlineData(new[] { "alertname=X", "--duration", "1h", "--comment", "  " }, "--comment: must be 1 to 1024 characters")]
    public async Task SilenceAdd_BadInput_UsageErrorAndNothingSent(string[] args, string message)
    {
        await using var api = await ServeCreateAsync();

        var result = await AlertsCommandTests.Harness(api).RunAsync(["alerts", "silence", "add", .. args]);

        Assert.Equal(2, result.ExitCode);
        Assert.True(result.Error.StartsWith("gantry alerts silence add: " + message, StringComparison.Ordinal), result.Error);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task SilenceAdd_NoComment_ParserRefusesIt()
    {
        await using var api = await ServeCreateAsync();

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "add", "alertname=X", "--duration", "1h");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--comment", result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task SilenceAdd_NoUserAndNoAuthor_UsageError()
    {
        await using var api = await ServeCreateAsync();
        var harness = AlertsCommandTests.Harness(api);
        harness.Environment.Remove("USER");

        var result = await harness.RunAsync("alerts", "silence", "add", "alertname=X", "--duration", "1h", "--comment", "c");

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("gantry alerts silence add: --author: $USER is not set", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SilenceAdd_ServerRefusesAMatcher_ItsFieldErrorAndExit2()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapPost("/api/v1/alerts/silences", (HttpContext c) =>
            FakeApi.WriteAsync(c, 400, "application/problem+json",
                """{"title":"Invalid request","status":400,"detail":"matchers: 'node=~gpu[' : the regular expression does not parse","errors":{"matchers":["'node=~gpu[' : the regular expression does not parse"]}}""")));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "add", "node=~gpu[", "--duration", "1h", "--comment", "c");

        Assert.Equal(2, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Contains("  matchers: 'node=~gpu[' : the regular expression does not parse\n", result.Error, StringComparison.Ordinal);
    }

    private static Task<FakeApi> ServeListAsync() =>
        FakeApi.StartAsync(app => app.MapGet("/api/v1/alerts/silences", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(new SilencesResponse
            {
                Silences =
                [
                    Silence("aaaa000000000001", "pending", Now.AddMinutes(30), Now.AddHours(3)),
                    Silence("aaaa000000000002", "active", Now.AddMinutes(-10), Now.AddHours(1).AddMinutes(50)),
                    Silence("aaaa000000000003", "expired", Now.AddHours(-5), Now.AddHours(-4)),
                ],
            }, GantryJson.Default.SilencesResponse))));

    [Fact]
    public async Task SilenceLs_Default_ActiveAndPendingOnly()
    {
        await using var api = await ServeListAsync();

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "ls");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Matches(@"^ID\s+STATUS\s+MATCHERS\s+STARTS\s+ENDS\s+AUTHOR\s+COMMENT$", lines[0]);
        Assert.Matches(@"^aaaa000000000001\s+pending\s+alertname=GantryGpuHot node=~gpu-0\[1-4\]\s+in 30m\s+in 3h\s+ops-alice\s+fan swap$", lines[1]);
        Assert.Matches(@"^aaaa000000000002\s+active\s+.*\s+10m ago\s+in 1h50m\s+ops-alice\s+fan swap$", lines[2]);
    }

    [Fact]
    public async Task SilenceLs_All_ExpiredToo()
    {
        await using var api = await ServeListAsync();

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "ls", "--all");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"\naaaa000000000003\s+expired\s+.*\s+5h ago\s+4h ago\s+", result.Output);
    }

    [Fact]
    public async Task SilenceLs_Json_LeavesExpiredOutUnlessAll()
    {
        await using var api = await ServeListAsync();

        var some = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "ls", "-o", "json");
        var all = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "ls", "--json", "--all");

        Assert.Equal(0, some.ExitCode);
        Assert.Equal(["aaaa000000000001", "aaaa000000000002"], JsonDocument.Parse(some.Output).RootElement.GetProperty("silences").EnumerateArray().Select(s => s.GetProperty("id").GetString()));
        Assert.Equal(3, JsonDocument.Parse(all.Output).RootElement.GetProperty("silences").GetArrayLength());
    }

    [Fact]
    public async Task SilenceExpire_OneUnknownOfTwo_ExpiresTheOtherAndExits1()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapDelete("/api/v1/alerts/silences/{id}", (HttpContext c) =>
        {
            var id = (string)c.Request.RouteValues["id"]!;
            return id == "aaaa000000000002"
                ? FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(Silence(id, "expired", Now.AddMinutes(-10), Now), GantryJson.Default.SilenceInfo))
                : FakeApi.WriteAsync(c, 404, "application/problem+json", $$"""{"title":"Not found","status":404,"detail":"no silence with id {{id}}"}""");
        }));

        var result = await AlertsCommandTests.Harness(api).RunAsync("alerts", "silence", "expire", "nope", "aaaa000000000002");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("silence aaaa000000000002 expired\n", result.Output);
        Assert.Equal("gantry: Not found: no silence with id nope\n", result.Error);
        Assert.Equal(["DELETE /api/v1/alerts/silences/nope", "DELETE /api/v1/alerts/silences/aaaa000000000002"], api.Received.Select(r => $"{r.Method} {r.PathAndQuery}"));
    }
}
