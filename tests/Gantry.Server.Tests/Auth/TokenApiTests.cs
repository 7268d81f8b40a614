using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.Auth;

/// <summary>People's tokens through the API: made, listed, refused once expired or revoked, kept across a restart; jobs know their owner.</summary>
public sealed class TokenApiTests
{
    /// <summary>Makes a token through the admin API and returns its secret.</summary>
    internal static async Task<string> CreateTokenAsync(ServerHarness server, string name, Role role, string? unixUser = null, bool allowRoot = false, double? expiresInSeconds = null)
    {
        var request = new CreateTokenRequest { Name = name, Role = role, UnixUser = unixUser, AllowRoot = allowRoot, ExpiresInSeconds = expiresInSeconds };
        using var response = await server.Admin.PostAsJsonAsync("/api/v1/tokens", request, GantryJson.Default.CreateTokenRequest);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(GantryJson.Default.CreateTokenResponse))!.Token;
    }

    [Fact]
    public async Task Create_ListsWithoutTheSecret_AndTheTokenWorks()
    {
        await using var server = await ServerHarness.StartAsync();
        var request = new CreateTokenRequest { Name = "alice", Role = Role.User, UnixUser = "alice", MaxGpus = 4, MaxPending = 20, ExpiresInSeconds = 90 * 86400 };
        using var created = await server.Admin.PostAsJsonAsync("/api/v1/tokens", request, GantryJson.Default.CreateTokenRequest);
        Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        var answer = (await created.Content.ReadFromJsonAsync(GantryJson.Default.CreateTokenResponse))!;
        Assert.StartsWith("gtok_", answer.Token, StringComparison.Ordinal);

        var list = await server.Admin.GetStringAsync("/api/v1/tokens");
        Assert.DoesNotContain(answer.Token, list, StringComparison.Ordinal);
        var tokens = JsonSerializer.Deserialize(list, GantryJson.Default.TokensResponse)!.Items;
        Assert.Equal(["admin", "alice"], tokens.Select(static t => t.Name));
        Assert.True(tokens[0].Builtin);
        var alice = tokens[1];
        Assert.Equal((Role.User, "alice", 4, 20, "active"), (alice.Role, alice.UnixUser, alice.MaxGpus, alice.MaxPending, alice.Status));
        Assert.NotNull(alice.ExpiresAt);

        using var client = server.Client(answer.Token);
        using var jobs = await client.GetAsync("/api/v1/jobs");
        Assert.Equal(HttpStatusCode.OK, jobs.StatusCode);
    }

    [Theory]
    [InlineData("{\"name\":\"Alice\",\"role\":\"user\"}", "name")]
    [InlineData("{\"name\":\"\",\"role\":\"user\"}", "name")]
    [InlineData("{\"name\":\"a b\",\"role\":\"user\"}", "name")]
    [InlineData("{\"name\":\"me\",\"role\":\"user\"}", "name")]
    [InlineData("{\"name\":\"bob\",\"role\":\"boss\"}", "role")]
    [InlineData("{\"name\":\"bob\",\"role\":\"user\",\"unixUser\":\"Bob Smith\"}", "unixUser")]
    [InlineData("{\"name\":\"bob\",\"role\":\"user\",\"unixUser\":\"root\"}", "unixUser")]
    [InlineData("{\"name\":\"bob\",\"role\":\"user\",\"expiresInSeconds\":0}", "expiresInSeconds")]
    [InlineData("{\"name\":\"bob\",\"role\":\"user\",\"maxGpus\":-1}", "maxGpus")]
    [InlineData("{\"name\":\"bob\"}", "role")]
    public async Task Create_BadRequest_400NamingTheFieldAndNothingStored(string body, string field)
    {
        await using var server = await ServerHarness.StartAsync();
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await server.Admin.PostAsync("/api/v1/tokens", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        var problem = await response.Content.ReadAsStringAsync();
        Assert.Contains(field, problem, StringComparison.Ordinal);
        var tokens = (await server.Admin.GetFromJsonAsync("/api/v1/tokens", GantryJson.Default.TokensResponse))!.Items;
        Assert.Equal(["admin"], tokens.Select(static t => t.Name));
    }

    [Fact]
    public async Task Create_NameInUse_409_AfterRevokeTheNameMayBeUsedAgain()
    {
        await using var server = await ServerHarness.StartAsync();
        var first = await CreateTokenAsync(server, "bob", Role.Viewer);
        var request = new CreateTokenRequest { Name = "bob", Role = Role.Admin };
        using (var again = await server.Admin.PostAsJsonAsync("/api/v1/tokens", request, GantryJson.Default.CreateTokenRequest))
        {
            Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        }

        using (var admin = await server.Admin.PostAsJsonAsync("/api/v1/tokens", request with { Name = "admin" }, GantryJson.Default.CreateTokenRequest))
        {
            Assert.Equal(HttpStatusCode.Conflict, admin.StatusCode);
        }

        using (var revoked = await server.Admin.DeleteAsync("/api/v1/tokens/bob"))
        {
            Assert.Equal(HttpStatusCode.OK, revoked.StatusCode);
        }

        var second = await CreateTokenAsync(server, "bob", Role.Operator);
        using var oldClient = server.Client(first);
        using var newClient = server.Client(second);
        Assert.Equal(HttpStatusCode.Unauthorized, (await oldClient.GetAsync("/api/v1/jobs")).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await newClient.GetAsync("/api/v1/jobs")).StatusCode);
    }

    [Fact]
    public async Task Find_ByName_GivesThePersonWithItsLimits()
    {
        await using var server = await ServerHarness.StartAsync();
        var request = new CreateTokenRequest { Name = "fay", Role = Role.User, MaxGpus = 2, MaxPending = 5 };
        using (var created = await server.Admin.PostAsJsonAsync("/api/v1/tokens", request, GantryJson.Default.CreateTokenRequest))
        {
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
        }

        var tokens = server.App.Services.GetRequiredService<TokenStore>();
        var fay = tokens.Find("fay")!;
        Assert.Equal((Role.User, 2, 5), (fay.Role, fay.MaxGpus, fay.MaxPending));
        Assert.True(tokens.Find("admin")!.Builtin);
        Assert.Null(tokens.Find("nobody"));
    }

    [Fact]
    public async Task Revoke_TokenRefused401SayingSo_UnknownIs404_AdminIs409()
    {
        await using var server = await ServerHarness.StartAsync();
        var secret = await CreateTokenAsync(server, "carol", Role.Operator);
        using var carol = server.Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await carol.GetAsync("/api/v1/nodes")).StatusCode);

        Assert.Equal(HttpStatusCode.OK, (await server.Admin.DeleteAsync("/api/v1/tokens/carol")).StatusCode);

        using var refused = await carol.GetAsync("/api/v1/nodes");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("revoked", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.NotFound, (await server.Admin.DeleteAsync("/api/v1/tokens/nobody")).StatusCode);
        Assert.Equal(HttpStatusCode.Conflict, (await server.Admin.DeleteAsync("/api/v1/tokens/admin")).StatusCode);
        var tokens = (await server.Admin.GetFromJsonAsync("/api/v1/tokens", GantryJson.Default.TokensResponse))!.Items;
        Assert.Equal("revoked", tokens.Single(static t => t.Name == "carol").Status);
    }

    [Fact]
    public async Task Expired_TokenRefused401SayingSo()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time);
        var secret = await CreateTokenAsync(server, "dave", Role.Viewer, expiresInSeconds: 3600);
        using var dave = server.Client(secret);
        Assert.Equal(HttpStatusCode.OK, (await dave.GetAsync("/api/v1/nodes")).StatusCode);

        time.Advance(TimeSpan.FromHours(2));

        using var refused = await dave.GetAsync("/api/v1/nodes");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.Contains("expired", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_TokensAndOwnersSurvive()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-people-").FullName;
        await using var store = await TestStore.CreateAsync();
        string secret;
        long jobId;
        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            secret = await CreateTokenAsync(server, "erin", Role.User, unixUser: "erin");
            using var erin = server.Client(secret);
            jobId = await SubmitAsync(erin);
            await CreateTokenAsync(server, "gone", Role.User);
            Assert.Equal(HttpStatusCode.OK, (await server.Admin.DeleteAsync("/api/v1/tokens/gone")).StatusCode);
        }

        await using var again = await ServerHarness.StartAsync(dataDir: dataDir, store: store);
        using var client = again.Client(secret);
        var job = (await client.GetFromJsonAsync($"/api/v1/jobs/{jobId}", GantryJson.Default.JobInfo))!;
        Assert.Equal(("erin", "erin"), (job.Owner, job.RunAsUser));
        var tokens = (await again.Admin.GetFromJsonAsync("/api/v1/tokens", GantryJson.Default.TokensResponse))!.Items;
        Assert.Equal("revoked", tokens.Single(static t => t.Name == "gone").Status);
    }

    [Fact]
    public async Task Jobs_OwnerRecorded_OwnerMeLists_UserCancelsOnlyItsOwn_OperatorAny()
    {
        await using var server = await ServerHarness.StartAsync();
        using var alice = server.Client(await CreateTokenAsync(server, "alice", Role.User, unixUser: "alice"));
        using var bob = server.Client(await CreateTokenAsync(server, "bob", Role.User));
        using var olga = server.Client(await CreateTokenAsync(server, "olga", Role.Operator));
        var alices = await SubmitAsync(alice);
        var bobs = await SubmitAsync(bob);
        var bobsArray = await SubmitAsync(bob, array: true);

        var shown = (await alice.GetFromJsonAsync($"/api/v1/jobs/{alices}", GantryJson.Default.JobInfo))!;
        Assert.Equal(("alice", "alice"), (shown.Owner, shown.RunAsUser));
        var mine = (await bob.GetFromJsonAsync("/api/v1/jobs?owner=me", GantryJson.Default.PageJobInfo))!.Items;
        Assert.All(mine, static j => Assert.Equal("bob", j.Owner));
        Assert.Contains(bobs, mine.Select(static j => j.Id));
        Assert.Contains(bobsArray, mine.Select(static j => j.Id));
        Assert.DoesNotContain(alices, mine.Select(static j => j.Id));
        var alicesList = (await olga.GetFromJsonAsync("/api/v1/jobs?owner=alice", GantryJson.Default.PageJobInfo))!.Items;
        Assert.Equal([alices], alicesList.Select(static j => j.Id));
        Assert.Equal(HttpStatusCode.BadRequest, (await olga.GetAsync("/api/v1/jobs?owner=Not%20A%20Name")).StatusCode);

        using (var refused = await alice.PostAsync($"/api/v1/jobs/{bobs}/cancel", null))
        {
            Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
            Assert.Contains("operator", await refused.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        Assert.Equal(JobState.Pending, (await server.JobAsync(bobs)).State);
        Assert.Equal(HttpStatusCode.OK, (await alice.PostAsync($"/api/v1/jobs/{alices}/cancel", null)).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await olga.PostAsync($"/api/v1/jobs/{bobs}/cancel", null)).StatusCode);
        Assert.Equal(JobState.Cancelled, (await server.JobAsync(bobs)).State);
    }

    [Fact]
    public async Task Assignment_CarriesTheOwnersUnixUserAndAllowRoot()
    {
        await using var server = await ServerHarness.StartAsync();
        using var alice = server.Client(await CreateTokenAsync(server, "alice", Role.User, unixUser: "alice"));
        using var ops = server.Client(await CreateTokenAsync(server, "ops", Role.Operator, unixUser: "root", allowRoot: true));
        var (nodeId, node) = await server.RegisterAsync("n1", gpus: 0);
        var alices = await SubmitAsync(alice);
        var opss = await SubmitAsync(ops);

        var answer = await ServerHarness.AssignmentsAsync(node, nodeId, a => a.Attempts.Count == 2);
        var byJob = answer.Attempts.ToDictionary(static a => a.JobId);
        Assert.Equal(("alice", false), (byJob[alices].RunAsUser, byJob[alices].AllowRoot));
        Assert.Equal(("root", true), (byJob[opss].RunAsUser, byJob[opss].AllowRoot));
    }

    private static async Task<long> SubmitAsync(HttpClient client, bool array = false)
    {
        var submission = new JobSubmission { Command = ["true"], Array = array ? new ArrayRange { Start = 1, End = 3 } : null };
        using var response = await client.PostAsJsonAsync("/api/v1/jobs", submission, GantryJson.Default.JobSubmission);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];
    }
}
