using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Gantry.Agent.Configuration;
using Gantry.Agent.ControlPlane;
using Gantry.Agent.Jobs;
using Gantry.Agent.Tests.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Agent.Tests.ControlPlane;

/// <summary>
/// An agent given several server URLs against fake replicas: a dead address, a standby that
/// redirects, one without a leader (503), a leader that goes away, and one that lost leadership.
/// </summary>
public sealed class LeaderFollowingTests : IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-agent-follow-").FullName;
    private readonly EventIdRecorder _log = new();
    private readonly List<FakeControlPlane> _servers = [];
    private WebApplication? _agent;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.StopAsync();
            await _agent.DisposeAsync();
        }

        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        Directory.Delete(_stateDir, recursive: true);
    }

    private async Task<FakeControlPlane> StartServerAsync()
    {
        var server = await FakeControlPlane.StartAsync();
        _servers.Add(server);
        return server;
    }

    private async Task StartAgentAsync(params Uri[] servers)
    {
        var options = new AgentOptions
        {
            Listen = new IPEndPoint(IPAddress.Loopback, 0),
            Interval = TimeSpan.FromSeconds(1),
            SimulateGpus = 1,
            Servers = servers,
            JoinToken = "join-secret",
            StateDir = _stateDir,
        };
        _agent = AgentHost.Build(options, configureLogging: logging =>
        {
            logging.SetMinimumLevel(LogLevel.Debug);
            logging.AddProvider(_log);
        });
        await _agent.StartAsync();
    }

    /// <summary>An address where nothing listens: a port bound, then freed.</summary>
    private static Uri DeadAddress()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        var port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return new Uri($"http://127.0.0.1:{port}/");
    }

    private async Task<JsonElement> ControlPlaneStatusAsync()
    {
        var address = _agent!.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
        using var http = new HttpClient { BaseAddress = new Uri(address) };
        using var document = JsonDocument.Parse(await http.GetStringAsync("/status"));
        Assert.True(document.RootElement.TryGetProperty("sequence", out _), "the sample is still there");
        return document.RootElement.GetProperty("controlPlane").Clone();
    }

    private int Logged(int eventId) => _log.Ids.Count(id => id == eventId);

    private static Assignment Shell(long jobId, string script) => new()
    {
        JobId = jobId,
        Attempt = 1,
        Epoch = jobId + 1000,
        Action = AssignmentAction.Run,
        Command = [script],
        Shell = true,
        Gpus = [0],
        Cpus = 1,
        MemoryBytes = 1 << 20,
        KillGraceSeconds = 2,
    };

    [Fact]
    public async Task Agent_FirstUrlRefusesConnections_UsesTheSecond()
    {
        var dead = DeadAddress();
        var live = await StartServerAsync();
        await StartAgentAsync(dead, live.Url);

        await ProcessTable.WaitUntilAsync(() => live.Heartbeats.Count >= 2, "heartbeats reach the second URL");

        Assert.Single(live.Registrations);
        Assert.Equal(1, Logged(141));
        Assert.Equal(0, Logged(131));
        var status = await ControlPlaneStatusAsync();
        Assert.Equal([dead.AbsoluteUri.TrimEnd('/'), live.Url.AbsoluteUri.TrimEnd('/')], status.GetProperty("servers").EnumerateArray().Select(e => e.GetString()));
        Assert.Equal(live.Url.AbsoluteUri.TrimEnd('/'), status.GetProperty("current").GetString());
        Assert.True(status.GetProperty("reachable").GetBoolean());
    }

    [Fact]
    public async Task Agent_StandbyAnswers307_SwitchesToTheLeaderAndStaysThere()
    {
        // The leader is not in the list: the standby's word is enough.
        var leader = await StartServerAsync();
        var standby = await StartServerAsync();
        standby.RedirectTo = leader.Url;
        leader.Assign(Shell(21, "echo on the leader"));
        await StartAgentAsync(standby.Url);

        await ProcessTable.WaitUntilAsync(() => leader.Heartbeats.Count >= 3, "heartbeats reach the leader");
        await ProcessTable.WaitUntilAsync(() => leader.Uploads.Any(u => u.Event?.Type == AttemptEventType.Ended), "the job's end reaches the leader");

        // The registration's body and token were sent again to the leader; only that first call met the standby.
        var (auth, registration) = Assert.Single(leader.Registrations);
        Assert.Equal("Bearer join-secret", auth);
        Assert.Single(registration.Gpus);
        Assert.Equal(Environment.MachineName, registration.Name);
        Assert.Equal(1, standby.Requests);
        Assert.Empty(standby.Registrations);
        Assert.Equal(1, Logged(140));
        Assert.Equal(leader.Url.AbsoluteUri.TrimEnd('/'), (await ControlPlaneStatusAsync()).GetProperty("current").GetString());
    }

    [Fact]
    public async Task Agent_FirstUrlAnswers503_MovesToTheNext()
    {
        var noLeader = await StartServerAsync();
        noLeader.Down = true;
        var live = await StartServerAsync();
        await StartAgentAsync(noLeader.Url, live.Url);

        await ProcessTable.WaitUntilAsync(() => live.Heartbeats.Count >= 2, "heartbeats reach the second URL");

        Assert.Equal(1, noLeader.Requests);
        Assert.Single(live.Registrations);
        Assert.Equal(1, Logged(141));
    }

    [Fact]
    public async Task Agent_LeaderGoesAway_NextReplicaGetsHeartbeatsWithoutRegisteringAgain()
    {
        var first = await StartServerAsync();
        first.LeaderEpoch = 3;
        var second = await StartServerAsync();
        second.LeaderEpoch = 4;
        await StartAgentAsync(first.Url, second.Url);
        await ProcessTable.WaitUntilAsync(() => !first.Heartbeats.IsEmpty, "a heartbeat reaches the first leader");

        _servers.Remove(first);
        await first.KillAsync();

        await ProcessTable.WaitUntilAsync(() => second.Heartbeats.Count >= 2, "heartbeats reach the new leader");
        Assert.Empty(second.Registrations);
        Assert.All(second.Heartbeats, h => Assert.Equal("Bearer cred-1", h.Authorization));
        Assert.Equal(4, (await ControlPlaneStatusAsync()).GetProperty("leaderEpoch").GetInt64());
    }

    [Fact]
    public async Task Agent_AssignmentsFromALowerLeaderEpoch_AreIgnoredAndRunningJobsGoOn()
    {
        var server = await StartServerAsync();
        server.LeaderEpoch = 6;
        server.Assign(Shell(31, "sleep 300"));
        await StartAgentAsync(server.Url);
        var runner = _agent!.Services.GetRequiredService<JobRunner>();
        await ProcessTable.WaitUntilAsync(() => runner.Running().Any(r => r.JobId == 31), "job 31 runs");

        // A replica that lost leadership answers: it would stop job 31 and start job 32.
        server.LeaderEpoch = 5;
        server.Assign(Shell(32, "echo stale"));
        await ProcessTable.WaitUntilAsync(() => Logged(142) == 1, "the stale answer is logged");
        var heartbeats = server.Heartbeats.Count;
        await ProcessTable.WaitUntilAsync(() => server.Heartbeats.Count >= heartbeats + 2, "a few more rounds go by");

        Assert.Contains(runner.Running(), r => r.JobId == 31);
        Assert.DoesNotContain(runner.Running(), r => r.JobId == 32);
        Assert.DoesNotContain(server.Uploads, u => u.JobId == 32);
        Assert.Equal(1, Logged(142));

        // The real leader (a higher epoch) is obeyed again.
        server.LeaderEpoch = 7;
        await ProcessTable.WaitUntilAsync(() => server.Uploads.Any(u => u.JobId == 32 && u.Event?.Type == AttemptEventType.Ended), "job 32 runs under epoch 7");
        await ProcessTable.WaitUntilAsync(() => !runner.Running().Any(r => r.JobId == 31), "job 31, no longer listed, is stopped");
    }

    [Fact]
    public async Task WaitOutBackoff_ControlPlaneAnswersAgain_EveryWaitingLoopGoesAtOnce()
    {
        var time = new FakeTimeProvider();
        var connection = new ServerConnection(new LeaderFollower([new Uri("http://a:7070/"), new Uri("http://b:7070/")], NullLogger.Instance), time, NullLogger.Instance);

        // Up: a backoff is waited out in full (the fake clock must move).
        var full = connection.WaitOutBackoffAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        await Task.Delay(50);
        Assert.False(full.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(2));
        await full.WaitAsync(TimeSpan.FromSeconds(5));

        // Down: two loops back off; one of them (or a third) finds the new leader: both go now.
        connection.Failed(new HttpRequestException("Connection refused"));
        var assignments = connection.WaitOutBackoffAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        var reports = connection.WaitOutBackoffAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        await Task.Delay(50);
        Assert.False(assignments.IsCompleted);
        connection.Succeeded();
        await Task.WhenAll(assignments, reports).WaitAsync(TimeSpan.FromSeconds(5));

        // The next outage needs its own recovery: a wait after it is not cut short by the last one.
        connection.Failed(new HttpRequestException("Connection refused"));
        var next = connection.WaitOutBackoffAsync(TimeSpan.FromSeconds(2), CancellationToken.None);
        await Task.Delay(50);
        Assert.False(next.IsCompleted);
        time.Advance(TimeSpan.FromSeconds(2));
        await next.WaitAsync(TimeSpan.FromSeconds(5));

        // Stopping ends a wait with OperationCanceledException.
        using var stop = new CancellationTokenSource();
        var stopped = connection.WaitOutBackoffAsync(TimeSpan.FromMinutes(1), stop.Token);
        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopped);
    }

    [Fact]
    public void Failed_RoundRobin_MovesOnceAndWrapsAround()
    {
        var a = new Uri("http://a:7070/");
        var b = new Uri("http://b:7070/");
        var c = new Uri("http://c:7070/");
        var follower = new LeaderFollower([a, b, c], NullLogger.Instance);

        Assert.Equal(b, follower.Failed(a, "refused"));

        // A second loop that saw the same failure does not skip b.
        Assert.Equal(b, follower.Failed(a, "refused"));
        Assert.Equal(c, follower.Failed(b, "503"));
        Assert.Equal(a, follower.Failed(c, "timed out"));
        Assert.Equal(3, follower.RoundLength);
    }

    [Fact]
    public void Redirected_LeaderNotListed_FailureMovesOnFromTheStandbyThatNamedIt()
    {
        var a = new Uri("http://a:7070/");
        var b = new Uri("http://b:7070/");
        var follower = new LeaderFollower([a, b], NullLogger.Instance);

        follower.Redirected(a, new Uri("http://leader:7070"));
        Assert.Equal(new Uri("http://leader:7070/"), follower.Current);

        Assert.Equal(b, follower.Failed(follower.Current, "refused"));
        follower.Redirected(b, a);
        Assert.Equal(a, follower.Current);
        Assert.Equal(b, follower.Failed(a, "refused"));
    }

    [Fact]
    public void Accept_LowerEpochRefusedZeroAlwaysTaken()
    {
        var server = new Uri("http://a:7070/");
        var follower = new LeaderFollower([server], NullLogger.Instance);

        Assert.True(follower.Accept(4, server));
        Assert.True(follower.Accept(4, server));
        Assert.False(follower.Accept(3, server));
        Assert.True(follower.Accept(0, server));
        Assert.True(follower.Accept(9, server));
        Assert.False(follower.Accept(4, server));
        Assert.Equal(9, follower.LeaderEpoch);
        Assert.Contains("\"leaderEpoch\":9", System.Text.Encoding.UTF8.GetString(follower.StatusJson), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(null, "http://10.0.0.2:7070/api/v1/nodes/n1/heartbeat", "http://10.0.0.2:7070/")]
    [InlineData(null, "http://10.0.0.2:7070/gantry/api/v1/nodes/n1/heartbeat", "http://10.0.0.2:7070/gantry/")]
    [InlineData("http://10.0.0.3:7070", "http://10.0.0.2:7070/api/v1/nodes/n1/heartbeat", "http://10.0.0.3:7070/")]
    [InlineData(null, "/api/v1/nodes/n1/heartbeat", "http://standby:7070/")]
    public void LeaderOf_HeaderOrLocation_GivesTheLeadersBaseUrl(string? header, string location, string expected)
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect);
        response.Headers.Location = new Uri(location, UriKind.RelativeOrAbsolute);
        if (header is not null)
        {
            response.Headers.Add(LeaderRedirect.HeaderName, header);
        }

        Assert.Equal(new Uri(expected), ControlPlaneClient.LeaderOf(response, new Uri("http://standby:7070/"), "api/v1/nodes/n1/heartbeat"));
    }

    [Fact]
    public void LeaderOf_HttpsToPlainHttp_IsRefused()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.TemporaryRedirect);
        response.Headers.Add(LeaderRedirect.HeaderName, "http://10.0.0.2:7070");

        var ex = Assert.Throws<HttpRequestException>(() => ControlPlaneClient.LeaderOf(response, new Uri("https://standby:7070/"), "api/v1/nodes/register"));
        Assert.Contains("not followed from https to plain http", ex.Message, StringComparison.Ordinal);
    }
}
