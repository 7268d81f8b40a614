using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Testing;

namespace Gantry.Server.Tests.Audit;

/// <summary>Bad tokens from one address are slowed down; valid tokens never are (docs/audit.md).</summary>
public sealed class TokenFailureLimitTests
{
    private static void Limit(ServerOptions options)
    {
        options.AuthFailureLimit = 3;
        options.AuthFailureWindow = TimeSpan.FromMinutes(1);
    }

    [Fact]
    public async Task BadTokens_PastTheLimit_Are429_ValidTokensStillWork_UntilTheWindowEnds()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var server = await ServerHarness.StartAsync(time, configure: Limit);
        var (nodeId, node) = await server.RegisterAsync("box", 0);
        using var guesser = server.Client("guess-0000000000000000");
        for (var i = 0; i < 3; i++)
        {
            using var refused = await guesser.GetAsync("/api/v1/jobs");
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        }

        time.Advance(TimeSpan.FromSeconds(20));
        using (var limited = await guesser.GetAsync("/api/v1/jobs"))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.Equal("application/problem+json", limited.Content.Headers.ContentType!.MediaType);
            Assert.Equal(TimeSpan.FromSeconds(40), limited.Headers.RetryAfter!.Delta);
        }

        // From the same (loopback) address: the admin token, the join token and a node's credential are let in.
        using (var admin = await server.Admin.GetAsync("/api/v1/jobs"))
        {
            Assert.Equal(HttpStatusCode.OK, admin.StatusCode);
        }

        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = new NodeSummary { SampledAt = DateTimeOffset.UnixEpoch } }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        await server.RegisterAsync("other", 0);

        // A request without a token is not limited (it is told to send one).
        using (var anonymous = await server.Anonymous.GetAsync("/api/v1/jobs"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        }

        time.Advance(TimeSpan.FromSeconds(40));
        using (var again = await guesser.GetAsync("/api/v1/jobs"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, again.StatusCode);
        }
    }

    [Fact]
    public void Limiter_RemembersBoundedAddresses_ForgetsTheOldestAndEndedWindows()
    {
        var time = new FakeTimeProvider();
        var limiter = new TokenFailureLimiter(new ServerOptions { AuthFailureLimit = 2, AuthFailureAddresses = 2 }, time);
        var a = IPAddress.Parse("10.0.0.1");
        var b = IPAddress.Parse("10.0.0.2");
        var c = IPAddress.Parse("10.0.0.3");
        limiter.Failed(a);
        limiter.Failed(a);
        Assert.True(limiter.IsLimited(a, out var retryAfter));
        Assert.Equal(TimeSpan.FromMinutes(1), retryAfter);

        time.Advance(TimeSpan.FromSeconds(1));
        limiter.Failed(b);
        limiter.Failed(c);
        Assert.Equal(2, limiter.Count);
        Assert.False(limiter.IsLimited(a, out _));

        // One /64 is one address.
        limiter.Failed(IPAddress.Parse("2001:db8::1"));
        limiter.Failed(IPAddress.Parse("2001:db8::2"));
        Assert.True(limiter.IsLimited(IPAddress.Parse("2001:db8::ffff"), out _));

        time.Advance(TimeSpan.FromMinutes(1));
        Assert.False(limiter.IsLimited(IPAddress.Parse("2001:db8::1"), out _));
        Assert.Equal(0, limiter.Count);
    }
}
