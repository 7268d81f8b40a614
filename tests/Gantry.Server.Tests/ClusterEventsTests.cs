using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;

namespace Gantry.Server.Tests;

/// <summary><c>GET /api/v1/cluster/events</c> against a real server: auth, the first snapshot, and snapshots that follow changes.</summary>
public sealed class ClusterEventsTests : IAsyncLifetime
{
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    [Fact]
    public async Task Events_NoToken_401()
    {
        using var response = await _server.Anonymous.GetAsync("/api/v1/cluster/events");
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Fact]
    public async Task Events_JoinToken_403()
    {
        using var response = await _server.Join.GetAsync("/api/v1/cluster/events");
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Events_Connect_FirstSnapshotHasNodesSummaryCountsAndJobs()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 2);
        var summary = new NodeSummary
        {
            SampledAt = DateTimeOffset.UnixEpoch,
            PowerWatts = 420,
            Simulated = true,
            Gpus = [new GpuSummary { Index = 0, Utilization = 0.75, MemoryUsedBytes = 10L << 30, MemoryTotalBytes = 80L << 30, TemperatureCelsius = 61, PowerWatts = 300 }],
        };
        using (var heartbeat = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest))
        {
            Assert.Equal(HttpStatusCode.OK, heartbeat.StatusCode);
        }

        var placed = (await _server.SubmitAsync(new JobSubmission { Name = "fits", Command = ["train.py"], Resources = new ResourceRequest { Gpus = 1 } }))[0];
        await _server.WaitForJobAsync(placed, j => j.State == JobState.Assigned);
        var waiting = (await _server.SubmitAsync(new JobSubmission { Name = "too-big", Command = ["huge.py"], Resources = new ResourceRequest { Gpus = 8 } }))[0];

        await using var events = await SseReader.OpenAsync(_server.Admin);
        Assert.Equal("text/event-stream", events.ContentType);
        var (name, data) = await events.NextAsync();
        Assert.Equal("cluster", name);
        var snapshot = JsonSerializer.Deserialize(data, GantryJson.Default.ClusterSnapshot)!;

        var shown = Assert.Single(snapshot.Nodes);
        Assert.Equal(nodeId, shown.Id);
        Assert.Equal(300, Assert.Single(shown.Summary!.Gpus).PowerWatts);
        Assert.Equal(1, snapshot.NodeCounts[NodeState.Ready]);
        Assert.Equal(1, snapshot.JobCounts[JobState.Assigned]);
        Assert.Equal(1, snapshot.JobCounts[JobState.Pending]);
        Assert.Equal(2, snapshot.Gpus);
        Assert.Equal(1, snapshot.BusyGpus);
        var running = Assert.Single(snapshot.Running);
        Assert.Equal((placed, JobState.Assigned, nodeId, "fits"), (running.Id, running.State, running.NodeId, running.Name));
        Assert.Single(running.Gpus);
        var pending = Assert.Single(snapshot.Pending);
        Assert.Equal((waiting, 8), (pending.Id, pending.GpusRequested));

        // Counts are keyed by the states' wire names.
        using var raw = JsonDocument.Parse(data);
        Assert.True(raw.RootElement.GetProperty("jobCounts").TryGetProperty("pending", out _));
        Assert.True(raw.RootElement.GetProperty("nodeCounts").TryGetProperty("ready", out _));
    }

    [Fact]
    public async Task Events_Connected_LaterSnapshotFollowsACancel()
    {
        await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["sleep", "1000"], Resources = new ResourceRequest { Gpus = 4 } }))[0];

        await using var events = await SseReader.OpenAsync(_server.Admin);
        var first = JsonSerializer.Deserialize((await events.NextAsync()).Data, GantryJson.Default.ClusterSnapshot)!;
        Assert.Equal(id, Assert.Single(first.Pending).Id);

        using (var cancel = await _server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", content: null))
        {
            Assert.True(cancel.IsSuccessStatusCode, $"cancel answered {cancel.StatusCode}");
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var (name, data) = await events.NextAsync();
            Assert.Equal("cluster", name);
            var snapshot = JsonSerializer.Deserialize(data, GantryJson.Default.ClusterSnapshot)!;
            if (snapshot.Pending.Count == 0)
            {
                Assert.Equal(1, snapshot.JobCounts[JobState.Cancelled]);
                Assert.True(snapshot.At >= first.At);
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "the cancel never showed in the stream");
        }
    }

    /// <summary>Reads <c>event:</c>/<c>data:</c> blocks of a text/event-stream answer.</summary>
    private sealed class SseReader : IAsyncDisposable
    {
        private readonly HttpResponseMessage _response;
        private readonly StreamReader _reader;

        private SseReader(HttpResponseMessage response, Stream body)
        {
            _response = response;
            _reader = new StreamReader(body, Encoding.UTF8);
        }

        public string? ContentType => _response.Content.Headers.ContentType?.MediaType;

        public static async Task<SseReader> OpenAsync(HttpClient http)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, "/api/v1/cluster/events");
            request.Headers.Accept.Add(new MediaTypeWithQualityHeaderValue("text/event-stream"));
            var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            return new SseReader(response, await response.Content.ReadAsStreamAsync());
        }

        public async Task<(string Event, string Data)> NextAsync()
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            string? name = null;
            var data = new StringBuilder();
            while (await _reader.ReadLineAsync(timeout.Token) is { } line)
            {
                if (line.Length == 0)
                {
                    if (data.Length > 0)
                    {
                        return (name ?? "message", data.ToString());
                    }

                    continue;
                }

                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    name = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    data.Append(line.AsSpan("data: ".Length));
                }
            }

            throw new InvalidOperationException("the stream ended");
        }

        public ValueTask DisposeAsync()
        {
            _reader.Dispose();
            _response.Dispose();
            return ValueTask.CompletedTask;
        }
    }
}
