using System.Net;

namespace Gantry.Server.Tests.Dashboard;

/// <summary>The dashboard's audit page and what its forms leave in the audit log; failed logins slowed down.</summary>
public sealed partial class DashboardTests
{
    [Fact]
    public async Task AuditPage_ShowsFormChanges_WithTheSameFilters()
    {
        using var browser = Browser();
        await LogInAsync(browser);
        var (nodeId, _) = await _server.RegisterAsync("gpu-a", gpus: 1);
        using (var drain = await PostFormAsync(browser, $"/nodes/{nodeId}", $"/nodes/{nodeId}/drain", []))
        {
            Assert.Equal(HttpStatusCode.Redirect, drain.StatusCode);
        }

        using (var page = await browser.GetAsync("/audit?since=1h&action=node.drain"))
        {
            Assert.Equal(HttpStatusCode.OK, page.StatusCode);
            var html = await page.Content.ReadAsStringAsync();
            Assert.Contains("<td>node.drain</td>", html, StringComparison.Ordinal);
            Assert.Contains($"<td>{nodeId}</td>", html, StringComparison.Ordinal);
            Assert.Contains("<td>admin</td>", html, StringComparison.Ordinal);
            Assert.DoesNotContain("<td>node.register</td>", html, StringComparison.Ordinal);
        }

        using (var bad = await browser.GetAsync("/audit?action=Node%20Drain"))
        {
            Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
            Assert.Contains("action must be", await bad.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        using var anonymous = Browser();
        using var redirected = await anonymous.GetAsync("/audit");
        Assert.Equal(HttpStatusCode.Redirect, redirected.StatusCode);
    }

    [Fact]
    public async Task Login_ManyWrongTokens_Are429_TheAdminTokenStillLogsIn()
    {
        using var browser = Browser();
        for (var i = 0; i < 10; i++)
        {
            using var wrong = await PostFormAsync(browser, "/login", "/login", new() { ["token"] = "gadm_guess" });
            Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        }

        using (var limited = await PostFormAsync(browser, "/login", "/login", new() { ["token"] = "gadm_guess" }))
        {
            Assert.Equal(HttpStatusCode.TooManyRequests, limited.StatusCode);
            Assert.NotNull(limited.Headers.RetryAfter);
            Assert.Contains("Too many failed logins", await limited.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        }

        await LogInAsync(browser);
    }
}
