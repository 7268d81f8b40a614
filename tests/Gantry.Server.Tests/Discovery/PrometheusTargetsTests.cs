using System.Net;
using System.Text.Json;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Discovery;
using Gantry.Server.Nodes;
using Gantry.Testing;

namespace Gantry.Server.Tests.Discovery;

/// <summary><c>GET /api/v1/prometheus/targets</c> on a real server: Prometheus' http_sd answer, its labels and who may read it.</summary>
public sealed class PrometheusTargetsTests
{
    [Fact]
    public async Task Targets_RegisteredAgents_OneGroupPerNodeWithMetaLabels()
    {
        await using var server = await ServerHarness.StartAsync();
        var gpu = await RegisterAsync(server, "gpu-a", "http://10.0.0.5:9450", new Dictionary<string, string> { ["zone"] = "eu-1", ["gantry.io/rack"] = "r7" },
            Gpu(0, "NVIDIA H100 80GB HBM3", simulated: true), Gpu(1, "NVIDIA A100-SXM4-40GB", simulated: true), Gpu(2, "NVIDIA H100 80GB HBM3", simulated: true));
        var proxied = await RegisterAsync(server, "gpu-b", "https://[fd00::2]:9443/agents/b/", new Dictionary<string, string>(), Gpu(0, "NVIDIA L4", simulated: false));
        await RegisterAsync(server, "old-agent", agentUrl: null, new Dictionary<string, string>());
        var cpuOnly = await RegisterAsync(server, "cpu-c", "http://cpu-c:9450", new Dictionary<string, string>());

        using var response = await server.Admin.GetAsync("/api/v1/prometheus/targets");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("application/json", response.Content.Headers.ContentType!.MediaType);
        using var document = JsonDocument.Parse(await response.Content.ReadAsStringAsync());
        var groups = document.RootElement.EnumerateArray().ToDictionary(g => g.GetProperty("labels").GetProperty("__meta_gantry_node_id").GetString()!);
        Assert.Equal(3, groups.Count);

        var a = groups[gpu];
        Assert.Equal(["10.0.0.5:9450"], a.GetProperty("targets").EnumerateArray().Select(t => t.GetString()));
        Assert.Equal(new Dictionary<string, string>
        {
            ["__scheme__"] = "http",
            ["__metrics_path__"] = "/metrics",
            ["__meta_gantry_node_id"] = gpu,
            ["__meta_gantry_node_name"] = "gpu-a",
            ["__meta_gantry_node_state"] = "ready",
            ["__meta_gantry_gpu_models"] = "NVIDIA H100 80GB HBM3,NVIDIA A100-SXM4-40GB",
            ["__meta_gantry_simulated"] = "true",
            ["__meta_gantry_label_zone"] = "eu-1",
            ["__meta_gantry_label_gantry_io_rack"] = "r7",
        }, Labels(a));

        var b = groups[proxied];
        Assert.Equal(["[fd00::2]:9443"], b.GetProperty("targets").EnumerateArray().Select(t => t.GetString()));
        var bLabels = Labels(b);
        Assert.Equal("https", bLabels["__scheme__"]);
        Assert.Equal("/agents/b/metrics", bLabels["__metrics_path__"]);
        Assert.Equal("NVIDIA L4", bLabels["__meta_gantry_gpu_models"]);
        Assert.False(bLabels.ContainsKey("__meta_gantry_simulated"));

        var c = Labels(groups[cpuOnly]);
        Assert.Equal("", c["__meta_gantry_gpu_models"]);
        Assert.Equal(["cpu-c:9450"], groups[cpuOnly].GetProperty("targets").EnumerateArray().Select(t => t.GetString()));
    }

    [Fact]
    public async Task Targets_SilentNodeGoesDown_StillListedWithStateDown()
    {
        var clock = new FakeTimeProvider();
        await using var server = await ServerHarness.StartAsync(clock);
        var quiet = await RegisterAsync(server, "quiet", "http://10.0.0.9:9450", new Dictionary<string, string>(), Gpu(0, "NVIDIA H100 80GB HBM3", simulated: true));

        clock.Advance(TimeSpan.FromSeconds(6));
        server.SweepLiveness();
        Assert.Equal(NodeState.Down, server.Nodes.GetNode(quiet)!.State);

        using var document = JsonDocument.Parse(await server.Admin.GetStringAsync("/api/v1/prometheus/targets"));
        var group = Assert.Single(document.RootElement.EnumerateArray());
        Assert.Equal(quiet, group.GetProperty("labels").GetProperty("__meta_gantry_node_id").GetString());
        Assert.Equal("down", group.GetProperty("labels").GetProperty("__meta_gantry_node_state").GetString());
    }

    [Fact]
    public async Task Targets_NoNodes_EmptyArray()
    {
        await using var server = await ServerHarness.StartAsync();

        Assert.Equal("[]", await server.Admin.GetStringAsync("/api/v1/prometheus/targets"));
    }

    [Fact]
    public async Task Targets_TokensOtherThanAdmin_Refused()
    {
        await using var server = await ServerHarness.StartAsync();
        var (_, node) = await server.RegisterAsync("n", 1);

        using var anonymous = await server.Anonymous.GetAsync("/api/v1/prometheus/targets");
        using var join = await server.Join.GetAsync("/api/v1/prometheus/targets");
        using var credential = await node.GetAsync("/api/v1/prometheus/targets");
        using var wrong = await server.Client("gadm_not-the-token").GetAsync("/api/v1/prometheus/targets");

        Assert.Equal(HttpStatusCode.Unauthorized, anonymous.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, join.StatusCode);
        Assert.Equal(HttpStatusCode.Forbidden, credential.StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, wrong.StatusCode);
        node.Dispose();
    }

    [Theory]
    [InlineData("zone", "__meta_gantry_label_zone")]
    [InlineData("gantry.io/rack-row", "__meta_gantry_label_gantry_io_rack_row")]
    [InlineData("A_b9", "__meta_gantry_label_A_b9")]
    public void LabelName_Key_SanitisedToPrometheusLabelName(string key, string expected) =>
        Assert.Equal(expected, PrometheusTargets.LabelName(key));

    [Fact]
    public void Write_KeysThatSanitiseAlike_FirstInKeyOrderKeptOnce()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        var labels = new Dictionary<string, string> { ["a-b"] = "dash", ["a.b"] = "dot" };

        PrometheusTargets.Write(buffer, [new NodeScrapeTarget("n1", "n1", NodeState.Ready, "http://h:1", labels, [])]);

        var text = System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan);
        using var document = JsonDocument.Parse(text);
        Assert.Equal("dash", document.RootElement[0].GetProperty("labels").GetProperty("__meta_gantry_label_a_b").GetString());
        Assert.Single(text.Split("__meta_gantry_label_a_b").Skip(1));
    }

    [Fact]
    public void Write_AgentUrlThatIsNoHttpUrl_LeftOut()
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();

        PrometheusTargets.Write(buffer, [
            new NodeScrapeTarget("n1", "n1", NodeState.Ready, "not a url", new Dictionary<string, string>(), []),
            new NodeScrapeTarget("n2", "n2", NodeState.Ready, "ftp://h:21", new Dictionary<string, string>(), []),
        ]);

        Assert.Equal("[]", System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
    }

    private static GpuInventory Gpu(int index, string model, bool simulated) =>
        new() { Index = index, Uuid = $"GPU-{index}-{model.GetHashCode(StringComparison.Ordinal)}", Model = model, MemoryBytes = 40L << 30, Simulated = simulated };

    private static Dictionary<string, string> Labels(JsonElement group) =>
        group.GetProperty("labels").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);

    private static async Task<string> RegisterAsync(ServerHarness server, string name, string? agentUrl, Dictionary<string, string> labels, params GpuInventory[] gpus)
    {
        var (id, http) = await server.RegisterAsync(name, gpus.Length, labels: labels, inventory: gpus, agentUrl: agentUrl);
        http.Dispose();
        return id;
    }
}
