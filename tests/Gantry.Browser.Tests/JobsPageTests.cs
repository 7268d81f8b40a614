using System.Globalization;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Gantry.Browser.Tests;

/// <summary>Submitting, following and cancelling jobs from the dashboard against gantry dev.</summary>
public sealed class JobsPageTests(BrowserFixture browser, DevServerFixture dev) : IClassFixture<BrowserFixture>, IClassFixture<DevServerFixture>
{
    private async Task<IPage> JobsPageAsync()
    {
        var page = await browser.NewPageAsync(dev.Url);
        await Dashboard.LoginAsync(page, dev.AdminToken, "/jobs");
        Assert.Equal("/jobs", Dashboard.PathOf(page));
        return page;
    }

    /// <summary>Fills <c>form#submit-form</c> and submits it; returns the new job's id from the page it lands on.</summary>
    private static async Task<long> SubmitAsync(IPage page, string command, string name, int gpus)
    {
        await page.Locator("input#command").FillAsync(command);
        await page.Locator("input#name").FillAsync(name);
        await page.Locator("input#gpus").FillAsync(gpus.ToString(CultureInfo.InvariantCulture));
        await page.Locator("button#submit").ClickAsync();
        await page.WaitForURLAsync(Dashboard.JobPage());
        return long.Parse(Dashboard.PathOf(page).Split('/')[^1], CultureInfo.InvariantCulture);
    }

    [BrowserFact]
    public async Task SubmitForm_Job_RunsSucceedsAndStreamsItsLogs()
    {
        var page = await JobsPageAsync();
        await Expect(page.Locator("input#priority")).ToHaveValueAsync("50");
        await Screenshots.SaveAsync(page, "jobs");

        var id = await SubmitAsync(page, "echo hello-from-browser; sleep 3; echo done", "browser-hello", 1);
        await Dashboard.WaitLiveAsync(page);
        await Dashboard.MarkDocumentAsync(page);

        var state = page.Locator("#job-state");
        var logs = page.Locator("pre#job-logs");
        await Expect(state).ToHaveTextAsync(Dashboard.Word("running"));
        await Expect(logs).ToContainTextAsync("hello-from-browser");
        await Screenshots.SaveAsync(page, "job-running");
        await Expect(state).ToHaveTextAsync(Dashboard.Word("succeeded"));
        await Expect(logs).ToContainTextAsync("done");
        await Dashboard.AssertNotReloadedAsync(page);
        await Expect(page.Locator("button#cancel")).ToHaveCountAsync(0);
        Assert.True(await page.Locator("ol#job-history li").CountAsync() >= 3, "the history lists pending, running and succeeded");
        await Screenshots.SaveAsync(page, "job");

        await page.GotoAsync("/jobs");
        var row = page.Locator($"table#jobs tr[data-job=\"{id}\"]");
        await Expect(row.Locator("td[data-field=\"state\"]")).ToHaveTextAsync(Dashboard.Word("succeeded"));
        await Expect(row.Locator("a.job-link")).ToHaveAttributeAsync("href", $"/jobs/{id}");
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task CancelButton_RunningJob_EndsCancelled()
    {
        var page = await JobsPageAsync();
        var id = await SubmitAsync(page, "sleep 600", "browser-sleeper", 0);
        await Expect(page.Locator("#job-state")).ToHaveTextAsync(Dashboard.Word("running"));

        await page.Locator("button#cancel").ClickAsync();
        await page.WaitForURLAsync(url => new Uri(url).AbsolutePath == $"/jobs/{id}");
        await Expect(page.Locator("#job-state")).ToHaveTextAsync(Dashboard.Word("cancelled"));
        await Expect(page.Locator("button#cancel")).ToHaveCountAsync(0);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task JobsTable_ShowsNewestFirstAndUpdatesLive()
    {
        var page = await JobsPageAsync();
        var first = await SubmitAsync(page, "true", "browser-first", 0);
        await page.GotoAsync("/jobs");
        await Dashboard.WaitLiveAsync(page);
        await Dashboard.MarkDocumentAsync(page);

        // Submitted behind the page's back: the live table must list it above the first one and follow its state.
        var second = await SubmitThroughApiAsync("sleep 2");
        var secondRow = page.Locator($"table#jobs tr[data-job=\"{second}\"]");
        await Expect(secondRow.Locator("td[data-field=\"state\"]")).ToHaveTextAsync(Dashboard.Word("succeeded"));
        var ids = await page.Locator("table#jobs tr[data-job]").EvaluateAllAsync<string[]>("rows => rows.map(r => r.dataset.job)");
        Assert.True(Array.IndexOf(ids, second.ToString(CultureInfo.InvariantCulture)) < Array.IndexOf(ids, first.ToString(CultureInfo.InvariantCulture)), string.Join(",", ids));
        await Dashboard.AssertNotReloadedAsync(page);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task SubmitForm_BadMaxRuntime_ShowsTheFormAgainWithAnError()
    {
        var page = await JobsPageAsync();
        await page.Locator("input#command").FillAsync("true");
        await page.Locator("input#max-runtime").FillAsync("banana");
        await page.Locator("button#submit").ClickAsync();

        var error = page.Locator(".error[role=alert]");
        await Expect(error).ToBeVisibleAsync();
        await Expect(error).ToContainTextAsync(new Regex(@"run\s*time", RegexOptions.IgnoreCase));
        await Expect(page.Locator("form#submit-form")).ToBeVisibleAsync();
        Assert.DoesNotMatch(Dashboard.JobPage(), page.Url);
        await page.Context.CloseAsync();
    }

    [BrowserFact]
    public async Task JobPage_UnknownId_ShowsNotFound()
    {
        var page = await JobsPageAsync();
        var response = await page.GotoAsync("/jobs/987654321");

        Assert.Equal(404, response!.Status);
        await Expect(page.Locator(".error").First).ToBeVisibleAsync();
        await page.Context.CloseAsync();
    }

    private async Task<long> SubmitThroughApiAsync(string shellCommand)
    {
        var submission = new JobSubmission { Name = "api-second", Command = [shellCommand], Shell = true, Resources = new ResourceRequest { Cpus = 0 } };
        using var response = await dev.Api.PostAsJsonAsync("/api/v1/jobs", submission, GantryJson.Default.JobSubmission);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        var submitted = await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse);
        return submitted!.JobIds[0];
    }
}
