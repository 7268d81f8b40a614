using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Gantry.Server.Configuration;
using Gantry.Testing;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.DependencyInjection;

namespace Gantry.Server.Tests;

/// <summary>
/// A real server on Kestrel (127.0.0.1:0) with its data dir in a temp dir, its state in a real SQLite file
/// there or, with <c>GANTRY_TEST_STORE=postgres</c>, in a PostgreSQL database of its own (<see cref="TestStore"/>),
/// with clients for each kind of token.
/// </summary>
internal sealed class ServerHarness : IAsyncDisposable
{
    private readonly TestStore? _ownStore;

    private ServerHarness(WebApplication app, string dataDir, Uri address, TimeProvider time, TestStore? ownStore)
    {
        _ownStore = ownStore;
        App = app;
        DataDir = dataDir;
        Address = address;
        Time = time;
        AdminToken = File.ReadAllText(Path.Combine(dataDir, "admin.token")).Trim();
        JoinToken = File.ReadAllText(Path.Combine(dataDir, "join.token")).Trim();
        Admin = Client(AdminToken);
        Join = Client(JoinToken);
        Anonymous = Client(null);
    }

    public WebApplication App { get; }

    public string DataDir { get; }

    public Uri Address { get; }

    public TimeProvider Time { get; }

    public string AdminToken { get; }

    public string JoinToken { get; }

    public HttpClient Admin { get; }

    public HttpClient Join { get; }

    public HttpClient Anonymous { get; }

    public NodeRegistry Nodes => App.Services.GetRequiredService<NodeRegistry>();

    public JobQueue Jobs => App.Services.GetRequiredService<JobQueue>();

    /// <summary>One liveness sweep now (tests drive the clock; the worker's timer may not have ticked).</summary>
    public void SweepLiveness() => App.Services.GetRequiredService<LivenessWorker>().Sweep();

    /// <summary>
    /// Starts a server. A restart passes the same <paramref name="dataDir"/> and <paramref name="store"/>
    /// (the caller then drops it); without one the harness makes a store of its own, dropped at dispose.
    /// </summary>
    public static async Task<ServerHarness> StartAsync(TimeProvider? time = null, string? dataDir = null, Action<ServerOptions>? configure = null, TestStore? store = null, Action<IServiceCollection>? services = null)
    {
        dataDir ??= Directory.CreateTempSubdirectory("gantry-server-test-").FullName;
        var ownStore = store is null ? await TestStore.CreateAsync() : null;
        try
        {
            var options = new ServerOptions
            {
                Listen = new IPEndPoint(IPAddress.Loopback, 0),
                DataDir = dataDir,
                Store = (store ?? ownStore)!.Url,
                HeartbeatInterval = TimeSpan.FromSeconds(1),
                DownAfter = TimeSpan.FromSeconds(5),
            };
            configure?.Invoke(options);
            var app = ServerHost.Build(options, time, configureServices: services);
            await app.StartAsync();
            var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.First();
            return new ServerHarness(app, dataDir, new Uri(address), time ?? TimeProvider.System, ownStore);
        }
        catch
        {
            if (ownStore is not null)
            {
                await ownStore.DisposeAsync();
            }

            throw;
        }
    }

    public HttpClient Client(string? token)
    {
        var http = new HttpClient { BaseAddress = Address, Timeout = TimeSpan.FromSeconds(60) };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        return http;
    }

    /// <summary>
    /// Registers a node with <paramref name="gpus"/> simulated H100s (or the GPUs of <paramref name="inventory"/>, with
    /// the agent serving at <paramref name="agentUrl"/>); returns its id and a client carrying its credential.
    /// </summary>
    public async Task<(string Id, HttpClient Http)> RegisterAsync(string name, int gpus, int cpus = 8, string? nodeId = null, IReadOnlyDictionary<string, string>? labels = null, IReadOnlyList<AttemptRef>? running = null, IReadOnlyList<GpuInventory>? inventory = null, string? agentUrl = null)
    {
        var request = new RegisterNodeRequest
        {
            NodeId = nodeId,
            Name = name,
            CpuCores = cpus,
            MemoryBytes = 64L << 30,
            Os = "linux",
            Architecture = "x64",
            Labels = labels ?? new Dictionary<string, string>(),
            Gpus = inventory ?? [.. Enumerable.Range(0, gpus).Select(i => new GpuInventory { Index = i, Uuid = $"GPU-{name}-{i}", Model = "NVIDIA H100 80GB HBM3", MemoryBytes = 80L << 30, Simulated = true })],
            RunningAttempts = running ?? [],
            AgentUrl = agentUrl,
        };
        using var response = await Join.PostAsJsonAsync("/api/v1/nodes/register", request, GantryJson.Default.RegisterNodeRequest);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        var answer = (await response.Content.ReadFromJsonAsync(GantryJson.Default.RegisterNodeResponse))!;
        return (answer.NodeId, Client(answer.Credential));
    }

    public async Task<long[]> SubmitAsync(JobSubmission submission)
    {
        using var response = await Admin.PostAsJsonAsync("/api/v1/jobs", submission, GantryJson.Default.JobSubmission);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        return [.. (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds];
    }

    public async Task<JobInfo> JobAsync(long id) =>
        (await Admin.GetFromJsonAsync($"/api/v1/jobs/{id}", GantryJson.Default.JobInfo))!;

    /// <summary>Polls the node's assignments (no blocking) until <paramref name="until"/> holds.</summary>
    public static async Task<AssignmentsResponse> AssignmentsAsync(HttpClient node, string nodeId, Func<AssignmentsResponse, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var answer = (await node.GetFromJsonAsync($"/api/v1/nodes/{nodeId}/assignments?index=0&wait=0s", GantryJson.Default.AssignmentsResponse))!;
            if (until(answer))
            {
                return answer;
            }

            Assert.True(DateTime.UtcNow < deadline, "assignments did not reach the expected state within 30s");
            await Task.Delay(20);
        }
    }

    public async Task<JobInfo> WaitForJobAsync(long id, Func<JobInfo, bool> until)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var job = await JobAsync(id);
            if (until(job))
            {
                return job;
            }

            Assert.True(DateTime.UtcNow < deadline, $"job {id} stayed {job.State} ({job.Reason})");
            await Task.Delay(20);
        }
    }

    public static Task<HttpResponseMessage> ReportAsync(HttpClient node, Assignment a, AttemptEvent e) =>
        node.PostAsJsonAsync($"/api/v1/jobs/{a.JobId}/attempts/{a.Attempt}/events", e, GantryJson.Default.AttemptEvent);

    public async ValueTask DisposeAsync()
    {
        Admin.Dispose();
        Join.Dispose();
        Anonymous.Dispose();
        await App.StopAsync();
        await App.DisposeAsync();
        if (_ownStore is not null)
        {
            await _ownStore.DisposeAsync();
        }
    }
}
