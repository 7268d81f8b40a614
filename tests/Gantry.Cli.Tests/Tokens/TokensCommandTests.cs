using System.Text.Json;
using Gantry.Cli.Tests.Alerts;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Tokens;

/// <summary><c>gantry tokens create|ls|revoke</c> and <c>gantry jobs ls --mine</c> against a fake API.</summary>
public sealed class TokensCommandTests
{
    private static readonly DateTimeOffset Now = CliHarness.Now;

    [Fact]
    public async Task Create_AllFlags_PostsTheRequestAndPrintsOnlyTheSecret()
    {
        var answer = new CreateTokenResponse
        {
            Token = "gtok_secret",
            Info = new TokenInfo { Name = "alice", Role = Role.User, CreatedAt = Now, ExpiresAt = Now.AddDays(90), Status = "active" },
        };
        await using var api = await FakeApi.StartAsync(app => app.MapPost("/api/v1/tokens", (HttpContext c) =>
            FakeApi.WriteAsync(c, 201, "application/json", JsonSerializer.Serialize(answer, GantryJson.Default.CreateTokenResponse))));

        var result = await AlertsCommandTests.Harness(api).RunAsync(
            "tokens", "create", "--name", "alice", "--role", "User", "--unix-user", "alice", "--expires", "90d", "--max-gpus", "4", "--max-pending", "20");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("gtok_secret\n", result.Output);
        Assert.Contains("shown only now", result.Error, StringComparison.Ordinal);
        var sent = JsonSerializer.Deserialize(Assert.Single(api.Received).Body, GantryJson.Default.CreateTokenRequest)!;
        Assert.Equal(("alice", Role.User, "alice", false, 90 * 86400.0, 4, 20), (sent.Name, sent.Role, sent.UnixUser, sent.AllowRoot, sent.ExpiresInSeconds, sent.MaxGpus, sent.MaxPending));
    }

    [Theory]
    [InlineData("--role", "boss", "--role")]
    [InlineData("--expires", "soon", "--expires")]
    [InlineData("--expires", "0s", "--expires")]
    [InlineData("--max-gpus", "-1", "--max-gpus")]
    [InlineData("--max-pending", "many", "--max-pending")]
    public async Task Create_BadFlag_UsageErrorNamingItAndNothingSent(string flag, string value, string named)
    {
        await using var api = await FakeApi.StartAsync(_ => { });
        var args = new List<string> { "tokens", "create", "--name", "bob", "--role", "viewer" };
        var at = args.IndexOf(flag);
        if (at >= 0)
        {
            args[at + 1] = value;
        }
        else
        {
            args.AddRange([flag, value]);
        }

        var result = await AlertsCommandTests.Harness(api).RunAsync([.. args]);

        Assert.Equal(2, result.ExitCode);
        Assert.Contains(named, result.Error, StringComparison.Ordinal);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task Create_WithoutNameOrRole_ParseError()
    {
        await using var api = await FakeApi.StartAsync(_ => { });

        Assert.Equal(2, (await AlertsCommandTests.Harness(api).RunAsync("tokens", "create", "--role", "user")).ExitCode);
        Assert.Equal(2, (await AlertsCommandTests.Harness(api).RunAsync("tokens", "create", "--name", "x")).ExitCode);
        Assert.Empty(api.Received);
    }

    [Fact]
    public async Task Ls_Table_OneRowEachWithRoleStatusUnixUserAndLimits()
    {
        var list = new TokensResponse
        {
            Items =
            [
                new TokenInfo { Name = "admin", Role = Role.Admin, AllowRoot = true, Status = "active", Builtin = true },
                new TokenInfo { Name = "alice", Role = Role.User, UnixUser = "alice", MaxGpus = 4, MaxPending = 20, CreatedAt = Now, Status = "active" },
                new TokenInfo { Name = "bob", Role = Role.Viewer, CreatedAt = Now, RevokedAt = Now.AddHours(-1), Status = "revoked" },
            ],
        };
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/tokens", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(list, GantryJson.Default.TokensResponse))));

        var result = await AlertsCommandTests.Harness(api).RunAsync("tokens", "ls");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("NAME", lines[0], StringComparison.Ordinal);
        Assert.Contains("MAX-GPUS", lines[0], StringComparison.Ordinal);
        Assert.Matches(@"^admin\s+admin\s+active\s+- \+root\s+-\s+-\s+never \(admin\.token\)$", lines[1]);
        Assert.Matches(@"^alice\s+user\s+active\s+alice\s+4\s+20\s+never$", lines[2]);
        Assert.Matches(@"^bob\s+viewer\s+revoked\s+-\s+-\s+-\s+revoked ", lines[3]);
    }

    [Fact]
    public async Task Revoke_DeletesByName()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapDelete("/api/v1/tokens/{name}", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(new TokenInfo { Name = "bob", Role = Role.User, Status = "revoked" }, GantryJson.Default.TokenInfo))));

        var result = await AlertsCommandTests.Harness(api).RunAsync("tokens", "revoke", "bob");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("token of bob revoked\n", result.Output);
        Assert.Equal(("DELETE", "/api/v1/tokens/bob"), (api.Received[0].Method, api.Received[0].PathAndQuery));
    }

    [Fact]
    public async Task Forbidden_ByRole_OneLineNamingTheRoleNeededExit1()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/tokens", (HttpContext c) =>
            FakeApi.WriteAsync(c, 403, "application/problem+json", """{"title":"Forbidden","status":403,"detail":"this needs the admin role; the token of bob has the user role","requiredRole":"admin","role":"user"}""")));

        var result = await AlertsCommandTests.Harness(api).RunAsync("tokens", "ls");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("gantry: Forbidden: this needs the admin role; the token of bob has the user role\n", result.Error);
    }

    [Theory]
    [InlineData(new[] { "--mine" }, "/api/v1/jobs?limit=100&owner=me")]
    [InlineData(new[] { "--owner", "bob" }, "/api/v1/jobs?limit=100&owner=bob")]
    [InlineData(new string[0], "/api/v1/jobs?limit=100")]
    public async Task JobsLs_MineOrOwner_SentAsTheOwnerFilter(string[] flags, string expected)
    {
        var page = new Page<JobInfo>
        {
            Items =
            [
                new JobInfo
                {
                    Id = 7, Owner = "bob", State = Core.Jobs.JobState.Pending, Command = ["true"], Env = new Dictionary<string, string>(),
                    Resources = new Core.Jobs.ResourceRequest(), Priority = 50, Selector = new Dictionary<string, string>(), Retries = 0, SubmittedAt = Now,
                },
            ],
        };
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/jobs", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, "application/json", JsonSerializer.Serialize(page, GantryJson.Default.PageJobInfo))));

        var result = await AlertsCommandTests.Harness(api).RunAsync(["jobs", "ls", .. flags]);

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(expected, Assert.Single(api.Received).PathAndQuery);
        Assert.Contains("OWNER", result.Output, StringComparison.Ordinal);
        Assert.Matches(@"\n\s*7\s+-\s+bob\s+pending", result.Output);
    }

    [Fact]
    public async Task JobsLs_MineAndOwner_UsageError()
    {
        await using var api = await FakeApi.StartAsync(_ => { });

        var result = await AlertsCommandTests.Harness(api).RunAsync("jobs", "ls", "--mine", "--owner", "bob");

        Assert.Equal(2, result.ExitCode);
        Assert.Empty(api.Received);
    }
}
