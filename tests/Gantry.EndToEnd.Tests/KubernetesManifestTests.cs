using System.Text.RegularExpressions;
using Gantry.Testing;
using YamlDotNet.RepresentationModel;

namespace Gantry.EndToEnd.Tests;

/// <summary>
/// deploy/kubernetes: no cluster runs here, so the manifests are checked for what a cluster would only find
/// at run time: every GANTRY_* setting they give is one the real binary's command knows, every $(VAR) is
/// defined before it is used, every mount has its volume, probes reach named ports and the routes that exist,
/// the listen port is the container's port, and the agent loads NVML from where the host's is mounted.
/// </summary>
public sealed partial class KubernetesManifestTests
{
    private static readonly string Folder = Path.Combine(Tools.RepositoryRoot, "deploy", "kubernetes");

    [Fact]
    public void Kustomization_NamesEveryManifest_AndTheImageItsWorkloadsUse()
    {
        var kustomization = Load("kustomization.yaml").Single();
        var resources = Sequence(kustomization, "resources").Select(r => r.ToString()).ToList();
        Assert.Equal(Directory.EnumerateFiles(Folder, "*.yaml").Select(Path.GetFileName).Where(f => f != "kustomization.yaml").Order(), resources.Order());
        var image = Scalar(Sequence(kustomization, "images").Single(), "name");
        Assert.All(Containers(), c => Assert.Equal(image, Scalar(c.Container, "image")));
        Assert.Equal("gantry", Scalar(kustomization, "namespace"));
    }

    [Fact]
    public void Workloads_AreTheServerStatefulSetAndTheAgentDaemonSet()
    {
        var kinds = Resources().Select(r => $"{Scalar(r, "kind")}/{Scalar(Mapping(r, "metadata"), "name")}").Order().ToList();
        Assert.Equal(["DaemonSet/gantry-agent", "Namespace/gantry", "Service/gantry-server", "Service/gantry-server-replicas", "StatefulSet/gantry-server"], kinds);
        var server = Containers().Single(c => c.Kind == "StatefulSet");
        Assert.Equal("server", Sequence(server.Container, "args")[0].ToString());
        var agent = Containers().Single(c => c.Kind == "DaemonSet");
        Assert.Equal("agent", Sequence(agent.Container, "args")[0].ToString());
    }

    [Fact]
    public async Task EverySetting_IsOneTheCommandKnows()
    {
        foreach (var (kind, _, container) in Containers())
        {
            var command = Sequence(container, "args")[0].ToString();
            var (code, help) = await GantryProcess.RunAsync([command, "--help"]);
            Assert.Equal(0, code);
            foreach (var name in Env(container).Select(e => e.Name).Where(n => n.StartsWith("GANTRY_", StringComparison.Ordinal)))
            {
                var flag = "--" + name["GANTRY_".Length..].ToLowerInvariant().Replace('_', '-');
                Assert.True(help.Contains(flag + " ", StringComparison.Ordinal) || help.Contains(flag + "\n", StringComparison.Ordinal), $"{kind}: {name} is no setting of 'gantry {command}' (no {flag} in its --help)");
            }
        }
    }

    [Fact]
    public void EveryReference_IsDefinedBeforeUse_AndEveryMountHasItsVolume()
    {
        foreach (var (kind, pod, container) in Containers())
        {
            var defined = new HashSet<string>();
            foreach (var (name, value) in Env(container))
            {
                foreach (Match reference in Reference().Matches(value ?? ""))
                {
                    Assert.True(defined.Contains(reference.Groups[1].Value), $"{kind}: {name} uses $({reference.Groups[1].Value}) before it is defined");
                }

                defined.Add(name);
            }

            var volumes = Sequence(pod, "volumes").Select(v => Scalar(v, "name")).ToHashSet();
            if (kind == "StatefulSet")
            {
                var template = Resources().Single(r => Scalar(r, "kind") == "StatefulSet");
                volumes.UnionWith(Sequence(Mapping(template, "spec"), "volumeClaimTemplates").Select(t => Scalar(Mapping(t, "metadata"), "name")));
            }

            Assert.All(Sequence(container, "volumeMounts"), m => Assert.Contains(Scalar(m, "name"), volumes));
        }
    }

    [Fact]
    public void Probes_ReachTheListenPortAndRoutesThatExist()
    {
        foreach (var (kind, _, container) in Containers())
        {
            var env = Env(container).ToDictionary(e => e.Name, e => e.Value);
            var ports = Sequence(container, "ports").ToDictionary(p => Scalar(p, "name"), p => Scalar(p, "containerPort"));
            var listenPort = env["GANTRY_LISTEN"]![(env["GANTRY_LISTEN"]!.LastIndexOf(':') + 1)..];
            Assert.Contains(listenPort, ports.Values);
            foreach (var probe in new[] { "readinessProbe", "livenessProbe" })
            {
                var get = Mapping(Mapping(container, probe), "httpGet");
                Assert.Equal(listenPort, ports[Scalar(get, "port")]);
                Assert.Contains(Scalar(get, "path"), new[] { "/healthz", "/readyz" });
            }
        }

        // A standby replica answers /readyz with 503, so the Service reaches the leader alone.
        var server = Containers().Single(c => c.Kind == "StatefulSet").Container;
        Assert.Equal("/readyz", Scalar(Mapping(Mapping(server, "readinessProbe"), "httpGet"), "path"));
        Assert.Equal("HTTPS", Scalar(Mapping(Mapping(server, "readinessProbe"), "httpGet"), "scheme"));
    }

    [Fact]
    public void Agent_LoadsNvmlFromTheHostsDriver_AndKeepsItsStateOnTheHost()
    {
        var (_, pod, agent) = Containers().Single(c => c.Kind == "DaemonSet");
        var env = Env(agent).ToDictionary(e => e.Name, e => e.Value);
        var mounts = Sequence(agent, "volumeMounts").ToDictionary(m => Scalar(m, "mountPath"), m => Scalar(m, "name"));
        var volumes = Sequence(pod, "volumes").ToDictionary(v => Scalar(v, "name"));

        var nvml = volumes[mounts[env["GANTRY_NVML_LIBRARY"]!]];
        Assert.EndsWith("/libnvidia-ml.so.1", Scalar(Mapping(nvml, "hostPath"), "path"), StringComparison.Ordinal);
        var state = volumes[mounts[env["GANTRY_STATE_DIR"]!]];
        Assert.Equal("DirectoryOrCreate", Scalar(Mapping(state, "hostPath"), "type"));
        Assert.Equal("true", Scalar(pod, "hostNetwork"));
        Assert.StartsWith("https://", env["GANTRY_SERVER"], StringComparison.Ordinal);
        Assert.True(mounts.ContainsKey(Path.GetDirectoryName(env["GANTRY_CA_FILE"])!), "the CA file is mounted");
        Assert.True(mounts.ContainsKey(Path.GetDirectoryName(env["GANTRY_JOIN_TOKEN_FILE"])!), "the join token is mounted");
    }

    [GeneratedRegex(@"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex Reference();

    private static List<YamlMappingNode> Load(string file)
    {
        var stream = new YamlStream();
        using var reader = new StreamReader(Path.Combine(Folder, file));
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    private static IEnumerable<YamlMappingNode> Resources() =>
        Sequence(Load("kustomization.yaml").Single(), "resources").SelectMany(r => Load(r.ToString()));

    private static IEnumerable<(string Kind, YamlMappingNode Pod, YamlMappingNode Container)> Containers() =>
        from r in Resources()
        where Scalar(r, "kind") is "StatefulSet" or "DaemonSet"
        let pod = Mapping(Mapping(Mapping(r, "spec"), "template"), "spec")
        from c in Sequence(pod, "containers")
        select (Scalar(r, "kind"), pod, (YamlMappingNode)c);

    private static IEnumerable<(string Name, string? Value)> Env(YamlMappingNode container) =>
        Sequence(container, "env").Select(e => (Scalar(e, "name"), ((YamlMappingNode)e).Children.TryGetValue("value", out var v) ? v.ToString() : null));

    private static YamlMappingNode Mapping(YamlNode node, string key) => (YamlMappingNode)((YamlMappingNode)node).Children[key];

    private static List<YamlNode> Sequence(YamlNode node, string key) =>
        ((YamlMappingNode)node).Children.TryGetValue(key, out var value) ? [.. ((YamlSequenceNode)value).Children] : [];

    private static string Scalar(YamlNode node, string key) => ((YamlMappingNode)node).Children[key].ToString();
}
