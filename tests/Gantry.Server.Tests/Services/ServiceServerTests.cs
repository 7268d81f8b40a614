using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;

namespace Gantry.Server.Tests.Services;

/// <summary>Services through the real API, scheduler and clock: validation, names, a live restart, health from heartbeats, listing, stop.</summary>
public sealed class ServiceServerTests : IAsyncLifetime
{
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private static JobSubmission Service(string name, double delay = 1, HealthCheck? health = null) => new()
    {
        Name = name,
        Command = ["serve"],
        Kind = JobKind.Service,
        Resources = new ResourceRequest { Gpus = 1, Cpus = 0 },
        Service = new ServiceSpec { Restart = new RestartPolicy { DelaySeconds = delay }, Health = health, Port = 8000, MetricsPath = "/metrics" },
    };

    public static TheoryData<string, string> Invalid => new()
    {
        { """{"name":"s","command":["x"],"kind":"service","service":{"restart":{"attempts":101}}}""", "service.restart.attempts" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"restart":{"intervalSeconds":0}}}""", "service.restart.intervalSeconds" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"restart":{"intervalSeconds":10,"delaySeconds":11}}}""", "service.restart.delaySeconds" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"restart":{"delaySeconds":-1}}}""", "service.restart.delaySeconds" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"health":{"kind":"http","port":0}}}""", "service.health.port" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"health":{"kind":"http","port":80,"path":"health"}}}""", "service.health.path" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"health":{"kind":"tcp","port":80,"graceSeconds":0}}}""", "service.health.graceSeconds" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"health":{"kind":"tcp","port":80,"timeoutSeconds":1000}}}""", "service.health.timeoutSeconds" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"port":70000}}""", "service.port" },
        { """{"name":"s","command":["x"],"kind":"service","service":{"metricsPath":"/metrics"}}""", "service.metricsPath" },
        { """{"name":"s","command":["x"],"service":{}}""", "service" },
        { """{"name":"s","command":["x"],"kind":"service","maxRuntimeSeconds":60}""", "maxRuntimeSeconds" },
        { """{"name":"s","command":["x"],"kind":"service","array":{"start":1,"end":2}}""", "array" },
        { """{"name":"s","command":["x"],"kind":"service","retries":2}""", "retries" },
        { """{"name":"s","command":["x"],"kind":"service","deadline":"2030-01-01T00:00:00Z","expectedRuntimeSeconds":60}""", "deadline" },
        { """{"command":["x"],"kind":"service"}""", "name" },
        { """{"name":"1st","command":["x"],"kind":"service"}""", "name" },
    };

    [Theory]
    [MemberData(nameof(Invalid))]
    public async Task Submit_InvalidService_400NamesTheField(string body, string field)
    {
        using var response = await _server.Admin.PostAsync("/api/v1/jobs", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"expected an error on {field}: {problem.RootElement}");
    }

    [Fact]
    public async Task Submit_PartialServiceJson_KeepsTheDefaults()
    {
        const string body = """{"name":"s","command":["x"],"kind":"service","service":{"restart":{"attempts":5},"health":{"kind":"http","port":8000}}}""";
        using var response = await _server.Admin.PostAsync("/api/v1/jobs", new StringContent(body, System.Text.Encoding.UTF8, "application/json"));

        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        var id = (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];
        var service = (await _server.JobAsync(id)).Service!;
        Assert.Equal(new RestartPolicy { Attempts = 5 }, service.Restart);
        Assert.Equal(new HealthCheck { Kind = HealthCheckKind.Http, Port = 8000 }, service.Health);
        Assert.Equal(90, service.Health!.GraceSeconds);

        // Without a service object at all: the defaults.
        using var bare = await _server.Admin.PostAsync("/api/v1/jobs", new StringContent("""{"name":"t","command":["x"],"kind":"service"}""", System.Text.Encoding.UTF8, "application/json"));
        Assert.Equal(HttpStatusCode.Created, bare.StatusCode);
        var bareId = (await bare.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];
        Assert.Equal(new RestartPolicy(), (await _server.JobAsync(bareId)).Service!.Restart);
    }

    [Fact]
    public async Task Submit_NameOfALiveService_409()
    {
        await _server.SubmitAsync(Service("api"));

        using var response = await _server.Admin.PostAsJsonAsync("/api/v1/jobs", Service("api"), GantryJson.Default.JobSubmission);

        Assert.Equal(HttpStatusCode.Conflict, response.StatusCode);
        Assert.Contains("a service named 'api' is already running", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Exit_LiveService_RestartedAfterItsDelayPlusJitter()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1, agentUrl: "http://10.1.2.3:9101/");
        var id = (await _server.SubmitAsync(Service("web", delay: 1)))[0];
        var first = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        Assert.Equal(JobKind.Service, first.Kind);
        Assert.Equal("/metrics", first.Service!.MetricsPath);
        (await ServerHarness.ReportAsync(node, first, new AttemptEvent { Epoch = first.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UtcNow })).EnsureSuccessStatusCode();
        var running = await _server.WaitForJobAsync(id, j => j.State == JobState.Running);
        Assert.Equal(new ServiceAddress { NodeId = nodeId, Host = "10.1.2.3", Port = 8000, MetricsUrl = "http://10.1.2.3:8000/metrics" }, running.ServiceStatus!.Address);

        (await ServerHarness.ReportAsync(node, first, new AttemptEvent { Epoch = first.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Exited, ExitCode = 1, Time = DateTimeOffset.UtcNow })).EnsureSuccessStatusCode();
        var restarting = await _server.JobAsync(id);
        var endedAt = restarting.Attempts[0].EndedAt!.Value;
        Assert.Equal(ServiceHealth.Restarting, restarting.ServiceStatus!.Health);
        Assert.InRange(restarting.ServiceStatus.NextStartAt!.Value, endedAt.AddSeconds(1), endedAt.AddSeconds(1.25));

        var second = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1 && r.Attempts[0].Attempt == 2)).Attempts[0];
        var job = await _server.JobAsync(id);
        Assert.True(job.Attempts[1].AssignedAt >= restarting.ServiceStatus.NextStartAt, "placed before its restart delay was over");
        Assert.Equal(1, job.ServiceStatus!.Restarts);
        Assert.Equal(2, second.Attempt);
    }

    [Fact]
    public async Task Heartbeat_ServiceReport_ShowsInJobAndServiceList()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(Service("llm", health: new HealthCheck { Kind = HealthCheckKind.Http, Port = 8000, Path = "/health" })))[0];
        var batch = (await _server.SubmitAsync(new JobSubmission { Command = ["true"], Resources = new ResourceRequest { Cpus = 0 } }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Any(x => x.JobId == id))).Attempts.Single(x => x.JobId == id);
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UtcNow })).EnsureSuccessStatusCode();
        Assert.Equal(ServiceHealth.Starting, (await _server.WaitForJobAsync(id, j => j.State == JobState.Running)).ServiceStatus!.Health);

        var heartbeat = new HeartbeatRequest { Services = [new ServiceReport { JobId = id, Attempt = a.Attempt, Health = ServiceHealth.Healthy, Message = "200 OK" }] };
        (await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/heartbeat", heartbeat, GantryJson.Default.HeartbeatRequest)).EnsureSuccessStatusCode();

        var job = await _server.JobAsync(id);
        Assert.Equal(ServiceHealth.Healthy, job.ServiceStatus!.Health);
        Assert.Equal("200 OK", job.ServiceStatus.Message);
        Assert.Contains("no metrics endpoint", job.ServiceStatus.Metrics!.Note, StringComparison.Ordinal); // no metrics path: energy alone
        Assert.Equal("box", job.ServiceStatus.Address!.Host); // no agent URL: the node's name

        var services = (await _server.Admin.GetFromJsonAsync("/api/v1/services", GantryJson.Default.PageJobInfo))!;
        var listed = Assert.Single(services.Items);
        Assert.Equal("llm", listed.Name);
        Assert.Equal(ServiceHealth.Healthy, listed.ServiceStatus!.Health);
        Assert.Equal(nodeId, listed.NodeId);
        Assert.Single((await _server.Admin.GetFromJsonAsync("/api/v1/services?name=llm", GantryJson.Default.PageJobInfo))!.Items);
        Assert.Empty((await _server.Admin.GetFromJsonAsync("/api/v1/services?name=nope", GantryJson.Default.PageJobInfo))!.Items);

        var kinds = (await _server.Admin.GetFromJsonAsync("/api/v1/jobs?kind=service", GantryJson.Default.PageJobInfo))!;
        Assert.Equal([id], kinds.Items.Select(j => j.Id));
        Assert.Contains(batch, (await _server.Admin.GetFromJsonAsync("/api/v1/jobs?kind=batch", GantryJson.Default.PageJobInfo))!.Items.Select(j => j.Id));
        Assert.DoesNotContain(id, (await _server.Admin.GetFromJsonAsync("/api/v1/jobs?kind=batch", GantryJson.Default.PageJobInfo))!.Items.Select(j => j.Id));
        using var bad = await _server.Admin.GetAsync("/api/v1/jobs?kind=daemon");
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }

    [Fact]
    public async Task Cancel_RunningService_StopsForGoodAndFreesTheName()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        var id = (await _server.SubmitAsync(Service("web", delay: 0)))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UtcNow })).EnsureSuccessStatusCode();
        await _server.WaitForJobAsync(id, j => j.State == JobState.Running);

        (await _server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", null)).EnsureSuccessStatusCode();
        (await ServerHarness.ReportAsync(node, a, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Stopped, Signal = "SIGTERM", Time = DateTimeOffset.UtcNow })).EnsureSuccessStatusCode();

        var job = await _server.WaitForJobAsync(id, j => j.State.IsTerminal());
        Assert.Equal(JobState.Cancelled, job.State);
        Assert.Single(job.Attempts);
        Assert.Empty((await _server.Admin.GetFromJsonAsync("/api/v1/services", GantryJson.Default.PageJobInfo))!.Items);
        await _server.SubmitAsync(Service("web"));
    }
}
