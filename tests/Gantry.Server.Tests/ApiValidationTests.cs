using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Gantry.Core.Protocol;

namespace Gantry.Server.Tests;

/// <summary>Bad input gets a 4xx problem that names what is wrong, and nothing is stored.</summary>
public sealed class ApiValidationTests : IAsyncLifetime
{
    private ServerHarness _server = null!;

    public async Task InitializeAsync() => _server = await ServerHarness.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    public static TheoryData<string, string> BadSubmissions => new()
    {
        { "{\"command\":[\"true\"]", "body" },
        { "not json", "body" },
        { "[1,2]", "body" },
        { "{\"command\":[\"true\"],\"bogus\":1}", "bogus" },
        { "{\"shell\":true}", "command" },
        { "{\"command\":[]}", "command" },
        { "{\"command\":[\"\"]}", "command" },
        { "{\"command\":null}", "command" },
        { "{\"command\":[\"a\",\"b\"],\"shell\":true}", "command" },
        { "{\"command\":[\"true\"],\"resources\":{\"gpus\":-1}}", "resources.gpus" },
        { "{\"command\":[\"true\"],\"resources\":{\"gpus\":100000}}", "resources.gpus" },
        { "{\"command\":[\"true\"],\"resources\":{\"memoryBytes\":-5}}", "resources.memoryBytes" },
        { "{\"command\":[\"true\"],\"resources\":{\"memoryBytes\":9223372036854775807}}", "resources.memoryBytes" },
        { "{\"command\":[\"true\"],\"resources\":{\"cpus\":1.5}}", "resources.cpus" },
        { "{\"command\":[\"true\"],\"resources\":{\"gpuMemoryBytes\":1024}}", "resources.gpuMemoryBytes" },
        { "{\"command\":[\"true\"],\"priority\":101}", "priority" },
        { "{\"command\":[\"true\"],\"priority\":\"high\"}", "priority" },
        { "{\"command\":[\"true\"],\"retries\":-1}", "retries" },
        { "{\"command\":[\"true\"],\"maxRuntimeSeconds\":0}", "maxRuntimeSeconds" },
        { "{\"command\":[\"true\"],\"env\":{\"1BAD\":\"x\"}}", "env.1BAD" },
        { "{\"command\":[\"true\"],\"selector\":{\"gpu\":\"a b\"}}", "selector.gpu" },
        { "{\"command\":[\"true\"],\"workingDirectory\":\"relative/dir\"}", "workingDirectory" },
        { "{\"command\":[\"true\"],\"array\":{\"start\":5,\"end\":1}}", "array" },
        { "{\"command\":[\"true\"],\"array\":{\"start\":1,\"end\":2000000}}", "array" },
        { "{\"command\":[\"true\"],\"array\":{\"start\":1}}", "array.end" },
        // null for a property with a default, or inside a list or map: once a 500 (ApiFuzzTests).
        { "{\"command\":[\"true\"],\"selector\":null}", "selector" },
        { "{\"command\":[\"true\"],\"env\":null}", "env" },
        { "{\"command\":[\"true\"],\"resources\":null}", "resources" },
        { "{\"command\":[\"true\"],\"selector\":{\"zone\":null}}", "selector.zone" },
        { "{\"command\":[\"true\"],\"env\":{\"FOO\":null}}", "env.FOO" },
        { "{\"command\":[null]}", "command[0]" },
        { "{\"command\":[\"echo\",null]}", "command[1]" },
        // Container jobs (docs/containers-jobs.md).
        { "{\"command\":[],\"container\":{\"image\":\"\"}}", "container.image" },
        { "{\"command\":[],\"container\":{\"image\":null}}", "container.image" },
        { "{\"command\":[],\"container\":{\"image\":\"--privileged\"}}", "container.image" },
        { "{\"command\":[],\"container\":{\"image\":\"ubuntu latest\"}}", "container.image" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"runtime\":\"lxc\"}}", "container.runtime" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"ports\":[{\"containerPort\":0}]}}", "container.ports[0].containerPort" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"ports\":[{\"containerPort\":80,\"hostPort\":70000}]}}", "container.ports[0].hostPort" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"ports\":[{\"containerPort\":80},{\"containerPort\":81,\"hostPort\":80}]}}", "container.ports[1].hostPort" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"volumes\":[{\"hostPath\":\"data\",\"containerPath\":\"/data\"}]}}", "container.volumes[0].hostPath" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"volumes\":[{\"hostPath\":\"/a:b\",\"containerPath\":\"/data\"}]}}", "container.volumes[0].hostPath" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"volumes\":[{\"hostPath\":\"/data\",\"containerPath\":\"data\"}]}}", "container.volumes[0].containerPath" },
        { "{\"command\":[],\"container\":{\"image\":\"x\",\"volumes\":[null]}}", "container.volumes[0]" },
    };

    [Fact]
    public async Task Submit_ContainerJobWithoutCommand_AcceptedAndShownWithItsContainer()
    {
        const string body = "{\"command\":[],\"container\":{\"image\":\"registry.local:5000/team/model@sha256:0123abcd\",\"runtime\":\"docker\",\"ports\":[{\"containerPort\":8000,\"hostPort\":18000},{\"containerPort\":9000}],\"volumes\":[{\"hostPath\":\"/models\",\"containerPath\":\"/models\",\"readOnly\":true}]}}";
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _server.Admin.PostAsync("/api/v1/jobs", content);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        var id = (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];

        var job = (await _server.Admin.GetFromJsonAsync($"/api/v1/jobs/{id}", GantryJson.Default.JobInfo))!;
        Assert.Empty(job.Command);
        Assert.Equal("registry.local:5000/team/model@sha256:0123abcd", job.Container!.Image);
        Assert.Equal(ContainerRuntime.Docker, job.Container.Runtime);
        Assert.Equal([18000, null], job.Container.Ports.Select(p => p.HostPort));
        Assert.True(job.Container.Volumes[0].ReadOnly);
    }

    [Theory]
    [MemberData(nameof(BadSubmissions))]
    public async Task Submit_BadBody_400ProblemNamingTheFieldAndNothingStored(string body, string field)
    {
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await _server.Admin.PostAsync("/api/v1/jobs", content);

        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out _), $"errors should name {field}: {problem.RootElement}");
        Assert.Contains(field, problem.RootElement.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await AssertNoJobsAsync();
    }

    [Fact]
    public async Task Submit_OversizedBody_413Problem()
    {
        var big = new string('x', 2 * 1024 * 1024);
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/v1/jobs")
        {
            Content = new StringContent($"{{\"command\":[\"echo\",\"{big}\"]}}", Encoding.UTF8, "application/json"),
        };

        // The server answers from the Content-Length alone and closes the connection without reading
        // the body; a client still sending 2 MiB may see the close (a broken pipe) before the answer.
        // Waiting for "100 Continue" first makes it read the 413 instead, as a careful client would.
        request.Headers.ExpectContinue = true;
        using var response = await _server.Admin.SendAsync(request);

        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        await AssertNoJobsAsync();
    }

    [Fact]
    public async Task Submit_NotJsonContentType_415Problem()
    {
        using var content = new StringContent("{\"command\":[\"true\"]}", Encoding.UTF8, "text/plain");
        using var response = await _server.Admin.PostAsync("/api/v1/jobs", content);

        Assert.Equal(HttpStatusCode.UnsupportedMediaType, response.StatusCode);
        await AssertNoJobsAsync();
    }

    [Theory]
    [InlineData(null, HttpStatusCode.Unauthorized)]
    [InlineData("gadm_wrong", HttpStatusCode.Unauthorized)]
    [InlineData("join", HttpStatusCode.Forbidden)]
    public async Task Submit_WithoutTheAdminToken_Refused(string? token, HttpStatusCode expected)
    {
        using var http = _server.Client(token == "join" ? _server.JoinToken : token);
        using var response = await http.PostAsJsonAsync("/api/v1/jobs", new JobSubmission { Command = ["true"] }, GantryJson.Default.JobSubmission);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        await AssertNoJobsAsync();
    }

    [Theory]
    [InlineData("/api/v1/nodes")]
    [InlineData("/api/v1/jobs")]
    [InlineData("/api/v1/jobs/1/logs")]
    [InlineData("/metrics")]
    public async Task Get_WithoutToken_401(string path)
    {
        using var response = await _server.Anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
    }

    [Theory]
    [InlineData("/healthz")]
    [InlineData("/readyz")]
    public async Task Health_WithoutToken_200(string path)
    {
        using var response = await _server.Anonymous.GetAsync(path);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    [Theory]
    [InlineData("/api/v1/jobs/424242", HttpStatusCode.NotFound)]
    [InlineData("/api/v1/jobs/abc", HttpStatusCode.NotFound)]
    [InlineData("/api/v1/nodes/nope", HttpStatusCode.NotFound)]
    [InlineData("/api/v1/jobs/424242/logs", HttpStatusCode.NotFound)]
    [InlineData("/api/v1/jobs?state=sleeping", HttpStatusCode.BadRequest)]
    [InlineData("/api/v1/jobs?limit=0", HttpStatusCode.BadRequest)]
    [InlineData("/api/v1/jobs?limit=5000", HttpStatusCode.BadRequest)]
    [InlineData("/api/v1/jobs?cursor=-3", HttpStatusCode.BadRequest)]
    [InlineData("/api/v1/nodes?state=asleep", HttpStatusCode.BadRequest)]
    [InlineData("/api/v1/no-such-route", HttpStatusCode.NotFound)]
    public async Task Get_BadIdOrQuery_ProblemResponse(string path, HttpStatusCode expected)
    {
        using var response = await _server.Admin.GetAsync(path);
        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
    }

    [Fact]
    public async Task Cancel_UnknownJob_404AndEndedJob_409()
    {
        using var unknown = await _server.Admin.PostAsync("/api/v1/jobs/77/cancel", null);
        Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);

        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["true"] }))[0];
        using var first = await _server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.OK, first.StatusCode);
        using var second = await _server.Admin.PostAsync($"/api/v1/jobs/{id}/cancel", null);
        Assert.Equal(HttpStatusCode.Conflict, second.StatusCode);
        Assert.Contains("already ended (cancelled)", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Register_BadInventory_400AndNoNodeStored()
    {
        using var content = new StringContent("""{"name":"x","cpuCores":0,"memoryBytes":1,"os":"linux","architecture":"x64"}""", Encoding.UTF8, "application/json");
        using var response = await _server.Join.PostAsync("/api/v1/nodes/register", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("cpuCores", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using var duplicate = new StringContent("""{"name":"x","cpuCores":2,"memoryBytes":1,"os":"linux","architecture":"x64","gpus":[{"index":0,"uuid":"a","model":"m","memoryBytes":1},{"index":0,"uuid":"b","model":"m","memoryBytes":1}]}""", Encoding.UTF8, "application/json");
        using var second = await _server.Join.PostAsync("/api/v1/nodes/register", duplicate);
        Assert.Equal(HttpStatusCode.BadRequest, second.StatusCode);
        Assert.Contains("gpus[1].index", await second.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var nodes = await _server.Admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo);
        Assert.Empty(nodes!.Items);
    }

    public static TheoryData<string, string> NullsInRegistrations => new()
    {
        { "\"labels\":null", "labels" },
        { "\"labels\":{\"zone\":null}", "labels.zone" },
        { "\"gpus\":null", "gpus" },
        { "\"gpus\":[null]", "gpus[0]" },
        { "\"gpus\":[{\"index\":0,\"uuid\":\"a\",\"model\":\"m\",\"memoryBytes\":1,\"nvLinkPeers\":null}]", "gpus[0].nvLinkPeers" },
        { "\"runningAttempts\":null", "runningAttempts" },
        { "\"runningAttempts\":[null]", "runningAttempts[0]" },
    };

    [Theory]
    [MemberData(nameof(NullsInRegistrations))]
    public async Task Register_NullForAMapListOrAnElementOfOne_400ProblemNamingTheFieldAndNoNodeStored(string member, string field)
    {
        using var content = new StringContent($$"""{"name":"x","cpuCores":2,"memoryBytes":1,"os":"linux","architecture":"x64",{{member}}}""", Encoding.UTF8, "application/json");
        using var response = await _server.Join.PostAsync("/api/v1/nodes/register", content);

        await AssertProblemNamingAsync(response, field);
        var nodes = await _server.Admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo);
        Assert.Empty(nodes!.Items);
    }

    public static TheoryData<string, string> NullsInHeartbeats => new()
    {
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"gpus\":null}}", "summary.gpus" },
        // Once answered 200, after which the telemetry writer failed on the stored null and stopped the server.
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"powerWatts\":5,\"gpus\":null}}", "summary.gpus" },
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"gpus\":[null]}}", "summary.gpus[0]" },
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"gpus\":[{\"index\":0,\"throttleReasons\":null}]}}", "summary.gpus[0].throttleReasons" },
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"gpus\":[{\"index\":0,\"throttleReasons\":[null]}]}}", "summary.gpus[0].throttleReasons[0]" },
        { "{\"runningAttempts\":null}", "runningAttempts" },
        { "{\"runningAttempts\":[null]}", "runningAttempts[0]" },
    };

    // Readings out of range: one would make the fleet's power and energy meaningless.
    public static TheoryData<string, string, string> BadReadingsInHeartbeats => new()
    {
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"powerWatts\":1e308,\"gpus\":[]}}", "summary.powerWatts", "must be between 0 and 1000000" },
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"powerWatts\":-5,\"gpus\":[]}}", "summary.powerWatts", "must be between 0 and 1000000" },
        { "{\"summary\":{\"sampledAt\":\"2026-01-01T00:00:00Z\",\"gpus\":[{\"index\":0,\"utilization\":7}]}}", "summary.gpus[0].utilization", "must be between 0 and 1" },
    };

    // A heartbeat's GPU health: every way it can be wrong names its field, and nothing is decided.
    public static TheoryData<string, string, string> BadHealthInHeartbeats => new()
    {
        { "{\"health\":{\"gpus\":null}}", "health.gpus", "null" },
        { "{\"health\":{\"gpus\":[null]}}", "health.gpus[0]", "null" },
        { "{\"health\":{\"gpus\":[{\"lost\":true}]}}", "health.gpus[0].index", "is required" },
        { "{\"health\":{\"gpus\":[{\"index\":-1}]}}", "health.gpus[0].index", "must be between 0 and 1023" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"xids\":[null]}]}}", "health.gpus[0].xids[0]", "null" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"xids\":[{\"xid\":48,\"source\":\"nvml\"}]}]}}", "health.gpus[0].xids[0].at", "is required" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"xids\":[{\"xid\":-3,\"at\":\"2026-01-01T00:00:00Z\",\"source\":\"nvml\"}]}]}}", "health.gpus[0].xids[0].xid", "must not be negative" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"xids\":[{\"xid\":48,\"at\":\"2026-01-01T00:00:00Z\",\"source\":\"dmesg\"}]}]}}", "health.gpus[0].xids[0].source", "invalid value" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"recoveryAction\":\"explode\"}]}}", "health.gpus[0].recoveryAction", "invalid value" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"eccUncorrectedVolatile\":-1}]}}", "health.gpus[0]", "must not be negative" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"nvLinksDown\":99}]}}", "health.gpus[0].nvLinksDown", "must be between 0 and 64" },
        { "{\"health\":{\"gpus\":[{\"index\":0,\"bogus\":1}]}}", "health.gpus[0].bogus", "is not a known property" },
    };

    [Theory]
    [MemberData(nameof(BadHealthInHeartbeats))]
    public async Task Heartbeat_BadHealth_400ProblemNamingTheFieldAndNothingDecided(string body, string field, string message)
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await node.PostAsync($"/api/v1/nodes/{nodeId}/heartbeat", content);

        await AssertProblemNamingAsync(response, field, message);
        var info = await _server.Admin.GetFromJsonAsync($"/api/v1/nodes/{nodeId}", GantryJson.Default.NodeInfo);
        Assert.Null(info!.Gpus[0].Health);
        Assert.Empty(info.HealthHistory!);
    }

    public static TheoryData<string, string, string> BadCordons => new()
    {
        { "{\"gpu\":-1}", "gpu", "must be between 0 and 1023" },
        { "{\"gpu\":5000}", "gpu", "must be between 0 and 1023" },
        { "{\"gpu\":7}", "gpu", "has no GPU 7 (it has 0, 1)" },
        { "{\"gpu\":\"one\"}", "gpu", "wrong type" },
        { "{\"reason\":\"\"}", "reason", "must be 1 to 500 printable characters" },
        { "{\"reason\":\"a\\u0000b\"}", "reason", "must be 1 to 500 printable characters" },
        { "{\"gpu\":0,\"why\":\"x\"}", "why", "is not a known property" },
        { "[0]", "body", "" },
    };

    [Theory]
    [MemberData(nameof(BadCordons))]
    public async Task Cordon_BadBody_400ProblemNamingTheFieldAndNothingChanged(string body, string field, string message)
    {
        var (nodeId, _) = await _server.RegisterAsync("box", 2);
        foreach (var verb in new[] { "cordon", "uncordon" })
        {
            using var content = new StringContent(body, Encoding.UTF8, "application/json");
            using var response = await _server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/{verb}", content);
            await AssertProblemNamingAsync(response, field, message);
        }

        var info = await _server.Admin.GetFromJsonAsync($"/api/v1/nodes/{nodeId}", GantryJson.Default.NodeInfo);
        Assert.All(info!.Gpus, g => Assert.Null(g.Health));
        Assert.Empty(info.HealthHistory!);
    }

    [Fact]
    public async Task Cordon_UnknownNodeWrongMediaTypeOrNodeToken_404415And403()
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        using (var unknown = await _server.Admin.PostAsJsonAsync("/api/v1/nodes/nope/cordon", new CordonRequest { Gpu = 0 }, GantryJson.Default.CordonRequest))
        {
            Assert.Equal(HttpStatusCode.NotFound, unknown.StatusCode);
            Assert.Equal("application/problem+json", unknown.Content.Headers.ContentType!.MediaType);
        }

        using (var text = new StringContent("{\"gpu\":0}", Encoding.UTF8, "text/plain"))
        using (var wrongType = await _server.Admin.PostAsync($"/api/v1/nodes/{nodeId}/cordon", text))
        {
            Assert.Equal(HttpStatusCode.UnsupportedMediaType, wrongType.StatusCode);
        }

        using (var asNode = await node.PostAsJsonAsync($"/api/v1/nodes/{nodeId}/cordon", new CordonRequest { Gpu = 0 }, GantryJson.Default.CordonRequest))
        {
            Assert.Equal(HttpStatusCode.Forbidden, asNode.StatusCode);
        }

        var info = await _server.Admin.GetFromJsonAsync($"/api/v1/nodes/{nodeId}", GantryJson.Default.NodeInfo);
        Assert.Null(info!.Gpus[0].Health);
    }

    [Theory]
    [MemberData(nameof(NullsInHeartbeats))]
    public Task Heartbeat_NullForAListOrAnElementOfOne_400ProblemNamingTheFieldAndNoSummaryStored(string body, string field) =>
        HeartbeatRefusedAsync(body, field, "null");

    [Theory]
    [MemberData(nameof(BadReadingsInHeartbeats))]
    public Task Heartbeat_ReadingOutOfRange_400ProblemNamingTheFieldAndNoSummaryStored(string body, string field, string message) =>
        HeartbeatRefusedAsync(body, field, message);

    private async Task HeartbeatRefusedAsync(string body, string field, string message)
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 1);
        using var content = new StringContent(body, Encoding.UTF8, "application/json");
        using var response = await node.PostAsync($"/api/v1/nodes/{nodeId}/heartbeat", content);

        await AssertProblemNamingAsync(response, field, message);
        var info = await _server.Admin.GetFromJsonAsync($"/api/v1/nodes/{nodeId}", GantryJson.Default.NodeInfo);
        Assert.Null(info!.Summary);
    }

    [Theory]
    [InlineData("[null]", "chunks[0]", "null")]
    [InlineData("[{\"stream\":\"stdout\",\"offset\":0,\"data\":\"a\"},null]", "chunks[1]", "null")]
    [InlineData("[{\"stream\":\"stdout\",\"offset\":-1,\"data\":\"a\"}]", "chunks[0].offset", "must not be negative")]
    [InlineData("[{\"stream\":\"stdout\",\"offset\":9223372036854775807,\"data\":\"a\"}]", "chunks[0].offset", "must be at most 9007199254740992")]
    public async Task Logs_NullChunkOrOffsetOutOfRange_400ProblemNamingItAndNothingStored(string chunks, string field, string message)
    {
        var (nodeId, node) = await _server.RegisterAsync("box", 0);
        var id = (await _server.SubmitAsync(new JobSubmission { Command = ["x"] }))[0];
        var a = (await ServerHarness.AssignmentsAsync(node, nodeId, r => r.Attempts.Count == 1)).Attempts[0];
        using var content = new StringContent($$"""{"epoch":{{a.Epoch}},"chunks":{{chunks}}}""", Encoding.UTF8, "application/json");
        using var response = await node.PostAsync($"/api/v1/jobs/{id}/attempts/{a.Attempt}/logs", content);

        await AssertProblemNamingAsync(response, field, message);
        var lines = (await _server.Admin.GetStringAsync($"/api/v1/jobs/{id}/logs")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains("\"end\":true", lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Submit_OversizedBodyThenAnotherOnTheSameConnection_413ClosesTheConnectionAndTheNextIsAnswered()
    {
        // One connection, so the second request goes where the first one's unread body went.
        using var handler = new SocketsHttpHandler { MaxConnectionsPerServer = 1 };
        using var http = new HttpClient(handler) { BaseAddress = _server.Address };
        http.DefaultRequestHeaders.Authorization = new("Bearer", _server.AdminToken);
        using var big = new StringContent($"{{\"command\":[\"echo\",\"{new string('x', 1536 * 1024)}\"]}}", Encoding.UTF8, "application/json");
        using var first = await http.PostAsync("/api/v1/jobs", big);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, first.StatusCode);
        Assert.True(first.Headers.ConnectionClose, "a 413 for an unread body says Connection: close");

        using var second = await http.PostAsJsonAsync("/api/v1/jobs", new JobSubmission { Command = ["true"] }, GantryJson.Default.JobSubmission);
        Assert.Equal(HttpStatusCode.Created, second.StatusCode);
    }

    [Fact]
    public async Task Register_WithAdminToken_403()
    {
        using var content = new StringContent("""{"name":"x","cpuCores":2,"memoryBytes":1,"os":"linux","architecture":"x64"}""", Encoding.UTF8, "application/json");
        using var response = await _server.Admin.PostAsync("/api/v1/nodes/register", content);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    [Fact]
    public async Task Heartbeat_CredentialOfAnotherNode_403()
    {
        var (a, _) = await _server.RegisterAsync("a", 0);
        var (_, bHttp) = await _server.RegisterAsync("b", 0);
        using var response = await bHttp.PostAsJsonAsync($"/api/v1/nodes/{a}/heartbeat", new HeartbeatRequest(), GantryJson.Default.HeartbeatRequest);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
    }

    private static async Task AssertProblemNamingAsync(HttpResponseMessage response, string field, string message = "null")
    {
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.BadRequest, $"expected 400, got {(int)response.StatusCode}: {text}");
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType!.MediaType);
        using var problem = JsonDocument.Parse(text);
        Assert.True(problem.RootElement.GetProperty("errors").TryGetProperty(field, out var messages), $"errors should name {field}: {text}");
        Assert.Contains(message, messages[0].GetString(), StringComparison.Ordinal);
    }

    private async Task AssertNoJobsAsync()
    {
        var page = await _server.Admin.GetFromJsonAsync("/api/v1/jobs", GantryJson.Default.PageJobInfo);
        Assert.Empty(page!.Items);
    }
}
