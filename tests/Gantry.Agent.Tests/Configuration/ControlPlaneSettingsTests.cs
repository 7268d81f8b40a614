using Gantry.Agent.Configuration;
using Gantry.Hosting.Settings;

namespace Gantry.Agent.Tests.Configuration;

/// <summary>The settings that join the agent to a control plane.</summary>
public sealed class ControlPlaneSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-cp-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static KeyValuePair<string, string>[] Flags(params (string Name, string Value)[] flags) =>
        [.. flags.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))];

    private static Dictionary<string, string> Env(params (string Name, string Value)[] vars) =>
        vars.ToDictionary(v => v.Name, v => v.Value);

    private static Task<AgentOptions> Load(KeyValuePair<string, string>[] flags, Dictionary<string, string> environment, string? configFile) =>
        AgentSettings.LoadAsync(flags, configFile, environment);

    [Fact]
    public async Task Load_NoServer_RunsAloneWithoutJoinToken()
    {
        var options = await Load(Flags(), Env(), null);
        Assert.Empty(options.Servers);
        Assert.Empty(options.Labels);
        SettingsLoader.Check(options, AgentSettings.Validator);
    }

    [Fact]
    public async Task Load_AllControlPlaneFlags_AreApplied()
    {
        var options = await Load(
            Flags(("server", "http://10.0.0.1:7070"), ("join-token", "secret"), ("state-dir", _dir), ("labels", "gpu=h100, zone=eu-1,rack="),
                  ("node-name", "gpu-07"), ("advertise-url", "http://10.0.0.7:9450")),
            Env(),
            null);

        Assert.Equal([new Uri("http://10.0.0.1:7070")], options.Servers);
        Assert.Equal("secret", options.ResolveJoinToken());
        Assert.Equal(_dir, options.EffectiveStateDir);
        Assert.Equal(new Dictionary<string, string> { ["gpu"] = "h100", ["zone"] = "eu-1", ["rack"] = "" }, options.Labels);
        Assert.Equal("gpu-07", options.EffectiveNodeName);
        Assert.Equal(new Uri("http://10.0.0.7:9450"), options.AdvertiseUrl);
    }

    [Fact]
    public async Task Load_FromEnvironmentAndConfigFile_LabelsAsJsonObject()
    {
        var file = Path.Combine(_dir, "agent.json");
        File.WriteAllText(file, """{ "server": "https://cp.example:7070", "labels": { "gpu": "a100", "zone": "b" } }""");
        var options = await Load(Flags(), Env(("GANTRY_JOIN_TOKEN", "from-env"), ("GANTRY_NODE_NAME", "n1")), file);
        Assert.Equal("https", Assert.Single(options.Servers).Scheme);
        Assert.Equal("from-env", options.ResolveJoinToken());
        Assert.Equal("a100", options.Labels["gpu"]);
        Assert.Equal("n1", options.EffectiveNodeName);
    }

    [Fact]
    public async Task Load_SeveralServers_CommaListFromFlagOrEnvironmentArrayFromFile()
    {
        var fromFlag = await Load(Flags(("server", "http://10.0.0.1:7070, http://10.0.0.2:7070,,https://cp.example/gantry"), ("join-token", "t")), Env(), null);
        Assert.Equal([new Uri("http://10.0.0.1:7070"), new Uri("http://10.0.0.2:7070"), new Uri("https://cp.example/gantry")], fromFlag.Servers);

        var fromEnv = await Load(Flags(), Env(("GANTRY_SERVER", "http://a:7070,http://b:7070,http://a:7070/"), ("GANTRY_JOIN_TOKEN", "t")), null);
        Assert.Equal([new Uri("http://a:7070"), new Uri("http://b:7070")], fromEnv.Servers);

        var file = Path.Combine(_dir, "agent.json");
        File.WriteAllText(file, """{ "server": ["http://c:7070", "http://d:7070"], "joinToken": "t" }""");
        var fromFile = await Load(Flags(), Env(), file);
        Assert.Equal([new Uri("http://c:7070"), new Uri("http://d:7070")], fromFile.Servers);

        // A higher layer replaces the whole list.
        var replaced = await Load(Flags(("server", "http://e:7070")), Env(), file);
        Assert.Equal([new Uri("http://e:7070")], replaced.Servers);
    }

    [Fact]
    public async Task Load_JoinTokenFile_ReadsItsFirstLine()
    {
        var tokenFile = Path.Combine(_dir, "join.token");
        File.WriteAllText(tokenFile, "tok-123  \nsecond line\n");
        var options = await Load(Flags(("server", "http://127.0.0.1:7070"), ("join-token-file", tokenFile)), Env(), null);
        Assert.Equal("tok-123", options.ResolveJoinToken());
    }

    [Fact]
    public async Task Load_DefaultNodeNameAndStateDir_AreTheHostsAndAbsolute()
    {
        var options = await Load(Flags(), Env(), null);
        Assert.Equal(Environment.MachineName, options.EffectiveNodeName);
        Assert.True(Path.IsPathRooted(options.EffectiveStateDir));
        Assert.EndsWith(Path.Combine("gantry", "agent"), options.EffectiveStateDir, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultStateDir_NotRoot_UsesXdgStateHome()
    {
        var dir = AgentOptions.DefaultStateDir(name => name == "XDG_STATE_HOME" ? "/xdg/state" : null);
        Assert.Equal(Environment.UserName == "root" ? "/var/lib/gantry/agent" : "/xdg/state/gantry/agent", dir);
    }

    [Theory]
    [InlineData("join-token", "is required with --server", "server=http://127.0.0.1:7070")]
    [InlineData("join-token-file", "cannot read", "server=http://127.0.0.1:7070", "join-token-file=/no/such/token")]
    [InlineData("join-token-file", "cannot be combined", "server=http://127.0.0.1:7070", "join-token=a", "join-token-file=/no/such/token")]
    [InlineData("join-token", "only used with --server", "join-token=a")]
    [InlineData("server", "absolute http(s) URL", "server=ftp://cp:7070")]
    [InlineData("server", "absolute http(s) URL", "server=cp:7070/x y")]
    [InlineData("advertise-url", "absolute http(s) URL", "advertise-url=10.0.0.5:9450")]
    [InlineData("labels", "key=value", "labels=gpu")]
    [InlineData("labels", "label key '-x'", "labels=-x=1")]
    [InlineData("labels", "value 'a b'", "labels=k=a b")]
    [InlineData("labels", "given twice", "labels=a=1,a=2")]
    [InlineData("node-name", "without spaces", "node-name=a b")]
    public async Task Load_BadControlPlaneSetting_NamesTheSetting(string setting, string expected, params string[] flags)
    {
        var given = flags.Select(f => f.Split('=', 2)).Select(p => (p[0], p[1])).ToArray();
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(given), Env(), null));
        Assert.Equal(setting, ex.Setting);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_LabelsFromAHigherSource_ReplaceTheFilesWhole()
    {
        var file = Path.Combine(_dir, "agent.json");
        File.WriteAllText(file, """{ "labels": { "gpu": "a100", "zone": "b" } }""");
        var options = await Load(Flags(), Env(("GANTRY_LABELS", "rack=r1")), file);
        Assert.Equal(new Dictionary<string, string> { ["rack"] = "r1" }, options.Labels);
    }

    [Fact]
    public async Task Load_LabelWithACommaInConfigFile_NamesTheKeyAndFile()
    {
        var file = Path.Combine(_dir, "agent.json");
        File.WriteAllText(file, """{ "labels": { "zone": "a,b" } }""");
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), file));
        Assert.Equal("labels", ex.Setting);
        Assert.Contains("'zone'", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"\"labels\" in {file}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_RelativeStateDir_IsMadeAbsolute()
    {
        var options = await Load(Flags(("state-dir", "state")), Env(), null);
        Assert.Equal(Path.GetFullPath("state"), options.StateDir);
    }
}
