using Gantry.Testing;

namespace Gantry.Browser.Tests;

/// <summary>
/// A real <c>gantry server</c> (not dev) with <see cref="NodeCount"/> synthetic nodes of eight GPUs each,
/// registered through the API with the join token and heartbeating from the test every 5 s with figures
/// that change every round.
/// </summary>
public sealed class ManyNodesFixture : IAsyncLifetime
{
    public const int NodeCount = 500;
    public const int GpusPerNode = 8;

    private readonly string _root = Directory.CreateTempSubdirectory("gantry-500-").FullName;
    private readonly string _joinToken = "gjoin_browser-" + Guid.NewGuid().ToString("N");
    private GantryProcess? _server;
    private TestStore? _store;

    public string Url { get; private set; } = null!;

    public string AdminToken { get; private set; } = null!;

    public SyntheticNodes Nodes { get; private set; } = null!;

    public string Output => _server?.Output ?? "";

    public async Task InitializeAsync()
    {
        if (Chromium.SkipReason is not null)
        {
            return;
        }

        var dataDir = Path.Combine(_root, "data");
        // A long --down-after: on a busy two-core machine a heartbeat round of 500 nodes may come late,
        // and this fixture is about rendering, not failure detection.
        _store = await TestStore.CreateAsync();
        _server = GantryProcess.Start(["server", "--listen", $"127.0.0.1:{Tools.FreePort()}", "--data-dir", dataDir, .. _store.Arguments, "--join-token", _joinToken, "--heartbeat-interval", "5s", "--down-after", "120s"]);
        Url = (await _server.WaitForListeningAsync(TimeSpan.FromSeconds(60))).TrimEnd('/');
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim();
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(3));
        Nodes = await SyntheticNodes.RegisterAsync(new Uri(Url), _joinToken, NodeCount, GpusPerNode, parallel: 8, cts.Token);
        await Nodes.HeartbeatAllAsync(parallel: 8, cts.Token);
        Nodes.StartHeartbeating(TimeSpan.FromSeconds(5), parallel: 8);
    }

    public async Task DisposeAsync()
    {
        if (Nodes is not null)
        {
            await Nodes.DisposeAsync();
        }

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
