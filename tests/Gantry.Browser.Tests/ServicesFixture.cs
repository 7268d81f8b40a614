using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Browser.Tests;

/// <summary>
/// A real <c>gantry server</c> with one node driven from the test: registered with the join token, given a
/// job submitted with a vLLM-shaped service spec, and heartbeating every second with that attempt's service
/// report (health as <see cref="Health"/> says, token counters and GPU energy growing) as an agent watching
/// a service would send it (docs/service-health.md).
/// </summary>
/// <remarks>
/// The server of this branch places the job as a batch job (the services feature makes service jobs of
/// their own); the reports are what an agent sends for a service attempt either way.
/// </remarks>
public sealed class ServicesFixture : IAsyncLifetime
{
    /// <summary>The host the node's agent advertises, and so the service's address.</summary>
    public const string NodeHost = "10.1.2.3";

    /// <summary>Generated tokens per second the reports' counters grow by.</summary>
    public const double TokensPerSecond = 120;

    /// <summary>GPU power the reports' energy grows by, in watts.</summary>
    public const double Watts = 300;

    private readonly string _root = Directory.CreateTempSubdirectory("gantry-services-").FullName;
    private readonly string _joinToken = "gjoin_browser-" + Guid.NewGuid().ToString("N");
    private readonly CancellationTokenSource _stop = new();
    private GantryProcess? _server;
    private TestStore? _store;
    private HttpClient? _node;
    private Task _beating = Task.CompletedTask;
    private volatile int _health = (int)ServiceHealth.Starting;

    public string Url { get; private set; } = null!;

    public string AdminToken { get; private set; } = null!;

    /// <summary>The service's job.</summary>
    public long JobId { get; private set; }

    /// <summary>The node's name.</summary>
    public string NodeName { get; } = "svc-node";

    /// <summary>What the next heartbeats report.</summary>
    public ServiceHealth Health
    {
        get => (ServiceHealth)_health;
        set => _health = (int)value;
    }

    public string Output => _server?.Output ?? "";

    public async Task InitializeAsync()
    {
        if (Chromium.SkipReason is not null)
        {
            return;
        }

        var dataDir = Path.Combine(_root, "data");
        _store = await TestStore.CreateAsync();
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{Tools.FreePort()}", "--data-dir", dataDir, .. _store.Arguments, "--join-token", _joinToken, "--heartbeat-interval", "1s", "--down-after", "60s"]);
        Url = (await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60))).TrimEnd('/');
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim();
        using var admin = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);
        using var join = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
        join.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", _joinToken);

        using (var registered = await join.PostAsJsonAsync("/api/v1/nodes/register", new RegisterNodeRequest
        {
            Name = NodeName,
            CpuCores = 16,
            MemoryBytes = 64L << 30,
            Os = "linux",
            Architecture = "x64",
            Gpus = [new GpuInventory { Index = 0, Uuid = "GPU-svc-0", Model = "NVIDIA H100 80GB HBM3", MemoryBytes = 80L << 30, Simulated = true }],
            AgentUrl = $"http://{NodeHost}:9450",
        }, GantryJson.Default.RegisterNodeRequest))
        {
            registered.EnsureSuccessStatusCode();
            var answer = (await registered.Content.ReadFromJsonAsync(GantryJson.Default.RegisterNodeResponse))!;
            NodeId = answer.NodeId;
            _node = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
            _node.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", answer.Credential);
        }

        using (var submitted = await admin.PostAsJsonAsync("/api/v1/jobs", new JobSubmission
        {
            Name = "chat",
            Command = ["vllm", "serve", "m"],
            Resources = new ResourceRequest { Gpus = 1 },
            Kind = JobKind.Service,
            Service = new ServiceSpec { Port = 8000, MetricsPath = "/metrics", Preset = "vllm" },
        }, GantryJson.Default.JobSubmission))
        {
            submitted.EnsureSuccessStatusCode();
            JobId = (await submitted.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds[0];
        }

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        Assignment? attempt = null;
        while (attempt is null)
        {
            Assert.True(DateTime.UtcNow < deadline, "the service job was never assigned:\n" + Output);
            var answer = (await _node!.GetFromJsonAsync($"/api/v1/nodes/{NodeId}/assignments?index=0&wait=1s", GantryJson.Default.AssignmentsResponse))!;
            attempt = answer.Attempts.FirstOrDefault(a => a.JobId == JobId);
        }

        (await _node.PostAsJsonAsync($"/api/v1/jobs/{JobId}/attempts/{attempt.Attempt}/events", new AttemptEvent { Epoch = attempt.Epoch, Type = AttemptEventType.Started, Time = DateTimeOffset.UtcNow, Pid = 4242 }, GantryJson.Default.AttemptEvent)).EnsureSuccessStatusCode();
        _beating = HeartbeatAsync(attempt, _stop.Token);
    }

    /// <summary>The node's id.</summary>
    public string NodeId { get; private set; } = null!;

    private async Task HeartbeatAsync(Assignment attempt, CancellationToken cancellationToken)
    {
        var since = DateTimeOffset.UtcNow;
        var running = new AttemptRef { JobId = attempt.JobId, Attempt = attempt.Attempt, Epoch = attempt.Epoch };
        while (!cancellationToken.IsCancellationRequested)
        {
            var now = DateTimeOffset.UtcNow;
            var seconds = (now - since).TotalSeconds;
            var request = new HeartbeatRequest
            {
                RunningAttempts = [running],
                AttemptEnergy = [new AttemptEnergyReport { JobId = attempt.JobId, Attempt = attempt.Attempt, Epoch = attempt.Epoch, Since = since, MeasuredAt = now, GpuEnergyJoules = seconds * Watts, Simulated = true }],
                Services =
                [
                    new ServiceReport
                    {
                        JobId = attempt.JobId,
                        Attempt = attempt.Attempt,
                        Health = Health,
                        Message = Health == ServiceHealth.Unhealthy ? "GET http://10.1.2.3:8000/health answered 503 Service Unavailable" : null,
                        ScrapedAt = now,
                        GeneratedTokensTotal = seconds * TokensPerSecond,
                        PromptTokensTotal = seconds * TokensPerSecond / 4,
                        RequestsRunning = 3,
                        RequestsWaiting = 1,
                    },
                ],
            };
            try
            {
                using var response = await _node!.PostAsJsonAsync($"/api/v1/nodes/{NodeId}/heartbeat", request, GantryJson.Default.HeartbeatRequest, cancellationToken);
                await Task.Delay(TimeSpan.FromSeconds(1), cancellationToken);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                return;
            }
            catch (HttpRequestException)
            {
                // The server is stopping.
            }
        }
    }

    public async Task DisposeAsync()
    {
        await _stop.CancelAsync();
        await _beating;
        _node?.Dispose();
        _stop.Dispose();
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Left to the OS's temp cleaning.
        }
    }
}
