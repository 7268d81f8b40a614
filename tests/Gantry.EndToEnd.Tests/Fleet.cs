using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.EndToEnd.Tests;

/// <summary>A real fleet on loopback: one <c>gantry server</c> process and agents, each a real <c>gantry agent</c> process.</summary>
internal sealed class Fleet : IAsyncDisposable
{
    private readonly List<GantryProcess> _agents = [];
    private readonly Dictionary<GantryProcess, string[]> _agentArgs = [];
    private GantryProcess? _server;

    private readonly FleetOptions _options;

    private Fleet(string root, int port, TestStore store, FleetOptions options)
    {
        _options = options;
        Store = store;
        Root = root;
        Port = port;
        DataDir = Path.Combine(root, "server");
        Work = Directory.CreateDirectory(Path.Combine(root, "work")).FullName;
        Url = $"http://127.0.0.1:{port}";
    }

    /// <summary>Where the server keeps its state: SQLite in <see cref="DataDir"/>, or PostgreSQL (GANTRY_TEST_STORE).</summary>
    public TestStore Store { get; }

    public string Root { get; }

    public int Port { get; }

    public string DataDir { get; }

    /// <summary>A folder jobs write their evidence into.</summary>
    public string Work { get; }

    public string Url { get; }

    /// <summary>Given to the server, so it stays the same when its database is wiped.</summary>
    public string JoinToken { get; } = "gjoin_e2e-" + Guid.NewGuid().ToString("N");

    public HttpClient Admin { get; private set; } = null!;

    public IReadOnlyList<GantryProcess> Agents => _agents;

    public static Task<Fleet> StartAsync(params int[] gpusPerAgent) => StartAsync(new FleetOptions(), gpusPerAgent);

    /// <summary>A fleet whose server and agents get the extra settings of <paramref name="options"/>.</summary>
    public static async Task<Fleet> StartAsync(FleetOptions options, params int[] gpusPerAgent)
    {
        var fleet = new Fleet(Directory.CreateTempSubdirectory("gantry-fleet-").FullName, Tools.FreePort(), await TestStore.CreateAsync(), options);
        await fleet.StartServerAsync();
        for (var i = 0; i < gpusPerAgent.Length; i++)
        {
            await fleet.StartAgentAsync(i, gpusPerAgent[i]);
        }

        await fleet.WaitAsync("every node ready", async () =>
        {
            var nodes = await fleet.NodesAsync();
            return nodes.Count == gpusPerAgent.Length && nodes.All(n => n.State == NodeState.Ready);
        });
        return fleet;
    }

    public async Task StartServerAsync()
    {
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{Port}", "--data-dir", DataDir, .. Store.Arguments, "--heartbeat-interval", "1s", "--down-after", "5s", "--kill-grace", "2s", "--join-token", JoinToken, .. _options.ServerArguments]);
        await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60));
        Admin?.Dispose();
        Admin = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
        Admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(DataDir, "admin.token")).Trim());
    }

    public Task KillServerAsync() => _server!.KillHardAsync();

    private async Task StartAgentAsync(int index, int gpus)
    {
        string[] args =
        [
            "agent", "--listen", "127.0.0.1:0", "--interval", "1s", "--simulate-gpus", gpus.ToString(System.Globalization.CultureInfo.InvariantCulture),
            // A replica address where nothing listens comes first: every agent finds the server by moving on.
            "--server", $"http://127.0.0.1:{Tools.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture)},{Url}", "--join-token", JoinToken,
            "--state-dir", Path.Combine(Root, $"agent{index}"), "--node-name", $"agent{index}", "--labels", $"agent=a{index}" + (_options.AgentLabels is null ? "" : "," + _options.AgentLabels), .. _options.AgentArguments,
        ];
        var agent = GantryProcess.Start(args);
        _agents.Add(agent);
        _agentArgs[agent] = args;
        await agent.WaitForListeningAsync(TimeSpan.FromSeconds(60));
    }

    /// <summary>Kills an agent with SIGKILL; its job processes are left running, as a crash would leave them.</summary>
    public Task KillAgentAsync(int index) => _agents[index].KillHardAsync();

    /// <summary>Starts agent <paramref name="index"/> again with the same state dir.</summary>
    public async Task RestartAgentAsync(int index)
    {
        var old = _agents[index];
        var args = _agentArgs[old];
        await old.DisposeAsync();
        var agent = GantryProcess.Start(args);
        _agents[index] = agent;
        _agentArgs[agent] = args;
        await agent.WaitForListeningAsync(TimeSpan.FromSeconds(60));
    }

    public async Task<List<NodeInfo>> NodesAsync() =>
        [.. (await Admin.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items];

    public async Task<List<JobInfo>> JobsAsync()
    {
        var all = new List<JobInfo>();
        string? cursor = null;
        do
        {
            var page = (await Admin.GetFromJsonAsync("/api/v1/jobs?limit=1000" + (cursor is null ? "" : "&cursor=" + cursor), GantryJson.Default.PageJobInfo))!;
            all.AddRange(page.Items);
            cursor = page.NextCursor;
        }
        while (cursor is not null);
        return all;
    }

    public async Task<JobInfo> JobAsync(long id) => (await Admin.GetFromJsonAsync($"/api/v1/jobs/{id}", GantryJson.Default.JobInfo))!;

    public async Task<long[]> SubmitAsync(JobSubmission submission)
    {
        using var response = await Admin.PostAsJsonAsync("/api/v1/jobs", submission, GantryJson.Default.JobSubmission);
        Assert.True(response.StatusCode == HttpStatusCode.Created, await response.Content.ReadAsStringAsync());
        return [.. (await response.Content.ReadFromJsonAsync(GantryJson.Default.SubmitResponse))!.JobIds];
    }

    public async Task DrainAllAsync(bool drain)
    {
        foreach (var node in await NodesAsync())
        {
            (await Admin.PostAsync($"/api/v1/nodes/{node.Id}/{(drain ? "drain" : "undrain")}", null)).Dispose();
        }
    }

    /// <summary>Polls <paramref name="condition"/> every 100 ms; fails with the fleet's output after <paramref name="seconds"/>.</summary>
    public async Task WaitAsync(string what, Func<Task<bool>> condition, int seconds = 90)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(seconds);
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // The server may be restarting.
            }

            if (DateTime.UtcNow > deadline)
            {
                Assert.Fail($"timed out waiting for {what}.\nserver:\n{Tail(_server?.Output)}\n" + string.Join("\n", _agents.Select((a, i) => $"agent{i}:\n{Tail(a.Output)}")));
            }

            await Task.Delay(100);
        }
    }

    public async Task<List<JobInfo>> WaitForJobsAsync(IReadOnlyCollection<long> ids, Func<JobInfo, bool> done, int seconds = 120)
    {
        List<JobInfo> jobs = [];
        await WaitAsync($"{ids.Count} jobs to finish", async () =>
        {
            jobs = [.. (await JobsAsync()).Where(j => ids.Contains(j.Id))];
            return jobs.Count == ids.Count && jobs.All(done);
        }, seconds);
        return jobs;
    }

    private static string Tail(string? text) => text is null ? "" : text.Length > 3000 ? text[^3000..] : text;


    public async ValueTask DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        if (_server is not null)
        {
            await _server.DisposeAsync();
        }

        Admin?.Dispose();
        await Store.DisposeAsync();
    }
}

/// <summary>What a <see cref="Fleet"/> gives its processes beside its own settings.</summary>
internal sealed record FleetOptions
{
    /// <summary>More arguments for <c>gantry server</c>.</summary>
    public IReadOnlyList<string> ServerArguments { get; init; } = [];

    /// <summary>More arguments for every <c>gantry agent</c>.</summary>
    public IReadOnlyList<string> AgentArguments { get; init; } = [];

    /// <summary>More node labels (<c>k=v,…</c>) for every agent, beside its own <c>agent=aN</c>.</summary>
    public string? AgentLabels { get; init; }
}
