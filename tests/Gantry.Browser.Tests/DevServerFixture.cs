using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.RegularExpressions;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Testing;

namespace Gantry.Browser.Tests;

/// <summary>
/// The real <c>gantry dev</c> (a server and an agent with two simulated GPUs in one process) on free
/// loopback ports with a temporary data dir, started once per test class, its node ready. Alert rules are
/// evaluated every second, so that a rule added by a test fires at once.
/// </summary>
public sealed partial class DevServerFixture : IAsyncLifetime
{
    private readonly string _root = Directory.CreateTempSubdirectory("gantry-browser-").FullName;
    private GantryProcess? _dev;
    private TestStore? _store;

    /// <summary>The dashboard's (and the API's) base URL, e.g. http://127.0.0.1:41234.</summary>
    public string Url { get; private set; } = null!;

    /// <summary>The admin token from <c>&lt;data-dir&gt;/admin.token</c>.</summary>
    public string AdminToken { get; private set; } = null!;

    /// <summary>The API with the admin token.</summary>
    public HttpClient Api { get; private set; } = null!;

    /// <summary>The dev agent's node.</summary>
    public NodeInfo Node { get; private set; } = null!;

    /// <summary>Everything gantry dev printed so far.</summary>
    public string Output => _dev?.Output ?? "";

    public async Task InitializeAsync()
    {
        if (Chromium.SkipReason is not null)
        {
            return;
        }

        var dataDir = Path.Combine(_root, "data");
        _store = await TestStore.CreateAsync();
        _dev = GantryProcess.Start(
            ["dev", "--data-dir", dataDir, .. _store.Arguments, "--listen", $"127.0.0.1:{Tools.FreePort()}", "--agent-listen", $"127.0.0.1:{Tools.FreePort()}", "--simulate-gpus", "2", "--no-client-config", "--alert-interval", "1s"],
            new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = Path.Combine(_root, "config") });
        Url = (await _dev.WaitForListeningAsync(TimeSpan.FromSeconds(60))).TrimEnd('/');
        AdminToken = (await File.ReadAllTextAsync(Path.Combine(dataDir, "admin.token"))).Trim();
        Api = new HttpClient { BaseAddress = new Uri(Url), Timeout = TimeSpan.FromSeconds(60) };
        Api.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AdminToken);

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (true)
        {
            var nodes = (await Api.GetFromJsonAsync("/api/v1/nodes", GantryJson.Default.PageNodeInfo))!.Items;
            if (nodes.Count == 1 && nodes[0].State == NodeState.Ready && nodes[0].Summary is not null)
            {
                Node = nodes[0];
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, "the dev agent's node never became ready with a summary:\n" + Output);
            await Task.Delay(200);
        }
    }

    /// <summary>The one-time login link gantry dev printed (<c>  dashboard   http://…/login?once=CODE</c>).</summary>
    public async Task<string> OneTimeLinkAsync()
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (true)
        {
            var match = DashboardLine().Match(Output);
            if (match.Success)
            {
                return match.Groups[1].Value;
            }

            Assert.True(DateTime.UtcNow < deadline, "gantry dev printed no '  dashboard   http://…/login?once=CODE' line:\n" + Output);
            await Task.Delay(100);
        }
    }

    public async Task DisposeAsync()
    {
        Api?.Dispose();
        if (_dev is not null)
        {
            await _dev.DisposeAsync();
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
            // A job's process may still hold a file for a moment; the temp folder is cleaned by the OS.
        }
    }

    // The contract's "  dashboard   URL"; gantry dev writes "  Dashboard:    URL", so case and colon are not held against it.
    [GeneratedRegex(@"^\s*dashboard:?\s+(https?://\S+/login\?once=\S+)\s*$", RegexOptions.Multiline | RegexOptions.IgnoreCase)]
    private static partial Regex DashboardLine();
}
