using System.Net;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Server.Tests;

/// <summary>Liveness on a fake clock, and state that survives a server restart on the same store.</summary>
public sealed class DurabilityTests
{
    private static AttemptEvent Started(Assignment a) => new() { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UnixEpoch };

    [Fact]
    public async Task Liveness_SilentNode_SuspectThenDownAndRunningJobsLostOrRequeued()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ServerHarness.StartAsync(clock);
        var (nodeId, node) = await server.RegisterAsync("quiet", 2);
        var once = (await server.SubmitAsync(new JobSubmission { Command = ["a"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        var retried = (await server.SubmitAsync(new JobSubmission { Command = ["b"], Resources = new ResourceRequest { Gpus = 1 }, Retries = 2 }))[0];
        foreach (var a in (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 2)).Attempts)
        {
            (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();
        }

        clock.Advance(TimeSpan.FromSeconds(3));
        server.SweepLiveness();
        Assert.Equal(NodeState.Suspect, server.Nodes.GetNode(nodeId)!.State);

        clock.Advance(TimeSpan.FromSeconds(3));
        server.SweepLiveness();
        Assert.Equal(NodeState.Down, server.Nodes.GetNode(nodeId)!.State);

        var lost = await server.JobAsync(once);
        Assert.Equal(JobState.Lost, lost.State);
        Assert.Contains("went down", lost.Reason, StringComparison.Ordinal);
        var requeued = await server.JobAsync(retried);
        Assert.Equal(JobState.Pending, requeued.State);
        Assert.Equal(AttemptState.Lost, requeued.Attempts[0].State);

        // The node comes back: ready again, and it is told to run nothing it ran before.
        using var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest(), GantryJson.Default.HeartbeatRequest);
        var answer = await heartbeat.Content.ReadFromJsonAsync(GantryJson.Default.HeartbeatResponse);
        Assert.Equal(NodeState.Ready, answer!.State);
        var assignments = await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1);
        Assert.Equal(retried, assignments.Attempts[0].JobId);
        Assert.Equal(2, assignments.Attempts[0].Attempt);
    }

    [Fact]
    public async Task Restart_SameDataDir_JobsAttemptsLogsAndTokensSurvive()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-restart-").FullName;
        await using var store = await TestStore.CreateAsync();
        string nodeId;
        long done, running, pending;
        long epoch;
        string adminToken;
        string credential;
        await using (var server = await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
            adminToken = server.AdminToken;
            var registered = await server.RegisterAsync("box", 1, cpus: 2);
            nodeId = registered.Id;
            credential = registered.Http.DefaultRequestHeaders.Authorization!.Parameter!;
            var node = registered.Http;
            done = (await server.SubmitAsync(new JobSubmission { Command = ["a"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
            var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
            (await ServerHarness.ReportAsync(node, a, Started(a))).Dispose();
            (await node.PostAsJsonAsync($"/api/v1/jobs/{done}/attempts/1/logs", new LogUpload { Epoch = a.Epoch, Chunks = [new LogChunk { Stream = LogSource.Stdout, Offset = 0, Data = "kept\n" }] }, GantryJson.Default.LogUpload)).Dispose();
            (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Time = DateTimeOffset.UnixEpoch, Cause = AttemptEndCause.Exited, ExitCode = 0 })).Dispose();

            running = (await server.SubmitAsync(new JobSubmission { Command = ["b"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
            var b = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1 && r.Attempts[0].JobId == running)).Attempts[0];
            (await ServerHarness.ReportAsync(node, b, Started(b))).Dispose();
            epoch = b.Epoch;
            pending = (await server.SubmitAsync(new JobSubmission { Command = ["c"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        }

        await using var again = await ServerHarness.StartAsync(dataDir: dataDir, store: store);
        Assert.Equal(adminToken, again.AdminToken);
        Assert.Equal(JobState.Succeeded, (await again.JobAsync(done)).State);
        Assert.Equal(JobState.Running, (await again.JobAsync(running)).State);
        Assert.Equal(JobState.Pending, (await again.JobAsync(pending)).State);
        Assert.Contains("kept", await again.Admin.GetStringAsync($"/api/v1/jobs/{done}/logs"), StringComparison.Ordinal);

        // The node's credential still works, and its running attempt is still its to finish.
        using var node2 = again.Client(credential);
        using var heartbeat = await node2.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest(), GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        var live = await ServerHarness.AssignmentsAsync(node2, nodeId, r => r.Attempts.Count == 1);
        Assert.Equal(epoch, live.Attempts[0].Epoch);
        (await ServerHarness.ReportAsync(node2, live.Attempts[0], new AttemptEvent { Epoch = epoch, Type = AttemptEventType.Ended, Time = DateTimeOffset.UnixEpoch, Cause = AttemptEndCause.Exited, ExitCode = 0 })).Dispose();

        // Fencing epochs keep increasing across the restart.
        var next = await ServerHarness.AssignmentsAsync(node2, nodeId, r => r.Attempts.Count == 1 && r.Attempts[0].JobId == pending);
        Assert.True(next.Attempts[0].Epoch > epoch);
    }

    [Fact]
    public async Task Open_DatabaseFromANewerGantry_RefusedWithAClearMessage()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-newer-").FullName;
        await using var store = await TestStore.CreateAsync();
        await using (await ServerHarness.StartAsync(dataDir: dataDir, store: store))
        {
        }

        if (store.Postgres is { } database)
        {
            await using var connection = new Npgsql.NpgsqlConnection(database.ConnectionString);
            await connection.OpenAsync();
            await using var command = new Npgsql.NpgsqlCommand("UPDATE schema_version SET version = 99", connection);
            await command.ExecuteNonQueryAsync();
        }
        else
        {
            using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(dataDir, "gantry.db")};Pooling=false");
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "PRAGMA user_version = 99";
            command.ExecuteNonQuery();
        }

        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ServerHarness.StartAsync(dataDir: dataDir, store: store));
        Assert.Contains("schema version 99", error.Message, StringComparison.Ordinal);
    }
}
