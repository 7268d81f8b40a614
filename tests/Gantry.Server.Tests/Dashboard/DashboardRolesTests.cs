using System.Net;
using System.Text.RegularExpressions;
using Gantry.Core.Protocol;
using Gantry.Server.Tests.Auth;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The dashboard with people's tokens: who is logged in, forms each role may use, the Tokens page, sessions ended by revoking.</summary>
public sealed partial class DashboardRolesTests : IAsyncLifetime
{
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Viewer_HeaderNamesItAndItsRole_NoSubmitForm_NoTokensPage_DrainIs403()
    {
        var (nodeId, _) = await _server.RegisterAsync("gpu-a", gpus: 1);
        using var browser = await LogInAsync("vera", Role.Viewer);

        var jobs = await browser.GetStringAsync("/jobs");
        Assert.Matches("id=\"whoami\"[^>]*>vera <span class=\"badge\" id=\"whoami-role\">viewer</span>", jobs);
        Assert.DoesNotContain("id=\"submit-form\"", jobs, StringComparison.Ordinal);
        Assert.DoesNotContain("href=\"/tokens\"", jobs, StringComparison.Ordinal);
        Assert.DoesNotContain("id=\"drain\"", await browser.GetStringAsync($"/nodes/{nodeId}"), StringComparison.Ordinal);
        Assert.Equal(HttpStatusCode.Forbidden, (await browser.GetAsync("/tokens")).StatusCode);
        using var drain = await DashboardTests.PostFormAsync(browser, "/jobs", $"/nodes/{nodeId}/drain", []);
        Assert.Equal(HttpStatusCode.Forbidden, drain.StatusCode);
        Assert.False(_server.Nodes.GetNode(nodeId)!.Drain);
    }

    [Fact]
    public async Task User_SubmitsFromTheForm_TheJobIsItsOwn_AnothersCancelIs403()
    {
        using var browser = await LogInAsync("uma", Role.User);
        Assert.Contains("id=\"submit-form\"", await browser.GetStringAsync("/jobs"), StringComparison.Ordinal);
        using var submitted = await DashboardTests.PostFormAsync(browser, "/jobs", "/jobs", new() { ["command"] = "sleep 60" });
        Assert.Equal(HttpStatusCode.Redirect, submitted.StatusCode);
        var id = long.Parse(submitted.Headers.Location!.OriginalString["/jobs/".Length..], System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("uma", (await _server.JobAsync(id)).Owner);
        var page = await browser.GetStringAsync($"/jobs/{id}");
        Assert.Contains("id=\"cancel\"", page, StringComparison.Ordinal);
        Assert.Contains("<dd id=\"job-owner\">uma</dd>", page, StringComparison.Ordinal);

        var others = (await _server.SubmitAsync(new JobSubmission { Command = ["sleep", "60"] }))[0];
        Assert.DoesNotContain("id=\"cancel\"", await browser.GetStringAsync($"/jobs/{others}"), StringComparison.Ordinal);
        using var refused = await DashboardTests.PostFormAsync(browser, "/jobs", $"/jobs/{others}/cancel", []);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.Equal(Core.Jobs.JobState.Pending, (await _server.JobAsync(others)).State);
    }

    [Fact]
    public async Task Admin_TokensPage_MakesATokenShowingItsSecretOnce_RevokeEndsItsSession()
    {
        using var admin = await LogInAsync(null, Role.Admin);
        Assert.Contains("href=\"/tokens\"", await admin.GetStringAsync("/"), StringComparison.Ordinal);

        using var created = await DashboardTests.PostFormAsync(admin, "/tokens", "/tokens", new() { ["name"] = "olly", ["role"] = "operator", ["unixUser"] = "olly", ["expires"] = "30d" });
        Assert.Equal(HttpStatusCode.OK, created.StatusCode);
        var secret = Secret().Match(await created.Content.ReadAsStringAsync());
        Assert.True(secret.Success);
        var list = await admin.GetStringAsync("/tokens");
        Assert.Contains("data-key=\"olly\"", list, StringComparison.Ordinal);
        Assert.DoesNotContain(secret.Groups[1].Value, list, StringComparison.Ordinal);

        using var bad = await DashboardTests.PostFormAsync(admin, "/tokens", "/tokens", new() { ["name"] = "Bad Name", ["role"] = "user" });
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);

        using var olly = Browser();
        using (var login = await DashboardTests.PostFormAsync(olly, "/login", "/login", new() { ["token"] = secret.Groups[1].Value, ["returnUrl"] = "/" }))
        {
            Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        }

        Assert.Equal(HttpStatusCode.OK, (await olly.GetAsync("/nodes")).StatusCode);
        using var revoked = await DashboardTests.PostFormAsync(admin, "/tokens", "/tokens/olly/revoke", []);
        Assert.Equal(HttpStatusCode.Redirect, revoked.StatusCode);
        using var after = await olly.GetAsync("/nodes");
        Assert.Equal(HttpStatusCode.Redirect, after.StatusCode);
        Assert.Contains("/login", after.Headers.Location!.OriginalString, StringComparison.Ordinal);
    }

    private async Task<HttpClient> LogInAsync(string? name, Role role)
    {
        var token = name is null ? _server.AdminToken : await TokenApiTests.CreateTokenAsync(_server, name, role);
        var browser = Browser();
        using var response = await DashboardTests.PostFormAsync(browser, "/login", "/login", new() { ["token"] = token, ["returnUrl"] = "/" });
        Assert.Equal(HttpStatusCode.Redirect, response.StatusCode);
        return browser;
    }

    private HttpClient Browser() =>
        new(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() })
        {
            BaseAddress = _server.Address,
            Timeout = TimeSpan.FromSeconds(60),
        };

    [GeneratedRegex("<code id=\"token-secret\">(gtok_[^<]+)</code>")]
    private static partial Regex Secret();
}
