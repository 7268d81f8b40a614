using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests;

/// <summary>
/// The commands given several server URLs, against fake replicas: a standby that redirects to the
/// leader, one without a leader (503), an address where nothing listens.
/// </summary>
public sealed class LeaderFollowingTests
{
    private const string Json = "application/json";
    private const string Ndjson = "application/x-ndjson";
    private const string Problem = "application/problem+json";

    private static CliHarness Harness(params string[] servers)
    {
        var harness = new CliHarness { Clock = TimeProvider.System };
        harness.Environment["GANTRY_SERVER"] = string.Join(',', servers);
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return harness;
    }

    /// <summary>Answers every request as a standby does: 307 to the leader, the same path and query.</summary>
    private static Task<FakeApi> StandbyAsync(Func<string> leader) => FakeApi.StartAsync(app => app.Run(context =>
    {
        context.Response.StatusCode = 307;
        context.Response.Headers.Location = leader() + context.Request.Path + context.Request.QueryString;
        context.Response.Headers["Gantry-Leader"] = leader();
        return Task.CompletedTask;
    }));

    /// <summary>Answers every request as a replica without a leader does.</summary>
    private static Task<FakeApi> NoLeaderAsync() => FakeApi.StartAsync(app => app.Run(context =>
    {
        context.Response.Headers.RetryAfter = "1";
        return FakeApi.WriteAsync(context, 503, Problem, """{"title":"No leader","status":503,"detail":"no leader is elected yet"}""");
    }));

    /// <summary>A loopback address where nothing listens: a port bound, then freed.</summary>
    private static string DeadAddress()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return $"http://127.0.0.1:{port}";
    }

    [Fact]
    public async Task SubmitWait_StandbyRedirects_PostIsSentAgainToTheLeaderAndLaterCallsGoThereDirectly()
    {
        await using var leader = await FakeApi.StartAsync(app =>
        {
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[42]}"""));
            app.MapGet("/api/v1/jobs/42/logs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Ndjson, """{"end":true,"state":"succeeded","exitCode":0}""" + "\n"));
        });
        await using var standby = await StandbyAsync(() => leader.Url);

        var result = await Harness(standby.Url).RunAsync("jobs", "submit", "--wait", "--gpus", "1", "--", "python", "train.py");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("gantry: submitted job 42\n", result.Error);
        var atStandby = Assert.Single(standby.Received);
        Assert.Equal(["POST /api/v1/jobs", "GET /api/v1/jobs/42/logs?follow=true"], leader.Received.Select(r => $"{r.Method} {r.PathAndQuery}"));
        var atLeader = leader.Received[0];
        Assert.Equal(atStandby.Body, atLeader.Body);
        Assert.Contains("\"train.py\"", atLeader.Body, StringComparison.Ordinal);
        Assert.Equal("Bearer admin-token", atLeader.Authorization);
    }

    [Fact]
    public async Task JobsLs_RedirectLoop_StopsAfterThreeRedirects()
    {
        FakeApi? other = null;
        await using var first = await StandbyAsync(() => other!.Url);
        await using var second = await StandbyAsync(() => first.Url);
        other = second;

        var result = await Harness(first.Url).RunAsync("jobs", "ls");

        Assert.Equal(1, result.ExitCode);
        Assert.Equal("gantry: 307 Temporary Redirect\n", result.Error);
        Assert.Equal(4, first.Received.Count + second.Received.Count);
    }

    [Fact]
    public async Task JobsLs_FirstUrlRefusesConnections_UsesTheSecond()
    {
        await using var live = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, """{"items":[]}""")));

        var result = await Harness(DeadAddress(), live.Url).RunAsync("jobs", "ls", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("", result.Error);
        Assert.Single(live.Received);
    }

    [Fact]
    public async Task NodesDrain_FirstUrlHasNoLeader_MovesOnToTheNext()
    {
        await using var noLeader = await NoLeaderAsync();
        await using var live = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/nodes/n1/drain", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, """{"id":"n1","name":"gpu-01","state":"draining"}""")));

        var result = await new CliHarness().RunAsync("nodes", "drain", "n1", "--server", $"{noLeader.Url},{live.Url}", "--token", "t", "-o", "json");

        Assert.Equal(0, result.ExitCode);
        Assert.Single(noLeader.Received);
        Assert.Equal("POST", Assert.Single(live.Received).Method);
    }

    [Fact]
    public async Task JobsLs_EveryUrlFails_NamesEachAndWhy()
    {
        var dead = DeadAddress();
        await using var noLeader = await NoLeaderAsync();

        var result = await Harness(dead, noLeader.Url).RunAsync("jobs", "ls");

        Assert.Equal(1, result.ExitCode);
        var port = new Uri(dead).Port;
        Assert.Equal(
            "gantry: cannot reach any of the servers:\n"
            + $"  {dead}: Connection refused (127.0.0.1:{port})\n"
            + $"  {noLeader.Url}: 503 Service Unavailable: no leader is elected yet\n",
            result.Error);
    }

    [Fact]
    public async Task JobsLogsFollow_LeaderGoesAwayMidStream_ResumesAtTheNextReplica()
    {
        var gone = 0;
        await using var first = await FakeApi.StartAsync(app => app.MapGet("/api/v1/jobs/7/logs", (HttpContext c) =>
            Interlocked.Increment(ref gone) == 1
                ? FakeApi.WriteAsync(c, 200, Ndjson, """{"seq":1,"attempt":1,"stream":"stdout","data":"one\n"}""" + "\n")
                : FakeApi.WriteAsync(c, 503, Problem, """{"title":"No leader","status":503}""")));
        await using var second = await FakeApi.StartAsync(app => app.MapGet("/api/v1/jobs/7/logs", (HttpContext c) =>
            FakeApi.WriteAsync(c, 200, Ndjson, """{"seq":2,"attempt":1,"stream":"stdout","data":"two\n"}""" + "\n" + """{"end":true,"state":"succeeded","exitCode":0}""")));

        var result = await Harness(first.Url, second.Url).RunAsync("jobs", "logs", "7", "-f");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("one\ntwo\n", result.Output);
        Assert.Equal("/api/v1/jobs/7/logs?follow=true&after=1", Assert.Single(second.Received).PathAndQuery);
    }
}
