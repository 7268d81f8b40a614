using System.Net;
using Gantry.Agent.Configuration;

namespace Gantry.Agent.Tests.Configuration;

public sealed class AgentSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Dictionary<string, IReadOnlyList<string>> Flags(params (string Name, string Value)[] flags) =>
        flags.GroupBy(f => f.Name).ToDictionary(g => g.Key, g => (IReadOnlyList<string>)g.Select(f => f.Value).ToList());

    private static Func<string, string?> Env(params (string Name, string Value)[] vars) =>
        name => vars.FirstOrDefault(v => v.Name == name).Value;

    private string Config(string json)
    {
        var path = Path.Combine(_dir, "agent.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public void Load_Nothing_GivesDefaults()
    {
        var options = AgentSettings.Load(Flags(), Env(), null);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 9450), options.Listen);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Interval);
        Assert.Equal(TimeSpan.FromSeconds(4), options.EffectiveCollectorTimeout);
        Assert.Equal(0, options.SimulateGpus);
        Assert.False(options.DcgmCompat);
        Assert.Empty(options.AppMetricsUrls);
    }

    [Fact]
    public void Load_AllThreeLayers_FlagBeatsEnvironmentBeatsFile()
    {
        var file = Config("""{ "interval": "10s", "simulateGpus": 2, "dcgmCompat": true, "listen": ":9999" }""");
        var options = AgentSettings.Load(
            Flags(("interval", "2s")),
            Env(("GANTRY_INTERVAL", "3s"), ("GANTRY_SIMULATE_GPUS", "4")),
            file);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Interval);
        Assert.Equal(4, options.SimulateGpus);
        Assert.True(options.DcgmCompat);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 9999), options.Listen);
    }

    [Fact]
    public void Load_ConfigFileFromEnvironment_IsRead()
    {
        var file = Config("""{ "nodePowerEnvelopeWatts": 1500 }""");
        var options = AgentSettings.Load(Flags(), Env(("GANTRY_CONFIG", file)), null);
        Assert.Equal(1500, options.NodePowerEnvelopeWatts);
    }

    [Fact]
    public void Load_RepeatableSetting_HigherLayerReplacesLower()
    {
        var file = Config("""{ "appMetricsUrls": ["http://127.0.0.1:1/metrics", "http://127.0.0.1:2/metrics"] }""");
        Assert.Equal(2, AgentSettings.Load(Flags(), Env(), file).AppMetricsUrls.Count);
        var fromEnv = AgentSettings.Load(Flags(), Env(("GANTRY_APP_METRICS_URL", "http://127.0.0.1:3/metrics")), file);
        Assert.Equal([new Uri("http://127.0.0.1:3/metrics")], fromEnv.AppMetricsUrls);
        var fromFlags = AgentSettings.Load(Flags(("app-metrics-url", "http://a:1/m"), ("app-metrics-url", "http://b:2/m")), Env(), file);
        Assert.Equal(2, fromFlags.AppMetricsUrls.Count);
    }

    [Theory]
    [InlineData("interval", "500ms", "at least 1s")]
    [InlineData("interval", "fast", "expected a duration")]
    [InlineData("simulate-gpus", "-1", "between 0 and 64")]
    [InlineData("simulate-gpus", "two", "whole number")]
    [InlineData("listen", "nowhere", "ADDRESS:PORT")]
    [InlineData("node-power-envelope-watts", "-5", "positive")]
    [InlineData("app-metrics-url", "ftp://x/metrics", "http")]
    [InlineData("nvml-library", "/nonexistent/libnvidia-ml.so.1", "file not found")]
    [InlineData("dcgm-compat", "maybe", "true or false")]
    [InlineData("collector-timeout", "1m", "between 10ms and the interval")]
    [InlineData("gc-gen0-size", "lots", "expected a size")]
    [InlineData("gc-gen0-size", "4 TB", "expected a size")]
    [InlineData("gc-gen0-size", "-4m", "expected a size")]
    [InlineData("gc-gen0-size", "100k", "between 256 KiB and 1 GiB")]
    [InlineData("gc-gen0-size", "2g", "between 256 KiB and 1 GiB")]
    public void Load_BadFlag_NamesTheSetting(string name, string value, string expected)
    {
        var ex = Assert.Throws<SettingException>(() => AgentSettings.Load(Flags((name, value)), Env(), null));
        Assert.Equal(name, ex.Setting);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_GcGen0Size_DefaultsToOneMiBAndOffMeansTheRuntimeDefault()
    {
        Assert.Equal(1L << 20, AgentSettings.Load(Flags(), Env(), null).EffectiveGcGen0Size);
        Assert.Equal(0, AgentSettings.Load(Flags(("gc-gen0-size", "off")), Env(), null).EffectiveGcGen0Size);
        Assert.Equal(8L << 20, AgentSettings.Load(Flags(), Env(("GANTRY_GC_GEN0_SIZE", "8MiB")), null).EffectiveGcGen0Size);
        Assert.Equal(512L << 10, AgentSettings.Load(Flags(), Env(), Config("""{ "gcGen0Size": "512k" }""")).EffectiveGcGen0Size);
    }

    [Fact]
    public void Load_BadEnvironmentValue_SaysWhereItCameFrom()
    {
        var ex = Assert.Throws<SettingException>(() => AgentSettings.Load(Flags(), Env(("GANTRY_INTERVAL", "0s")), null));
        Assert.Equal("interval", ex.Setting);
        Assert.Contains("GANTRY_INTERVAL", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_UnknownKeyInConfig_IsRejectedWithTheKnownKeys()
    {
        var file = Config("""{ "intreval": "5s" }""");
        var ex = Assert.Throws<SettingException>(() => AgentSettings.Load(Flags(), Env(), file));
        Assert.Equal("config", ex.Setting);
        Assert.Contains("intreval", ex.Message, StringComparison.Ordinal);
        Assert.Contains("interval", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MalformedConfig_IsRejected()
    {
        var file = Config("{ interval: ");
        var ex = Assert.Throws<SettingException>(() => AgentSettings.Load(Flags(), Env(), file));
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Load_MissingConfig_IsRejected()
    {
        var ex = Assert.Throws<SettingException>(() => AgentSettings.Load(Flags(), Env(), Path.Combine(_dir, "none.json")));
        Assert.Contains("cannot read", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5s", 5000)]
    [InlineData("1500ms", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("2.5", 2500)]
    public void ParseDuration_Forms_AreUnderstood(string text, double milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), AgentSettings.ParseDuration(text));

    [Theory]
    [InlineData("127.0.0.1:9450", "127.0.0.1:9450")]
    [InlineData(":9450", "0.0.0.0:9450")]
    [InlineData("[::1]:9450", "[::1]:9450")]
    [InlineData("localhost:8080", "127.0.0.1:8080")]
    [InlineData("127.0.0.1:0", "127.0.0.1:0")]
    public void ParseEndpoint_Forms_AreUnderstood(string text, string expected) =>
        Assert.Equal(expected, AgentSettings.ParseEndpoint(text).ToString());
}
