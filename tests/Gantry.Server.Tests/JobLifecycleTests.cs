using System.Diagnostics;
using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Server.Tests;

/// <summary>Jobs through the real API: placement, assignments, reports, logs, cancel, retries, drain.</summary>
public sealed class JobLifecycleTests : IAsyncLifetime
{
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static AttemptEvent Started(Assignment a) => new() { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UnixEpoch, Pid = 42 };

    private static AttemptEvent Exited(Assignment a, int code) => new() { Epoch = a.Epoch, Type = AttemptEventType.Ended, Time = DateTimeOffset.UnixEpoch, Cause = AttemptEndCause.Exited, ExitCode = code };

    [Fact]
    public async Task Job_RunsToSuccess_StatesLogsAndTransitionsRecorded()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 2);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["train.py"], Resources = new ResourceRequest { Gpus = 2 } }))[0];

        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        Assert.Equal(id, a.JobId);
        Assert.Equal(AssignmentAction.Run, a.Action);
        Assert.Equal([0, 1], a.Gpus);
        Assert.Equal(["train.py"], a.Command);

        using (var started = await ServerHarness.ReportAsync(node, a, Started(a)))
        {
            Assert.Equal(HttpStatusCode.NoContent, started.StatusCode);
        }

        var upload = new LogUpload { Epoch = a.Epoch, Chunks = [new LogChunk { Stream = LogSource.Stdout, Offset = 0, Data = "hello\n" }, new LogChunk { Stream = LogSource.Stderr, Offset = 0, Data = "warn\n" }] };
        for (var i = 0; i < 2; i++)
        {
            // The second upload is a retry: stored once.
            using var logs = await node.PostAsJsonAsync($"/api/v1/jobs/{id}/attempts/1/logs", upload, GantryJson.Default.LogUpload);
            Assert.Equal(HttpStatusCode.NoContent, logs.StatusCode);
        }

        using (var ended = await ServerHarness.ReportAsync(node, a, Exited(a, 0)))
        {
            Assert.Equal(HttpStatusCode.NoContent, ended.StatusCode);
        }

        var job = await _server.JobAsync(id);
        Assert.Equal(JobState.Succeeded, job.State);
        Assert.Equal(0, job.ExitCode);
        Assert.Equal([JobState.Pending, JobState.Assigned, JobState.Running, JobState.Succeeded], job.Transitions.Select(t => t.To));
        Assert.Equal(["GPU-box-0", "GPU-box-1"], job.Attempts[0].GpuUuids);

        var lines = (await _server.Admin.GetStringAsync($"/api/v1/jobs/{id}/logs")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonSerializer.Deserialize(l, GantryJson.Default.LogRecord)!).ToList();
        Assert.Equal(3, lines.Count);
        Assert.Equal("hello\n", lines[0].Data);
        Assert.Equal(LogSource.Stderr, lines[1].Stream);
        Assert.True(lines[2].End);
        Assert.Equal(JobState.Succeeded, lines[2].State);

        // The node's GPUs are free again.
        var info = await _server.Admin.GetFromJsonAsync($"/api/v1/nodes/{nodeId}", GantryJson.Default.NodeInfo);
        Assert.All(info!.Gpus, g => Assert.Null(g.JobId));
    }

    [Fact]
    public async Task Logs_PastMaxJobLog_CutAtTheLimitWithOneNote()
    {
        await using var server = await ServerHarness.StartAsync(configure: o => o.MaxJobLogChars = 4096);
        var (nodeId, node) = await server.RegisterAsync("box", 0);
        var id = (await server.SubmitAsync(new JobSubmission { Command = ["spew"] }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        Assert.Equal(4096, a.MaxLogChars);
        (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();

        // 3000 + 3000 characters of stdout (the second chunk crosses the limit), then a chunk past
        // it, each upload sent twice as an agent's retry would; stderr stays under the limit.
        var uploads = new[]
        {
            new LogChunk { Stream = LogSource.Stdout, Offset = 0, Data = new string('a', 3000) },
            new LogChunk { Stream = LogSource.Stdout, Offset = 3000, Data = new string('b', 3000) },
            new LogChunk { Stream = LogSource.Stderr, Offset = 0, Data = "warn\n" },
            new LogChunk { Stream = LogSource.Stdout, Offset = 6000, Data = new string('c', 3000) },
        };
        foreach (var chunk in uploads.Concat(uploads))
        {
            using var posted = await node.PostAsJsonAsync($"/api/v1/jobs/{id}/attempts/1/logs", new LogUpload { Epoch = a.Epoch, Chunks = [chunk] }, GantryJson.Default.LogUpload);
            Assert.Equal(HttpStatusCode.NoContent, posted.StatusCode);
        }

        (await ServerHarness.ReportAsync(node, a, Exited(a, 0))).Dispose();
        var records = (await server.Admin.GetStringAsync($"/api/v1/jobs/{id}/logs")).Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => JsonSerializer.Deserialize(l, GantryJson.Default.LogRecord)!).Where(r => r.End != true).ToList();
        var stdout = string.Concat(records.Where(r => r.Stream == LogSource.Stdout).Select(r => r.Data));
        Assert.Equal(new string('a', 3000) + new string('b', 1096) + LogLimit.Note(LogSource.Stdout, 4096), stdout);
        Assert.Equal("warn\n", string.Concat(records.Where(r => r.Stream == LogSource.Stderr).Select(r => r.Data)));
    }

    [Fact]
    public async Task Report_WrongEpochOrAfterServerEndedIt_409()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["x"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];

        using var stale = await ServerHarness.ReportAsync(node, a, Started(a) with { Epoch = a.Epoch + 100 });
        Assert.Equal(HttpStatusCode.Conflict, stale.StatusCode);

        using var cancel = await _server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        using var late = await ServerHarness.ReportAsync(node, a, Started(a));
        Assert.Equal(HttpStatusCode.Conflict, late.StatusCode);
        Assert.Equal(JobState.Cancelled, (await _server.JobAsync(id)).State);
    }

    [Fact]
    public async Task Cancel_RunningJob_AssignmentSaysStopThenCancelled()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["sleep", "100"] }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();

        using var cancel = await _server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, cancel.StatusCode);
        var stop = await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1 && r.Attempts[0].Action == AssignmentAction.Stop);
        Assert.Equal(a.Epoch, stop.Attempts[0].Epoch);

        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Time = DateTimeOffset.UnixEpoch, Cause = AttemptEndCause.Stopped, Signal = "SIGTERM" })).Dispose();
        var job = await _server.JobAsync(id);
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Equal(AttemptState.Cancelled, job.Attempts[0].State);
        await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 0);
    }

    [Fact]
    public async Task Schedule_OneGpuNode_HigherPriorityFirstThenFirstCome()
    {
        var low = (await _server.SubmitAsync(new JobSubmission { Command = ["low"], Priority = 10, Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var highA = (await _server.SubmitAsync(new JobSubmission { Command = ["a"], Priority = 90, Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var highB = (await _server.SubmitAsync(new JobSubmission { Command = ["b"], Priority = 90, Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var (nodeId, node) = await _server.RegisterAsync("one", 1);

        var order = new List<long>();
        for (var i = 0; i < 3; i++)
        {
            var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
            order.Add(a.JobId);
            (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();
            (await ServerHarness.ReportAsync(node, a, Exited(a, 0))).Dispose();
        }

        Assert.Equal([highA, highB, low], order);
    }

    [Fact]
    public async Task Schedule_MoreJobsThanGpus_NeverTwoJobsOnOneGpu()
    {
        var (nodeId, node) = await _server.RegisterAsync("four", 4, cpus: 64);
        await _server.SubmitAsync(new JobSubmission { Command = ["x"], Resources = new ResourceRequest { Gpus = 1 }, Array = new ArrayRange { Start = 1, End = 10 } });

        var answer = await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 4);
        Assert.Equal([0, 1, 2, 3], answer.Attempts.SelectMany(a => a.Gpus).Order());
        var pending = await _server.Admin.GetFromJsonAsync("/api/v1/jobs?state=pending", GantryJson.Default.PageJobInfo);
        Assert.Equal(6, pending!.Items.Count);
        Assert.All(pending.Items, j => Assert.NotNull(j.ArrayIndex));
    }

    [Fact]
    public async Task Drain_NodeGetsNoNewJobsUntilUndrained()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        using (var drain = await _server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/drain", null))
        {
            var info = await drain.Content.ReadFromJsonAsync(GantryJson.Default.NodeInfo);
            Assert.Equal(NodeState.Drained, info!.State);
        }

        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["x"] }))[0];
        var waiting = await _server.WaitForJobAsync(id, j => j.Reason != "waiting to be scheduled");
        Assert.Equal(JobState.Pending, waiting.State);

        (await _server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/undrain", null)).Dispose();
        await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1);
    }

    [Fact]
    public async Task Failure_WithRetries_RequeuedThenFailsForGood()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 0);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["false"], Retries = 1 }))[0];
        for (var attempt = 1; attempt <= 2; attempt++)
        {
            var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1 && r.Attempts[0].Attempt == attempt)).Attempts[0];
            (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();
            (await ServerHarness.ReportAsync(node, a, Exited(a, 3))).Dispose();
        }

        var job = await _server.JobAsync(id);
        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal(3, job.ExitCode);
        Assert.Equal(2, job.Attempts.Count);
        Assert.Contains(job.Transitions, t => t.To == JobState.Pending && t.Reason.Contains("retry 1 of 1", StringComparison.Ordinal));
        Assert.True(job.Attempts[1].Epoch > job.Attempts[0].Epoch);
    }

    [Fact]
    public async Task Register_AgentRestartedWithoutTheAttempt_StartedOneLostAndRequeuedUnstartedOneFree()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 2);
        var started = (await _server.SubmitAsync(new JobSubmission { Command = ["a"], Resources = new ResourceRequest { Gpus = 1 }, Retries = 1 }))[0];
        var unstarted = (await _server.SubmitAsync(new JobSubmission { Command = ["b"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var list = await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 2);
        var a = list.Attempts.Single(x => x.JobId == started);
        (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();

        // The agent comes back and runs nothing.
        var (_, again) = await _server.RegisterAsync("box", 2, nodeId: nodeId);

        var first = await _server.WaitForJobAsync(started, j => j.Attempts.Count == 2);
        Assert.Equal(AttemptState.Lost, first.Attempts[0].State);
        Assert.Contains(first.Transitions, t => t.Reason.Contains("retry 1 of 1", StringComparison.Ordinal));
        var second = await _server.WaitForJobAsync(unstarted, j => j.Attempts.Count == 2);
        Assert.Contains(second.Transitions, t => t.Reason.Contains("lost before it started", StringComparison.Ordinal));

        // The old credential is replaced by the new one.
        using var old = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest(), GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        using var current = await again.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest(), GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, current.StatusCode);
    }

    [Fact]
    public async Task Logs_Follow_StreamsUntilTheJobEnds()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 0);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["x"] }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();

        var follow = _server.Admin.GetStringAsync($"/api/v1/jobs/{id}/logs?follow=true");
        await Task.Delay(200);
        Assert.False(follow.IsCompleted);
        (await node.PostAsJsonAsync($"/api/v1/jobs/{id}/attempts/1/logs", new LogUpload { Epoch = a.Epoch, Chunks = [new LogChunk { Stream = LogSource.Stdout, Offset = 0, Data = "step 1\n" }] }, GantryJson.Default.LogUpload)).Dispose();
        (await ServerHarness.ReportAsync(node, a, Exited(a, 7))).Dispose();

        var text = await follow.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Contains("step 1", text, StringComparison.Ordinal);
        Assert.Contains("\"end\":true", text, StringComparison.Ordinal);
        Assert.Contains("\"exitCode\":7", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Assignments_Blocking_AnswersWhenAJobIsPlaced()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        var first = (await node.GetFromJsonAsync($"/api/v1/nodes/{nodeId}/assignments?index=0&wait=0s", GantryJson.Default.AssignmentsResponse))!;
        var blocking = node.GetFromJsonAsync($"/api/v1/nodes/{nodeId}/assignments?index={first.Index}&wait=30s", GantryJson.Default.AssignmentsResponse);
        await Task.Delay(200);
        Assert.False(blocking.IsCompleted);

        await _server.SubmitAsync(new JobSubmission { Command = ["x"] });
        var answer = (await blocking.WaitAsync(TimeSpan.FromSeconds(20)))!;
        Assert.True(answer.Index > first.Index);
        Assert.Single(answer.Attempts);
    }

    [Fact]
    public async Task Assignments_Blocking_ServerStops_503AtOnceSoTheAgentMovesOn()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("box", 1);
        var first = (await node.GetFromJsonAsync($"/api/v1/nodes/{nodeId}/assignments?index=0&wait=0s", GantryJson.Default.AssignmentsResponse))!;
        var blocking = node.GetAsync($"/api/v1/nodes/{nodeId}/assignments?index={first.Index}&wait=30s");
        await Task.Delay(200);
        Assert.False(blocking.IsCompleted);

        // As a leader stepping down does: the poll ends now, not at the shutdown timeout or its 30 s.
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        server.App.Lifetime.StopApplication();
        using var answer = await blocking.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(3), $"answered after {stopping.Elapsed}");
        Assert.Equal(HttpStatusCode.ServiceUnavailable, answer.StatusCode);
        Assert.Equal("application/problem+json", answer.Content.Headers.ContentType?.MediaType);
        Assert.Equal(TimeSpan.FromSeconds(1), answer.Headers.RetryAfter?.Delta);
    }

    [Fact]
    public async Task Metrics_WithAdminToken_PassesPromtool()
    {
        var promtool = Tools.Require("promtool", "prometheus");
        var (nodeId, node) = await _server.RegisterAsync("box", 2);
        await _server.SubmitAsync(new JobSubmission { Command = ["x"] });
        var now = DateTimeOffset.UtcNow;
        foreach (var (seconds, counter) in new[] { (-10, 1_000.0), (0, 4_000.0) })
        {
            var summary = new NodeSummary
            {
                SampledAt = now.AddSeconds(seconds),
                PowerWatts = 900,
                CpuPowerWatts = 150,
                GeneratedTokensPerSecond = 500,
                PromptTokensPerSecond = 2000,
                Gpus = [new GpuSummary { Index = 0, PowerWatts = 300, EnergyJoules = counter }, new GpuSummary { Index = 1, PowerWatts = 200, EnergyJoules = counter }],
            };
            using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }

        var text = await _server.Admin.GetStringAsync("/metrics");
        Assert.Contains("gantry_server_nodes_reporting{simulated=\"false\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_fleet_power_watts{component=\"gpu\"} 500", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_fleet_energy_joules_total{component=\"gpu\"} 6000", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_fleet_energy_joules_total{component=\"node\"} 9000", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_fleet_tokens_per_joule 1", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_node_power_watts{{node=\"box\",node_id=\"{nodeId}\",component=\"cpu\"}} 150", text, StringComparison.Ordinal);
        Assert.Contains($"gantry_server_node_tokens_per_second{{node=\"box\",node_id=\"{nodeId}\",kind=\"generated\"}} 500", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_nodes{state=\"ready\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_jobs_submitted_total 1", text, StringComparison.Ordinal);
        Assert.Contains("gantry_server_telemetry_summaries_dropped_total 0", text, StringComparison.Ordinal);

        using var process = Process.Start(new ProcessStartInfo(promtool, "check metrics") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true })!;
        await process.StandardInput.WriteAsync(text);
        process.StandardInput.Close();
        var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, output);
    }
}
