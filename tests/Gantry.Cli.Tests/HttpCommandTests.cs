using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests;

/// <summary>The commands against a real HTTP endpoint that serves canned API answers.</summary>
public sealed class HttpCommandTests
{
    private const string Problem = "application/problem+json";
    private const string Json = "application/json";
    private const string Ndjson = "application/x-ndjson";

    private static CliHarness Harness(FakeApi api, StringWriter? output = null)
    {
        var harness = new CliHarness { Clock = TimeProvider.System, Output = output ?? new StringWriter { NewLine = "\n" } };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return harness;
    }

    private static string JobPage(params JobInfo[] jobs) =>
        JsonSerializer.Serialize(new Page<JobInfo> { Items = jobs }, GantryJson.Default.PageJobInfo);

    [Fact]
    public async Task Submit_Accepted_PostsSubmissionWithTokenAndPrintsId()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[42]}""")));

        var result = await Harness(api).RunAsync("jobs", "submit", "--gpus", "1", "--memory", "1024", "--", "python", "train.py");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("42\n", result.Output);
        var request = Assert.Single(api.Received);
        Assert.Equal("Bearer admin-token", request.Authorization);
        var sent = JsonSerializer.Deserialize(request.Body, GantryJson.Default.JobSubmission)!;
        Assert.Equal(["python", "train.py"], sent.Command);
        Assert.Equal(1, sent.Resources.Gpus);
        Assert.Equal(1024L * 1024 * 1024, sent.Resources.MemoryBytes);
    }

    [Fact]
    public async Task Submit_JsonOutput_PrintsTheAnswerIndented()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[1,2]}""")));

        var result = await Harness(api).RunAsync("jobs", "submit", "-o", "json", "--array", "1-2", "--", "x");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("{\n  \"jobIds\": [\n    1,\n    2\n  ]\n}\n", result.Output);
    }

    [Fact]
    public async Task Submit_ProblemAnswer_PrintsTitleDetailAndFieldErrors()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 400, Problem, """
                {"type":"about:blank","title":"Invalid request","status":400,"traceId":"00-ab",
                 "detail":"resources.gpus must be between 0 and 64, got 65",
                 "errors":{"resources.gpus":["must be between 0 and 64, got 65"],"priority":["must be at most 100"]}}
                """)));

        var result = await Harness(api).RunAsync("jobs", "submit", "--gpus", "65", "--", "x");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("", result.Output);
        Assert.Equal(
            "gantry: Invalid request: resources.gpus must be between 0 and 64, got 65\n"
            + "  resources.gpus: must be between 0 and 64, got 65\n"
            + "  priority: must be at most 100\n",
            result.Error);
    }

    [Fact]
    public async Task NodesLs_Unauthorized_SaysWhereTokensComeFrom()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/nodes", (HttpContext c) => FakeApi.WriteAsync(c, 401, Problem, """{"title":"Unauthorized","status":401}""")));
        var harness = Harness(api);
        harness.Environment.Remove("GANTRY_TOKEN");

        var result = await harness.RunAsync("nodes", "ls");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("gantry: Unauthorized\ngantry: no token was given", result.Error, StringComparison.Ordinal);
        Assert.Contains("--token", result.Error, StringComparison.Ordinal);
        Assert.Contains("GANTRY_TOKEN", result.Error, StringComparison.Ordinal);
        Assert.Contains("<data-dir>/admin.token", result.Error, StringComparison.Ordinal);
        Assert.Equal("", Assert.Single(api.Received).Authorization);
    }

    [Fact]
    public async Task NodesShow_WrongToken_NamesWhereTheTokenCameFrom()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/nodes/{id}", (HttpContext c) => FakeApi.WriteAsync(c, 401, Problem, """{"title":"Unauthorized","status":401,"detail":"the token is not valid"}""")));

        var result = await Harness(api).RunAsync("nodes", "show", "n1");

        Assert.Equal(1, result.ExitCode);
        Assert.StartsWith("gantry: Unauthorized: the token is not valid\ngantry: the server refused the token from GANTRY_TOKEN", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsShow_NotAProblemAnswer_ShowsStatusAndBody()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/jobs/{id}", (HttpContext c) => FakeApi.WriteAsync(c, 502, "text/plain", "upstream down")));

        var result = await Harness(api).RunAsync("jobs", "show", "5");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("gantry: 502 Bad Gateway: upstream down\n", result.Error);
    }

    [Fact]
    public async Task JobsLs_NobodyListening_CannotReachTheServer()
    {
        // Bind a port, then free it: nothing listens there.
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();

        var result = await new CliHarness().RunAsync("jobs", "ls", "--server", $"http://127.0.0.1:{port}");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal($"gantry: cannot reach the server at http://127.0.0.1:{port}: Connection refused (127.0.0.1:{port})\n", result.Error);
    }

    [Theory]
    [InlineData("a b")]
    [InlineData("tok\u00e9n")]
    public async Task JobsLs_TokenThatCannotBeSent_IsAUsageErrorNamingTheFlag(string token)
    {
        var result = await new CliHarness().RunAsync("jobs", "ls", "--server", "http://127.0.0.1:9", "--token", token);

        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("gantry jobs ls: --token: the token holds a character that cannot be sent in an HTTP header", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task JobsLs_AnswerWithUnknownFields_ReadsTableAndPassesQuery()
    {
        var page = JobPage(Samples.Job(9, JobState.Running)).Replace("{\"items\"", "{\"future\":1,\"items\"", StringComparison.Ordinal);
        await using var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, page)));

        var result = await Harness(api).RunAsync("jobs", "ls", "--state", "Running", "--limit", "5");

        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"^ID\s+NAME\s+OWNER\s+STATE.*\n 9\s+train\s+-\s+running\s", result.Output);
        Assert.Equal("/api/v1/jobs?limit=5&state=running", Assert.Single(api.Received).PathAndQuery);
    }

    [Fact]
    public async Task NodesLs_TwoPages_FollowsCursorAndWritesOneJsonList()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/nodes", (HttpContext c) =>
        {
            var second = c.Request.Query.ContainsKey("cursor");
            var page = new Page<NodeInfo> { Items = [Samples.Node(second ? "n2" : "n1")], NextCursor = second ? null : "after-n1" };
            return FakeApi.WriteAsync(c, 200, Json, JsonSerializer.Serialize(page, GantryJson.Default.PageNodeInfo));
        }));

        var result = await Harness(api).RunAsync("nodes", "ls", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        using var document = JsonDocument.Parse(result.Output);
        var ids = document.RootElement.GetProperty("items").EnumerateArray().Select(n => n.GetProperty("id").GetString()!).ToArray();
        Assert.Equal(["n1", "n2"], ids);
        Assert.Contains("\n  \"items\": [\n", result.Output, StringComparison.Ordinal);
        Assert.Equal(["/api/v1/nodes?limit=1000", "/api/v1/nodes?limit=1000&cursor=after-n1"], api.Received.Select(r => r.PathAndQuery));
    }

    [Fact]
    public async Task NodesDrain_Node_PostsAndSaysWhatHappens()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapPost("/api/v1/nodes/{id}/drain", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, Json, JsonSerializer.Serialize(Samples.Node("n1", Core.Nodes.NodeState.Draining), GantryJson.Default.NodeInfo))));

        var result = await Harness(api).RunAsync("nodes", "drain", "n1");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("node n1 is draining: 3 jobs still running, no new ones\n", result.Output);
        Assert.Equal("POST", Assert.Single(api.Received).Method);
    }

    [Fact]
    public async Task JobsCancel_AlreadyEnded_PrintsConflict()
    {
        await using var api = await FakeApi.StartAsync(app => app.MapPost("/api/v1/jobs/{id}/cancel", (HttpContext c) =>
            FakeApi.WriteAsync(c, 409, Problem, """{"title":"Conflict","status":409,"detail":"job 3 already succeeded"}""")));

        var result = await Harness(api).RunAsync("jobs", "cancel", "3");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("gantry: Conflict: job 3 already succeeded\n", result.Error);
    }

    [Fact]
    public async Task SubmitWait_OneJob_StreamsOutputAsItArrivesAndExitsWithItsCode()
    {
        var firstChunkShown = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var output = new SignalingWriter("hello", firstChunkShown);
        await using var api = await FakeApi.StartAsync(app =>
        {
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[7]}"""));
            app.MapGet("/api/v1/jobs/7/logs", async (HttpContext c) =>
            {
                c.Response.ContentType = Ndjson;
                await c.Response.WriteAsync("""{"seq":1,"attempt":1,"stream":"stdout","data":"hello\n"}""" + "\n", c.RequestAborted);
                await c.Response.Body.FlushAsync(c.RequestAborted);
                // The job "runs" until the client has shown the first chunk: output must not wait for the end.
                await firstChunkShown.Task.WaitAsync(TimeSpan.FromSeconds(30), c.RequestAborted);
                await c.Response.WriteAsync("""{"seq":2,"attempt":1,"stream":"stderr","data":"warn\n"}""" + "\n", c.RequestAborted);
                await c.Response.WriteAsync("""{"end":true,"state":"failed","exitCode":3}""" + "\n", c.RequestAborted);
            });
        });

        var result = await Harness(api, output).RunAsync("jobs", "submit", "--wait", "--", "python", "x.py");

        Assert.Equal(3, result.ExitCode);
        Assert.Equal("hello\n", result.Output);
        Assert.Equal("gantry: submitted job 7\nwarn\ngantry: job 7 failed with exit code 3\n", result.Error);
        Assert.Equal("/api/v1/jobs/7/logs?follow=true", api.Received[1].PathAndQuery);
    }

    [Theory]
    [InlineData("succeeded", "0", 0)]
    [InlineData("cancelled", null, 1)]
    [InlineData("lost", null, 1)]
    [InlineData("failed", null, 1)]
    [InlineData("failed", "256", 1)]
    [InlineData("failed", "-1073741819", 1)]
    [InlineData("failed", "137", 137)]
    public async Task SubmitWait_EndState_MapsToExitCode(string state, string? exitCode, int expected)
    {
        var end = exitCode is null ? $$"""{"end":true,"state":"{{state}}"}""" : $$"""{"end":true,"state":"{{state}}","exitCode":{{exitCode}}}""";
        await using var api = await FakeApi.StartAsync(app =>
        {
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[7]}"""));
            app.MapGet("/api/v1/jobs/7/logs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Ndjson, end + "\n"));
        });

        var result = await Harness(api).RunAsync("jobs", "submit", "--wait", "--", "x");

        Assert.Equal(expected, result.ExitCode);
    }

    [Fact]
    public async Task JobsLogsFollow_StreamDropsBeforeEnd_ResumesAfterLastChunk()
    {
        var calls = 0;
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/jobs/7/logs", (HttpContext c) =>
            Interlocked.Increment(ref calls) == 1
                ? FakeApi.WriteAsync(c, 200, Ndjson, """{"seq":1,"attempt":1,"stream":"stdout","data":"one\n"}""" + "\n")
                : FakeApi.WriteAsync(c, 200, Ndjson, """{"seq":2,"attempt":1,"stream":"stdout","data":"two\n"}""" + "\n" + """{"end":true,"state":"succeeded","exitCode":0}""")));

        var result = await Harness(api).RunAsync("jobs", "logs", "7", "-f");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("one\ntwo\n", result.Output);
        Assert.Contains("interrupted", result.Error, StringComparison.Ordinal);
        Assert.Equal(["/api/v1/jobs/7/logs?follow=true", "/api/v1/jobs/7/logs?follow=true&after=1"], api.Received.Select(r => r.PathAndQuery));
    }

    [Fact]
    public async Task JobsLogs_JsonOutput_PrintsRecordsAsNdjson()
    {
        const string body = """{"seq":1,"attempt":1,"stream":"stderr","data":"x"}""" + "\n" + """{"end":true,"state":"running"}""" + "\n";
        await using var api = await FakeApi.StartAsync(app => app.MapGet("/api/v1/jobs/7/logs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Ndjson, body)));

        var result = await Harness(api).RunAsync("jobs", "logs", "7", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(body, result.Output);
        Assert.Equal("", result.Error);
        Assert.Equal("/api/v1/jobs/7/logs?follow=false", Assert.Single(api.Received).PathAndQuery);
    }

    [Fact]
    public async Task SubmitWait_Array_PollsUntilAllEndAndFailsIfOneFailed()
    {
        var polls = 0;
        await using var api = await FakeApi.StartAsync(app =>
        {
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[10,11,12]}"""));
            app.MapGet("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, Interlocked.Increment(ref polls) == 1
                ? JobPage(Samples.Job(13, JobState.Pending), Samples.Job(12, JobState.Succeeded), Samples.Job(11, JobState.Running), Samples.Job(10, JobState.Succeeded))
                : JobPage(Samples.Job(13, JobState.Pending), Samples.Job(12, JobState.Succeeded), Samples.Job(11, JobState.Failed), Samples.Job(10, JobState.Succeeded))));
        });

        var result = await Harness(api).RunAsync("jobs", "submit", "--array", "1-3", "--wait", "--", "x");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal(
            "gantry: submitted jobs 10, 11, 12\n"
            + "gantry: 2 of 3 jobs ended (2 succeeded)\n"
            + "gantry: 1 of 3 jobs did not succeed (2 succeeded, 1 failed): 11 failed (exit 3)\n",
            result.Error);
        Assert.Equal(2, polls);
    }

    [Fact]
    public async Task SubmitWait_ArrayAllSucceed_ExitsZero()
    {
        await using var api = await FakeApi.StartAsync(app =>
        {
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[1,2]}"""));
            app.MapGet("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, JobPage(Samples.Job(2, JobState.Succeeded), Samples.Job(1, JobState.Succeeded))));
        });

        var result = await Harness(api).RunAsync("jobs", "submit", "--array", "0-1", "--wait", "--", "x");

        Assert.Equal(0, result.ExitCode);
        Assert.EndsWith("gantry: all 2 jobs succeeded\n", result.Error, StringComparison.Ordinal);
    }

    /// <summary>Completes a task when the text it is waiting for has been written.</summary>
    private sealed class SignalingWriter(string expected, TaskCompletionSource seen) : StringWriter
    {
        public override void Write(char value)
        {
            base.Write(value);
            Check();
        }

        public override void Write(string? value)
        {
            base.Write(value);
            Check();
        }

        public override Task WriteAsync(ReadOnlyMemory<char> buffer, CancellationToken cancellationToken = default)
        {
            base.Write(buffer.Span);
            Check();
            return Task.CompletedTask;
        }

        private void Check()
        {
            if (ToString().Contains(expected, StringComparison.Ordinal))
            {
                seen.TrySetResult();
            }
        }
    }
}
