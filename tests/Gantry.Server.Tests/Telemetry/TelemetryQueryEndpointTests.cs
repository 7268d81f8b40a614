using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Server.Tests.Telemetry;

/// <summary><c>GET /api/v1/telemetry/query</c> through the real server: heartbeats in, history out.</summary>
public sealed class TelemetryQueryEndpointTests
{
    private static readonly DateTimeOffset Start = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static async Task HeartbeatAsync(HttpClient node, string nodeId, NodeSummary summary)
    {
        using var response = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", new HeartbeatRequest { Summary = summary }, GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    /// <summary>Queries until <paramref name="until"/> holds: the writer stores batches in the background.</summary>
    private static async Task<TelemetryQueryResponse> QueryAsync(ServerHarness server, string query, Func<TelemetryQueryResponse, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            using var response = await server.Admin.GetAsync("/api/v1/telemetry/query?" + query);
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            var answer = (await response.Content.ReadFromJsonAsync(GantryJson.Default.TelemetryQueryResponse))!;
            if (until(answer))
            {
                return answer;
            }

            Assert.True(DateTime.UtcNow < deadline, $"the query '{query}' did not reach the expected answer within 30s");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Query_HeartbeatsWithSummaries_RawThenRollupPoints()
    {
        var clock = new FakeTimeProvider(Start);
        await using var server = await ServerHarness.StartAsync(clock);
        var (nodeId, node) = await server.RegisterAsync("hist", 1);
        foreach (var (seconds, cpu) in new[] { (0, 0.2), (5, 0.4), (10, 0.9) })
        {
            clock.Advance(TimeSpan.FromSeconds(seconds == 0 ? 0 : 5));
            await HeartbeatAsync(node, nodeId, TelemetryStoreTests.Summary(Start.AddSeconds(seconds), cpu));
        }

        var raw = await QueryAsync(server, $"node={nodeId}&metric=cpu_utilization&start=-1m&step=5s", a => a.Points.Count == 3);
        Assert.Equal("raw", raw.Source);
        Assert.Equal(5, raw.StepSeconds);
        Assert.Null(raw.Gpu);
        Assert.Equal([0.2, 0.4, 0.9], raw.Points.Select(p => p.Value));
        Assert.Equal(Start, raw.Points[0].T);

        var rollup = await QueryAsync(server, $"node={nodeId}&gpu=0&metric=utilization&start={Uri.EscapeDataString(Start.ToString("O", System.Globalization.CultureInfo.InvariantCulture))}&end=now&step=1m", a => a.Points.Count == 1);
        Assert.Equal("rollup", rollup.Source);
        Assert.Equal(0, rollup.Gpu);
        Assert.Equal(60, rollup.StepSeconds);
        Assert.Equal(0.5, rollup.Points[0].Value, 12);
        Assert.Equal(0.2, rollup.Points[0].Min, 12);
        Assert.Equal(0.9, rollup.Points[0].Max, 12);

        // The default range is the last hour, the default step 15s (at most ~300 points).
        var defaults = await QueryAsync(server, $"node={nodeId}&gpu=0&metric=power_watts", a => a.Points.Count == 1);
        Assert.Equal("raw", defaults.Source);
        Assert.Equal(15, defaults.StepSeconds);
        Assert.Equal(300, defaults.Points[0].Value);
    }

    [Fact]
    public async Task Retention_ClockPastRawRetention_RawDeletedRollupAnswers()
    {
        var clock = new FakeTimeProvider(Start);
        await using var server = await ServerHarness.StartAsync(clock, configure: o => o.RetentionRaw = TimeSpan.FromHours(1));
        var (nodeId, node) = await server.RegisterAsync("old", 1);
        await HeartbeatAsync(node, nodeId, TelemetryStoreTests.Summary(Start, 0.3));
        await QueryAsync(server, $"node={nodeId}&metric=cpu_utilization&start=-1m&step=5s", a => a.Points.Count == 1);

        // Past the raw retention: the worker's next tick deletes the raw sample; the rollup stays.
        clock.Advance(TimeSpan.FromHours(2));
        await QueryAsync(server, $"node={nodeId}&metric=cpu_utilization&start=-59m&step=5s", a => a.Source == "raw" && a.Points.Count == 0);
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        var dbPath = Path.Combine(server.DataDir, "telemetry.db");
        while (RawRows(dbPath) > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the retention worker did not delete the raw samples within 30s");
            await Task.Delay(20);
        }

        var rollup = await QueryAsync(server, $"node={nodeId}&metric=cpu_utilization&start=-3h&step=1m", a => a.Points.Count == 1);
        Assert.Equal("rollup", rollup.Source);
        Assert.Equal(0.3, rollup.Points[0].Value, 12);
    }

    private static long RawRows(string path)
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={path};Mode=ReadOnly;Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT count(*) FROM samples";
        return (long)command.ExecuteScalar()!;
    }

    [Theory]
    [InlineData("metric=cpu_utilization", HttpStatusCode.BadRequest, "node", "is required")]
    [InlineData("node={node}&metric=bogus", HttpStatusCode.BadRequest, "metric", "cpu_utilization, memory_used_bytes, power_watts")]
    [InlineData("node={node}&gpu=0&metric=cpu_utilization", HttpStatusCode.BadRequest, "metric", "utilization, memory_used_bytes, temperature_celsius")]
    [InlineData("node={node}&gpu=x&metric=utilization", HttpStatusCode.BadRequest, "gpu", "GPU index")]
    [InlineData("node={node}&gpu=7&metric=utilization", HttpStatusCode.BadRequest, "gpu", "has no GPU 7")]
    [InlineData("node=nowhere&metric=cpu_utilization", HttpStatusCode.NotFound, null, "nowhere")]
    [InlineData("node={node}&metric=cpu_utilization&start=-1h&end=-2h", HttpStatusCode.BadRequest, "start", "before end")]
    [InlineData("node={node}&metric=cpu_utilization&start=yesterday", HttpStatusCode.BadRequest, "start", "RFC 3339")]
    [InlineData("node={node}&metric=cpu_utilization&end=soon", HttpStatusCode.BadRequest, "end", "RFC 3339")]
    [InlineData("node={node}&metric=cpu_utilization&step=0s", HttpStatusCode.BadRequest, "step", "at least 1s")]
    [InlineData("node={node}&metric=cpu_utilization&step=-5s", HttpStatusCode.BadRequest, "step", "at least 1s")]
    [InlineData("node={node}&metric=cpu_utilization&start=-2d&step=10s", HttpStatusCode.BadRequest, "step", "more than 11000 points")]
    [InlineData("node={node}&metric=cpu_utilization&start=-31d&step=1h", HttpStatusCode.BadRequest, "start", "beyond the telemetry retention")]
    public async Task Query_BadInput_ProblemNamingTheParameter(string query, HttpStatusCode status, string? parameter, string message)
    {
        await using var server = await ServerHarness.StartAsync(new FakeTimeProvider(Start));
        var (nodeId, _) = await server.RegisterAsync("bad", 1);

        using var response = await server.Admin.GetAsync("/api/v1/telemetry/query?" + query.Replace("{node}", nodeId, StringComparison.Ordinal));

        Assert.Equal(status, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var detail = problem.RootElement.GetProperty("detail").GetString()!;
        Assert.Contains(message, detail, StringComparison.Ordinal);
        if (parameter is not null)
        {
            Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(parameter, out _), $"the problem names {parameter}: {detail}");
        }
    }

    [Fact]
    public async Task Query_WithoutAdminToken_Refused()
    {
        await using var server = await ServerHarness.StartAsync();
        var (nodeId, node) = await server.RegisterAsync("auth", 1);

        using var anonymous = await server.Anonymous.GetAsync($"/api/v1/telemetry/query?node={nodeId}&metric=cpu_utilization");
        using var asNode = await node.GetAsync($"/api/v1/telemetry/query?node={nodeId}&metric=cpu_utilization");

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, asNode.StatusCode);
    }
}
