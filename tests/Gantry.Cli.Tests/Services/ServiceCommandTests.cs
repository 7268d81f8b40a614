using System.Text.Json;
using Gantry.Cli.Services;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace Gantry.Cli.Tests.Services;

/// <summary><c>gantry services run|ls|show|stop</c>: the run flags' mapping, the presets' exact output, the commands against a canned API.</summary>
public sealed class ServiceCommandTests
{
    private const string Json = "application/json";

    private static (JobSubmission Submission, string? Note) Build(params string[] args)
    {
        var flags = new ServiceRunOptions();
        var context = new CliContext(TextWriter.Null, TextWriter.Null, _ => null, TimeProvider.System);
        var command = ServicesCommand.CreateRun(context, new ClientOptions(), flags);
        var parseResult = command.Parse(args);
        Assert.Empty(parseResult.Errors);
        return flags.Build(parseResult);
    }

    private static UsageException BuildFails(params string[] args) => Assert.Throws<UsageException>(() => Build(args));

    private static CliHarness Harness(FakeApi api)
    {
        var harness = new CliHarness { Clock = TimeProvider.System, TableWidth = 160 };
        harness.Environment["GANTRY_SERVER"] = api.Url;
        harness.Environment["GANTRY_TOKEN"] = "admin-token";
        return harness;
    }

    [Fact]
    public void Build_ProcessService_EveryFlagMapped()
    {
        var (s, note) = Build(
            "web", "--port", "8080", "--gpus", "1", "--cpus", "4", "--memory", "2048", "--selector", "zone=a", "--env", "A=1",
            "--restart-attempts", "5", "--restart-interval", "1h", "--restart-delay", "2s",
            "--health-http", "localhost:8080/healthz", "--health-grace", "30s", "--health-interval", "2s", "--metrics-path", "/metrics",
            "--", "python", "-m", "http.server", "8080");

        Assert.Null(note);
        Assert.Equal("web", s.Name);
        Assert.Equal(JobKind.Service, s.Kind);
        Assert.Equal(["python", "-m", "http.server", "8080"], s.Command);
        Assert.Null(s.Container);
        Assert.Equal(1, s.Resources.Gpus);
        Assert.Equal(4, s.Resources.Cpus);
        Assert.Equal(2048L << 20, s.Resources.MemoryBytes);
        Assert.Equal("a", s.Selector["zone"]);
        Assert.Equal("1", s.Env["A"]);
        var service = s.Service!;
        Assert.Equal(8080, service.Port);
        Assert.Equal("/metrics", service.MetricsPath);
        Assert.Equal(5, service.Restart.Attempts);
        Assert.Equal(3600, service.Restart.IntervalSeconds);
        Assert.Equal(2, service.Restart.DelaySeconds);
        var health = service.Health!;
        Assert.Equal(HealthCheckKind.Http, health.Kind);
        Assert.Equal("localhost", health.Host);
        Assert.Equal(8080, health.Port);
        Assert.Equal("/healthz", health.Path);
        Assert.Equal(30, health.GraceSeconds);
        Assert.Equal(2, health.IntervalSeconds);
        Assert.Null(s.MaxRuntimeSeconds);
        Assert.Equal(0, s.Retries);
    }

    [Fact]
    public void Build_ContainerService_PortsAndVolumesAndTcpCheck()
    {
        var (s, _) = Build("api", "--image", "registry.local/api:1", "--runtime", "docker", "--port", "18000:8000", "--port", "9090", "--volume", "/data:/data:ro", "--health-tcp", ":18000", "--", "--workers", "2");

        Assert.Equal(["--workers", "2"], s.Command);
        var container = s.Container!;
        Assert.Equal("registry.local/api:1", container.Image);
        Assert.Equal(ContainerRuntime.Docker, container.Runtime);
        Assert.Equal([new PortMapping { HostPort = 18000, ContainerPort = 8000 }, new PortMapping { ContainerPort = 9090 }], container.Ports);
        Assert.Equal(new VolumeMount { HostPath = "/data", ContainerPath = "/data", ReadOnly = true }, Assert.Single(container.Volumes));
        Assert.Null(s.Service!.Port); // the server takes the first published port
        Assert.Equal(new HealthCheck { Kind = HealthCheckKind.Tcp, Port = 18000 }, s.Service.Health);
        Assert.Equal(new RestartPolicy(), s.Service.Restart);
    }

    [Fact]
    public void Vllm_Preset_ExactOutput()
    {
        var made = ServicePresets.Vllm("meta-llama/Llama-3.1-8B-Instruct", gpus: 2, port: null, maxModelLen: 4096, tensorParallel: null, image: null);

        Assert.Equal("docker.io/vllm/vllm-openai:latest", made.Container.Image);
        Assert.Equal(ContainerRuntime.Podman, made.Container.Runtime);
        Assert.Equal([new PortMapping { ContainerPort = 8000 }], made.Container.Ports);
        Assert.Equal(["--model", "meta-llama/Llama-3.1-8B-Instruct", "--port", "8000", "--max-model-len", "4096", "--tensor-parallel-size", "2"], made.Command);
        Assert.Empty(made.Env);
        Assert.Equal(8000, made.Service.Port);
        Assert.Equal("/metrics", made.Service.MetricsPath);
        Assert.Equal("vllm", made.Service.Preset);
        Assert.Equal(new HealthCheck { Kind = HealthCheckKind.Http, Port = 8000, Path = "/health", GraceSeconds = 600 }, made.Service.Health);
        Assert.Null(made.Note);

        // One GPU: no tensor parallelism unless asked; the port moves everything with it.
        var one = ServicePresets.Vllm("m", gpus: 1, port: 9000, maxModelLen: null, tensorParallel: null, image: "localhost/vllm:0.6");
        Assert.Equal(["--model", "m", "--port", "9000"], one.Command);
        Assert.Equal("localhost/vllm:0.6", one.Container.Image);
        Assert.Equal(9000, one.Service.Health!.Port);
        Assert.Equal([new PortMapping { ContainerPort = 9000 }], one.Container.Ports);
    }

    [Fact]
    public void Ollama_Preset_ExactOutput()
    {
        var made = ServicePresets.Ollama("llama3.1:8b", port: null, image: null);

        Assert.Equal("docker.io/ollama/ollama:latest", made.Container.Image);
        Assert.Equal([new PortMapping { ContainerPort = 11434 }], made.Container.Ports);
        Assert.Equal(["serve"], made.Command);
        Assert.Equal("0.0.0.0:11434", made.Env["OLLAMA_HOST"]);
        Assert.Equal(11434, made.Service.Port);
        Assert.Null(made.Service.MetricsPath);
        Assert.Equal("ollama", made.Service.Preset);
        Assert.Equal(new HealthCheck { Kind = HealthCheckKind.Http, Port = 11434, Path = "/", GraceSeconds = 120 }, made.Service.Health);
        Assert.StartsWith("ollama has no /metrics: measured by GPU energy alone.", made.Note, StringComparison.Ordinal);
        Assert.Contains("does not pull llama3.1:8b", made.Note, StringComparison.Ordinal);
    }

    [Fact]
    public void Build_VllmPreset_FlagsGoThrough()
    {
        var (s, note) = Build("vllm", "--model", "M", "--gpus", "2", "--tensor-parallel", "2", "--max-model-len", "4096", "--image", "localhost/vllm:1", "--volume", "/models:/models:ro", "--name", "llama", "--restart-delay", "30s");

        Assert.Null(note);
        Assert.Equal("llama", s.Name);
        Assert.Equal(2, s.Resources.Gpus);
        Assert.Equal(["--model", "M", "--port", "8000", "--max-model-len", "4096", "--tensor-parallel-size", "2"], s.Command);
        Assert.Equal("localhost/vllm:1", s.Container!.Image);
        Assert.Single(s.Container.Volumes);
        Assert.Equal(30, s.Service!.Restart.DelaySeconds);
        Assert.Equal(600, s.Service.Health!.GraceSeconds);
        Assert.Equal("vllm", s.Service.Preset);
    }

    [Fact]
    public void Build_OllamaPreset_DefaultsToOneGpuAndSaysItHasNoMetrics()
    {
        var (s, note) = Build("ollama", "--model", "llama3.1:8b", "--port", "11500", "--health-grace", "5m");

        Assert.Equal("ollama", s.Name);
        Assert.Equal(1, s.Resources.Gpus);
        Assert.Equal("0.0.0.0:11500", s.Env["OLLAMA_HOST"]);
        Assert.Equal(300, s.Service!.Health!.GraceSeconds);
        Assert.Equal(11500, s.Service.Port);
        Assert.StartsWith("ollama has no /metrics", note, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("--restart-attempts", "web", "--restart-attempts", "101", "--", "x")]
    [InlineData("--restart-delay", "web", "--restart-interval", "10s", "--restart-delay", "1m", "--", "x")]
    [InlineData("--restart-interval", "web", "--restart-interval", "0s", "--", "x")]
    [InlineData("--health-http", "web", "--health-http", "8000/health", "--", "x")]
    [InlineData("--health-http", "web", "--health-http", ":99999/health", "--", "x")]
    [InlineData("--health-http", "web", "--health-http", ":80/", "--health-tcp", ":80", "--", "x")]
    [InlineData("--health-grace", "web", "--health-grace", "30s", "--", "x")]
    [InlineData("--health-interval", "web", "--health-interval", "5s", "--", "x")]
    [InlineData("--health-interval", "web", "--health-tcp", ":80", "--health-interval", "0s", "--", "x")]
    [InlineData("--metrics-path", "web", "--metrics-path", "metrics", "--port", "80", "--", "x")]
    [InlineData("--metrics-path", "web", "--metrics-path", "/metrics", "--", "x")]
    [InlineData("--volume", "web", "--volume", "/a:/b", "--", "x")]
    [InlineData("--volume", "web", "--image", "i", "--volume", "rel:/b")]
    [InlineData("--runtime", "web", "--image", "i", "--runtime", "lxc")]
    [InlineData("--model", "web", "--model", "m", "--", "x")]
    [InlineData("--model", "vllm")]
    [InlineData("COMMAND", "vllm", "--model", "m", "--", "x")]
    [InlineData("COMMAND", "web")]
    [InlineData("NAME", "1web", "--", "x")]
    [InlineData("--max-model-len", "ollama", "--model", "m", "--max-model-len", "4096")]
    public void Build_BadInput_NamesTheFlag(string flag, params string[] args)
    {
        Assert.Equal(flag, BuildFails(args).Setting);
    }

    [Fact]
    public async Task Run_BadFlag_ExitCode2WithMessage()
    {
        var result = await new CliHarness().RunAsync("services", "run", "web", "--restart-attempts", "x", "--", "serve");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("--restart-attempts: expected a whole number, got 'x'", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Run_Ollama_PostsServiceAndPrintsIdAndNote()
    {
        await using var api = await FakeApi.StartAsync(app =>
            app.MapPost("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 201, Json, """{"jobIds":[7]}""")));

        var result = await Harness(api).RunAsync("services", "run", "ollama", "--model", "llama3.1:8b");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal("7\n", result.Output);
        Assert.Contains("gantry: ollama has no /metrics: measured by GPU energy alone", result.Error, StringComparison.Ordinal);
        var sent = JsonSerializer.Deserialize(Assert.Single(api.Received).Body, GantryJson.Default.JobSubmission)!;
        Assert.Equal(JobKind.Service, sent.Kind);
        Assert.Equal("docker.io/ollama/ollama:latest", sent.Container!.Image);
        Assert.Equal(11434, sent.Service!.Port);
    }

    private static JobInfo ServiceJob(long id, string name, ServiceStatus status) => new()
    {
        Id = id,
        Name = name,
        State = JobState.Running,
        Command = ["serve"],
        Env = new Dictionary<string, string>(),
        Resources = new ResourceRequest { Gpus = 1 },
        Priority = 50,
        Selector = new Dictionary<string, string>(),
        Retries = 0,
        SubmittedAt = new DateTimeOffset(2026, 3, 1, 11, 0, 0, TimeSpan.Zero),
        NodeId = "n1",
        Kind = JobKind.Service,
        Service = new ServiceSpec { Port = 8000, MetricsPath = "/metrics" },
        ServiceStatus = status,
    };

    [Fact]
    public async Task Ls_Services_TableWithMetricsOrDashes()
    {
        var measured = ServiceJob(12, "llama", new ServiceStatus
        {
            Health = ServiceHealth.Healthy,
            Address = new ServiceAddress { NodeId = "n1", Host = "gpu-01", Port = 8000 },
            Restarts = 2,
            Metrics = new ServiceMetricsInfo { At = DateTimeOffset.UnixEpoch, RequestsRunning = 3, RequestsWaiting = 1, GeneratedTokensPerSecond = 812.46, GpuPowerWatts = 540.2, TokensPerJoule = 1.504 },
        });
        var starting = ServiceJob(13, "qwen", new ServiceStatus { Health = ServiceHealth.Restarting, Restarts = 0 }) with { NodeId = null };
        await using var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/services", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, JsonSerializer.Serialize(new Page<JobInfo> { Items = [starting, measured] }, GantryJson.Default.PageJobInfo))));

        var result = await Harness(api).RunAsync("services", "ls");

        Assert.Equal(0, result.ExitCode);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.Equal(["NAME", "ID", "HEALTH", "NODE:PORT", "RESTARTS", "RUNNING", "WAITING", "TOK/S", "GPU", "W", "TOK/J"], lines[0].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["qwen", "13", "restarting", "-", "0", "-", "-", "-", "-", "-"], lines[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(["llama", "12", "healthy", "gpu-01:8000", "2", "3", "1", "812.5", "540", "1.5"], lines[2].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("/api/v1/services?limit=100", Assert.Single(api.Received).PathAndQuery);
    }

    [Fact]
    public async Task Ls_All_ListsServiceJobsWithHowTheyEnded()
    {
        var ended = ServiceJob(9, "old", new ServiceStatus { Restarts = 3, Message = "restarted 3 times within 30m; giving up after exit code 1" }) with { State = JobState.Failed, NodeId = null };
        await using var api = await FakeApi.StartAsync(app =>
            app.MapGet("/api/v1/jobs", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, JsonSerializer.Serialize(new Page<JobInfo> { Items = [ended] }, GantryJson.Default.PageJobInfo))));

        var result = await Harness(api).RunAsync("services", "ls", "--all");

        Assert.Equal(0, result.ExitCode);
        Assert.Equal(["old", "9", "failed", "-", "3", "-", "-", "-", "-", "-"], result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries)[1].Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal("/api/v1/jobs?limit=100&kind=service", Assert.Single(api.Received).PathAndQuery);
    }

    [Fact]
    public async Task ShowAndStop_ByName_ResolveTheLiveService()
    {
        var job = ServiceJob(12, "llama", new ServiceStatus { Health = ServiceHealth.Healthy, Address = new ServiceAddress { NodeId = "n1", Host = "gpu-01", Port = 8000, MetricsUrl = "http://gpu-01:8000/metrics" }, Restarts = 1 });
        await using var api = await FakeApi.StartAsync(app =>
        {
            app.MapGet("/api/v1/services", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, JsonSerializer.Serialize(new Page<JobInfo> { Items = c.Request.Query["name"] == "llama" ? [job] : [] }, GantryJson.Default.PageJobInfo)));
            app.MapGet("/api/v1/jobs/12", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, JsonSerializer.Serialize(job, GantryJson.Default.JobInfo)));
            app.MapPost("/api/v1/jobs/12/cancel", (HttpContext c) => FakeApi.WriteAsync(c, 200, Json, JsonSerializer.Serialize(job with { CancelRequested = true }, GantryJson.Default.JobInfo)));
        });

        var show = await Harness(api).RunAsync("services", "show", "llama");
        Assert.Equal(0, show.ExitCode);
        Assert.Contains("Health:", show.Output, StringComparison.Ordinal);
        Assert.Contains("healthy", show.Output, StringComparison.Ordinal);
        Assert.Contains("gpu-01:8000 (node n1)", show.Output, StringComparison.Ordinal);
        Assert.Contains("http://gpu-01:8000/metrics", show.Output, StringComparison.Ordinal);

        var stop = await Harness(api).RunAsync("services", "stop", "llama");
        Assert.Equal(0, stop.ExitCode);
        Assert.Equal("service llama (job 12) is stopping; its node stops it\n", stop.Output);

        var byId = await Harness(api).RunAsync("services", "stop", "12");
        Assert.Equal(0, byId.ExitCode);

        var missing = await Harness(api).RunAsync("services", "stop", "nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("no running service named 'nope'", missing.Error, StringComparison.Ordinal);
        Assert.Equal(2, api.Received.Count(r => r.Method == "POST"));
    }
}
