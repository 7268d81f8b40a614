using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Configuration;
using Gantry.Server.PowerSaving;
using Gantry.Testing;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests.PowerSaving;

/// <summary>
/// Idle power-down on a real server (fake clock) with real suspend and resume programs: shell scripts that
/// record each call (program, argument, node id, the fake clock's second) to a file.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PowerSavingTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-power-").FullName;
    // From the real time (dashboard sessions are cookies whose expiry the client checks against the real clock), in whole seconds as the store keeps them.
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.FromUnixTimeSeconds(DateTimeOffset.UtcNow.ToUnixTimeSeconds()));

    private string CallLog => Path.Combine(_dir, "calls.log");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>A script that appends "NAME ARG NODE_ID" to the call log, then runs <paramref name="then"/>.</summary>
    private string Script(string name, string then = "exit 0")
    {
        var path = Path.Combine(_dir, name + ".sh");
        File.WriteAllText(path, $"#!/bin/sh\necho \"{name} $1 $GANTRY_NODE_ID $(date +%s.%N)\" >> '{CallLog}'\n{then}\n");
        File.SetUnixFileMode(path, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        return path;
    }

    private string[] Calls() => File.Exists(CallLog) ? File.ReadAllLines(CallLog) : [];

    private Action<ServerOptions> Power(TimeSpan? resumeTimeout = null, int keepIdle = 0, string? suspendThen = null) => o =>
    {
        o.PowerSaving.SuspendAfter = TimeSpan.FromSeconds(30);
        o.PowerSaving.SuspendCommand = Script("suspend", suspendThen ?? "exit 0");
        o.PowerSaving.ResumeCommand = Script("resume");
        o.PowerSaving.ResumeTimeout = resumeTimeout ?? TimeSpan.FromMinutes(1);
        o.PowerSaving.KeepIdle = keepIdle;
    };

    private static NodeSummary Idle(DateTimeOffset at, double watts) => new() { SampledAt = at, PowerWatts = watts };

    /// <summary>Heartbeats every node once a second of the fake clock for <paramref name="seconds"/> seconds.</summary>
    private async Task KeepAliveAsync(int seconds, params (string Id, HttpClient Http, double Watts)[] nodes)
    {
        for (var s = 0; s < seconds; s++)
        {
            foreach (var (id, http, watts) in nodes)
            {
                using var response = await http.PostAsJsonAsync($"/api/v1/nodes/{id}/heartbeat", new HeartbeatRequest { Summary = Idle(_clock.GetUtcNow(), watts) }, GantryJson.Default.HeartbeatRequest);
                Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            }

            _clock.Advance(TimeSpan.FromSeconds(1));
        }
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "timed out waiting: " + what);
            await Task.Delay(25);
        }
    }

    private static Task UntilAsync(Func<bool> condition, string what) => UntilAsync(() => Task.FromResult(condition()), what);

    private static async Task TickUntilAsync(ServerHarness server, Func<bool> condition, string what)
    {
        var worker = server.App.Services.GetRequiredService<PowerSavingWorker>();
        await UntilAsync(
            async () =>
            {
                await worker.Tick(CancellationToken.None);
                return condition();
            },
            what);
    }

    private static async Task<NodeInfo> NodeAsync(ServerHarness server, string id) =>
        (await server.Admin.GetFromJsonAsync($"/api/v1/nodes/{id}", GantryJson.Default.NodeInfo))!;

    /// <summary>A browser with a dashboard session (the login form's token posted back, as a browser does).</summary>
    private static async Task<HttpClient> LogInAsync(ServerHarness server)
    {
        var browser = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, CookieContainer = new CookieContainer() }) { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(60) };
        var form = await browser.GetStringAsync("/login");
        var token = System.Text.RegularExpressions.Regex.Match(form, "name=\"_csrf\" value=\"([^\"]+)\"");
        Assert.True(token.Success, "the login page has no form token");
        using var login = await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string> { ["token"] = server.AdminToken, ["returnUrl"] = "/", ["_csrf"] = WebUtility.HtmlDecode(token.Groups[1].Value) }));
        Assert.Equal(HttpStatusCode.Redirect, login.StatusCode);
        return browser;
    }

    /// <summary>promtool's lint of a scrape with the power-saving families, per-node series included.</summary>
    private static async Task PromtoolAcceptsAsync(string metrics)
    {
        var promtool = Tools.Require("promtool", "prometheus");
        using var process = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo(promtool, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.StandardInput.WriteAsync(metrics);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, output);
    }

    private static async Task<string> MetricsAsync(ServerHarness server) => await server.Admin.GetStringAsync("/metrics");

    /// <summary>Idle past --suspend-after: suspended by the command, and counted as suspended on /metrics.</summary>
    private async Task SuspendAsync(ServerHarness server, string id, HttpClient http, double watts)
    {
        await KeepAliveAsync(31, (id, http, watts));
        await TickUntilAsync(server, () => server.Nodes.StateOf(id) == NodeState.Suspended, "node suspended");
        await UntilAsync(async () => (await MetricsAsync(server)).Contains("gantry_server_power_commands_total{command=\"suspend\",result=\"ok\"} 1", StringComparison.Ordinal), "suspend command done");
    }

    [Fact]
    public async Task IdleNode_SuspendedThenResumedForAJob_JobRuns()
    {
        await using var server = await ServerHarness.StartAsync(_clock, configure: Power());
        var (id, http) = await server.RegisterAsync("box", 2);
        await SuspendAsync(server, id, http, watts: 120);
        var suspendCall = Assert.Single(Calls());
        Assert.StartsWith($"suspend box {id} ", suspendCall, StringComparison.Ordinal);

        // Its silence is expected: liveness leaves it suspended, and the energy saved grows with the time.
        for (var s = 0; s < 10; s++)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            server.SweepLiveness();
        }

        var suspended = await NodeAsync(server, id);
        Assert.Equal(NodeState.Suspended, suspended.State);
        Assert.Equal(1200, suspended.PowerSaving!.EnergySavedJoules, 3);
        Assert.Equal(120, suspended.PowerSaving.IdleWatts!.Value, 3);
        var metrics = await MetricsAsync(server);
        Assert.Contains("gantry_server_energy_saved_joules_total 1200\n", metrics, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_energy_saved_joules_total{{node=\"box\",node_id=\"{id}\"}} 1200\n", metrics, StringComparison.Ordinal);
        Assert.Contains("gantry_server_nodes{state=\"suspended\"} 1", metrics, StringComparison.Ordinal);
        await PromtoolAcceptsAsync(metrics);

        // The dashboard: the state badge and the saving, in the nodes list and on the node's page.
        using var browser = await LogInAsync(server);
        var list = await browser.GetStringAsync("/nodes");
        Assert.Contains("<span class=\"state state-suspended\">suspended</span>", list, StringComparison.Ordinal);
        Assert.Matches("data-field=\"energy-saved\"[^>]*>[^<]*saved</div>", list);
        var page = await browser.GetStringAsync($"/nodes/{id}");
        Assert.Contains("id=\"node-power\"", page, StringComparison.Ordinal);
        Assert.Contains("saved by power saving", page, StringComparison.Ordinal);

        // A job that needs it: the resume command runs, the job says what it waits for.
        var job = (await server.SubmitAsync(new JobSubmission { Command = ["train"], Resources = new ResourceRequest { Gpus = 2 } }))[0];
        await TickUntilAsync(server, () => server.Nodes.StateOf(id) == NodeState.Resuming, "node resuming");
        await UntilAsync(() => Calls().Length == 2, "resume call recorded");
        Assert.StartsWith($"resume box {id} ", Calls()[1], StringComparison.Ordinal);
        var waiting = await server.JobAsync(job);
        Assert.Equal(JobState.Pending, waiting.State);
        Assert.Contains($"waiting for node {id} to resume", waiting.Reason, StringComparison.Ordinal);

        // Back: its first heartbeat makes it ready, and the job is placed there and runs.
        using (var heartbeat = await http.PostAsJsonAsync($"/api/v1/nodes/{id}/heartbeat", new HeartbeatRequest(), GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(NodeState.Ready, (await heartbeat.Content.ReadFromJsonAsync(GantryJson.Default.HeartbeatResponse))!.State);
        }

        var assignment = (await ServerHarness.AssignmentsAsync(http, id, r => r.Attempts.Count == 1)).Attempts[0];
        Assert.Equal(job, assignment.JobId);
        (await ServerHarness.ReportAsync(http, assignment, new AttemptEvent { Epoch = assignment.Epoch, Type = AttemptEventType.Started, Time = _clock.GetUtcNow() })).Dispose();
        Assert.Equal(JobState.Running, (await server.WaitForJobAsync(job, j => j.State == JobState.Running)).State);
        var back = await NodeAsync(server, id);
        Assert.Equal(1200, back.PowerSaving!.EnergySavedJoules, 3);
        Assert.StartsWith("resumed in", back.PowerSaving.LastEvent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SuspendedNode_AlertSeries_DropItsStaleFiguresAndKeepItsState()
    {
        await using var server = await ServerHarness.StartAsync(_clock, configure: Power());
        var (id, http) = await server.RegisterAsync("box", 1);
        var series = new Gantry.Server.Alerts.Evaluation.FleetSeries(server.Nodes, null, null, _clock);
        await KeepAliveAsync(1, (id, http, 95));
        series.Refresh();
        Assert.Equal(95, Assert.Single(series.Series("gantry_node_power_watts")).Value);
        Assert.Equal(1, Assert.Single(series.Series("gantry_node_up")).Value);

        await SuspendAsync(server, id, http, watts: 95);
        series.Refresh();

        // Its last power reading is stale on purpose: no series, so no power or temperature rule fires on it.
        Assert.Empty(series.Series("gantry_node_power_watts"));
        Assert.Equal(0, Assert.Single(series.Series("gantry_node_up")).Value);
        var state = Assert.Single(series.Series("gantry_node_state"));
        Assert.Equal("suspended", state.Labels.Get("state"));
    }

    [Fact]
    public async Task ResumingNode_SilentPastResumeTimeout_MarkedDownWithReason()
    {
        await using var server = await ServerHarness.StartAsync(_clock, configure: Power(resumeTimeout: TimeSpan.FromSeconds(10)));
        var (id, http) = await server.RegisterAsync("box", 1);
        await SuspendAsync(server, id, http, watts: 80);
        await server.SubmitAsync(new JobSubmission { Command = ["x"], Resources = new ResourceRequest { Gpus = 1 } });
        await TickUntilAsync(server, () => server.Nodes.StateOf(id) == NodeState.Resuming, "node resuming");

        _clock.Advance(TimeSpan.FromSeconds(11));
        await TickUntilAsync(server, () => server.Nodes.StateOf(id) == NodeState.Down, "node down");
        var node = await NodeAsync(server, id);
        Assert.Contains("did not come back within the resume timeout (10s)", node.PowerSaving!.LastEvent, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeepIdle_TwoIdleNodes_OneStaysAwake()
    {
        await using var server = await ServerHarness.StartAsync(_clock, configure: Power(keepIdle: 1));
        var a = await server.RegisterAsync("a", 1);
        var b = await server.RegisterAsync("b", 1);
        await KeepAliveAsync(31, (a.Id, a.Http, 50), (b.Id, b.Http, 50));
        await TickUntilAsync(server, () => Calls().Length == 1, "one suspend call");

        // The one kept awake goes on heartbeating; looked at again later, it still stays.
        var awake = server.Nodes.StateOf(a.Id) == NodeState.Ready ? a : b;
        var asleep = awake == a ? b : a;
        Assert.Equal(NodeState.Suspended, server.Nodes.StateOf(asleep.Id));
        await KeepAliveAsync(10, (awake.Id, awake.Http, 50));
        await server.App.Services.GetRequiredService<PowerSavingWorker>().Tick(CancellationToken.None);
        Assert.Single(Calls());
        Assert.Equal(NodeState.Ready, server.Nodes.StateOf(awake.Id));
        Assert.Equal(NodeState.Suspended, server.Nodes.StateOf(asleep.Id));
    }

    [Fact]
    public async Task SuspendCommandFails_NodeStaysUpAndTheFailureIsShown()
    {
        await using var server = await ServerHarness.StartAsync(_clock, configure: Power(suspendThen: "echo 'BMC unreachable' >&2; exit 3"));
        var (id, http) = await server.RegisterAsync("box", 1);
        await KeepAliveAsync(31, (id, http, 60));
        await TickUntilAsync(server, () => Calls().Length >= 1, "suspend call");
        await UntilAsync(async () => (await NodeAsync(server, id)).PowerSaving?.LastEvent is not null, "failure shown");
        var node = await NodeAsync(server, id);
        Assert.Equal(NodeState.Ready, node.State);
        Assert.Equal("suspend command failed: suspend.sh exited with 3: BMC unreachable", node.PowerSaving!.LastEvent);
        Assert.Contains("gantry_server_power_commands_total{command=\"suspend\",result=\"failed\"} 1", await MetricsAsync(server), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Restart_SuspendedNode_StaysSuspendedAndKeepsItsSaving()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-power-restart-").FullName;
        await using var store = await TestStore.CreateAsync();
        string id;
        string credential;
        await using (var server = await ServerHarness.StartAsync(_clock, dataDir: dataDir, configure: Power(), store: store))
        {
            var registered = await server.RegisterAsync("box", 1);
            id = registered.Id;
            credential = registered.Http.DefaultRequestHeaders.Authorization!.Parameter!;
            await SuspendAsync(server, id, registered.Http, watts: 100);
            _clock.Advance(TimeSpan.FromSeconds(5));
        }

        _clock.Advance(TimeSpan.FromSeconds(5));
        await using var again = await ServerHarness.StartAsync(_clock, dataDir: dataDir, configure: Power(), store: store);
        for (var s = 0; s < 10; s++)
        {
            _clock.Advance(TimeSpan.FromSeconds(1));
            again.SweepLiveness();
        }

        // Suspended all along (the server's downtime included), never down for its silence.
        var node = await NodeAsync(again, id);
        Assert.Equal(NodeState.Suspended, node.State);
        Assert.Equal(2000, node.PowerSaving!.EnergySavedJoules, 3);

        // And a job still resumes it.
        await again.SubmitAsync(new JobSubmission { Command = ["x"], Resources = new ResourceRequest { Gpus = 1 } });
        await TickUntilAsync(again, () => again.Nodes.StateOf(id) == NodeState.Resuming, "node resuming after restart");
        using var http = again.Client(credential);
        using var heartbeat = await http.PostAsJsonAsync($"/api/v1/nodes/{id}/heartbeat", new HeartbeatRequest(), GantryJson.Default.HeartbeatRequest);
        Assert.Equal(NodeState.Ready, (await heartbeat.Content.ReadFromJsonAsync(GantryJson.Default.HeartbeatResponse))!.State);
    }

    [Fact]
    public async Task PreferEfficient_TwoNodesOfDifferentMeasuredPower_PlacesOnTheLowerAndSaysSo()
    {
        await using var server = await ServerHarness.StartAsync(_clock, configure: o => o.PowerSaving.PreferEfficient = true);
        var n1 = await server.RegisterAsync("hot", 1, nodeId: "n1");
        var n2 = await server.RegisterAsync("cool", 1, nodeId: "n2");

        // One job on each; their GPUs draw 265 W and 212 W while busy.
        var first = (await server.SubmitAsync(new JobSubmission { Command = ["a"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var second = (await server.SubmitAsync(new JobSubmission { Command = ["a"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var busy = new List<(HttpClient Http, Assignment A)>();
        foreach (var (nodeId, http, watts) in new[] { (n1.Id, n1.Http, 265.0), (n2.Id, n2.Http, 212.0) })
        {
            var a = (await ServerHarness.AssignmentsAsync(http, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
            busy.Add((http, a));
            for (var i = 0; i < 3; i++)
            {
                var summary = new NodeSummary { SampledAt = _clock.GetUtcNow(), Gpus = [new GpuSummary { Index = 0, PowerWatts = watts }] };
                (await http.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest)).Dispose();
            }
        }

        foreach (var (http, a) in busy)
        {
            (await ServerHarness.ReportAsync(http, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Time = _clock.GetUtcNow(), Cause = AttemptEndCause.Exited, ExitCode = 0 })).Dispose();
        }

        await server.WaitForJobAsync(first, j => j.State == JobState.Succeeded);
        await server.WaitForJobAsync(second, j => j.State == JobState.Succeeded);
        Assert.Equal(212, (await NodeAsync(server, "n2")).PowerSaving!.WattsPerBusyGpu!.Value, 3);

        // Both free and alike: the cooler one wins, though its id sorts later, and the reason says why.
        var next = (await server.SubmitAsync(new JobSubmission { Command = ["b"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var placed = await server.WaitForJobAsync(next, j => j.State != JobState.Pending);
        Assert.Equal("placed on node n2 (GPUs 0): 212 W per busy GPU vs 265 W on n1", placed.Reason);
    }
}
