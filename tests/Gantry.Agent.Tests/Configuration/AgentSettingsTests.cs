using System.Net;
using Gantry.Agent.Configuration;
using Gantry.Hosting.Settings;

namespace Gantry.Agent.Tests.Configuration;

public sealed class AgentSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static KeyValuePair<string, string>[] Flags(params (string Name, string Value)[] flags) =>
        [.. flags.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))];

    private static Dictionary<string, string> Env(params (string Name, string Value)[] vars) =>
        vars.ToDictionary(v => v.Name, v => v.Value);

    private static Task<AgentOptions> Load(KeyValuePair<string, string>[] flags, Dictionary<string, string> environment, string? configFile) =>
        AgentSettings.LoadAsync(flags, configFile, environment);

    private string Config(string json)
    {
        var path = Path.Combine(_dir, "agent.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public async Task Load_Nothing_GivesDefaults()
    {
        var options = await Load(Flags(), Env(), null);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 9450), options.Listen);
        Assert.Equal(TimeSpan.FromSeconds(5), options.Interval);
        Assert.Equal(TimeSpan.FromSeconds(4), options.EffectiveCollectorTimeout);
        Assert.Equal(0, options.SimulateGpus);
        Assert.False(options.DcgmCompat);
        Assert.Empty(options.AppMetricsUrls);
    }

    [Fact]
    public async Task Load_AllThreeLayers_FlagBeatsEnvironmentBeatsFile()
    {
        var file = Config("""{ "interval": "10s", "simulateGpus": 2, "dcgmCompat": true, "listen": ":9999" }""");
        var options = await Load(
            Flags(("interval", "2s")),
            Env(("GANTRY_INTERVAL", "3s"), ("GANTRY_SIMULATE_GPUS", "4")),
            file);
        Assert.Equal(TimeSpan.FromSeconds(2), options.Interval);
        Assert.Equal(4, options.SimulateGpus);
        Assert.True(options.DcgmCompat);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 9999), options.Listen);
    }

    [Fact]
    public async Task Load_ConfigFileFromEnvironment_IsRead()
    {
        var file = Config("""{ "nodePowerEnvelopeWatts": 1500 }""");
        var options = await Load(Flags(), Env(("GANTRY_CONFIG", file)), null);
        Assert.Equal(1500, options.NodePowerEnvelopeWatts);
    }

    [Fact]
    public async Task Load_RepeatableSetting_HigherLayerReplacesLower()
    {
        var file = Config("""{ "appMetricsUrls": ["http://127.0.0.1:1/metrics", "http://127.0.0.1:2/metrics"] }""");
        Assert.Equal(2, (await Load(Flags(), Env(), file)).AppMetricsUrls.Count);
        var fromEnv = await Load(Flags(), Env(("GANTRY_APP_METRICS_URL", "http://127.0.0.1:3/metrics")), file);
        Assert.Equal([new Uri("http://127.0.0.1:3/metrics")], fromEnv.AppMetricsUrls);
        var fromFlags = await Load(Flags(("app-metrics-url", "http://a:1/m"), ("app-metrics-url", "http://b:2/m")), Env(), file);
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
    [InlineData("container-runtimes", "lxc", "not a container runtime")]
    [InlineData("container-runtimes", ",", "expected auto, none")]
    [InlineData("container-runtime-path", "podman", "RUNTIME=PATH")]
    [InlineData("container-runtime-path", "crun=/usr/bin/crun", "RUNTIME=PATH")]
    [InlineData("container-runtime-path", "podman=/nonexistent/podman", "no such file")]
    [InlineData("container-gpus", "all", "cdi or env-only")]
    public async Task Load_BadFlag_NamesTheSetting(string name, string value, string expected)
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags((name, value)), Env(), null));
        Assert.Equal(name, ex.Setting);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_ContainerRuntimes_AutoByDefaultNoneEmptyAListInOrder()
    {
        var defaults = await Load(Flags(), Env(), null);
        Assert.Null(defaults.ContainerRuntimes);
        Assert.Equal(Gantry.Agent.Jobs.ContainerGpuMode.Cdi, defaults.ContainerGpus);
        Assert.Empty((await Load(Flags(("container-runtimes", "none")), Env(), null)).ContainerRuntimes!);
        Assert.Null((await Load(Flags(("container-runtimes", "AUTO")), Env(), null)).ContainerRuntimes);
        Assert.Equal(
            [Gantry.Core.Protocol.ContainerRuntime.Docker, Gantry.Core.Protocol.ContainerRuntime.Podman],
            (await Load(Flags(), Env(("GANTRY_CONTAINER_RUNTIMES", "docker, podman,docker")), null)).ContainerRuntimes!);
        var paths = await Load(Flags(("container-runtime-path", "podman=/bin/sh"), ("container-gpus", "env-only")), Env(), null);
        Assert.Equal("/bin/sh", paths.ContainerRuntimePaths[Gantry.Core.Protocol.ContainerRuntime.Podman]);
        Assert.Equal(Gantry.Agent.Jobs.ContainerGpuMode.EnvOnly, paths.ContainerGpus);
    }

    [Fact]
    public async Task Load_KernelLog_DevKmsgByDefaultOffForNoneAndAPathFromEachSource()
    {
        Assert.Equal("/dev/kmsg", (await Load(Flags(), Env(), null)).KernelLog);
        Assert.Null((await Load(Flags(("kernel-log", "off")), Env(), null)).KernelLog);
        Assert.Null((await Load(Flags(), Env(("GANTRY_KERNEL_LOG", "OFF")), null)).KernelLog);
        Assert.Equal(Path.Combine(_dir, "kmsg"), (await Load(Flags(), Env(), Config($$"""{ "kernelLog": "{{_dir}}/kmsg" }"""))).KernelLog);
    }

    [Fact]
    public async Task Load_GcGen0Size_DefaultsToOneMiBAndOffMeansTheRuntimeDefault()
    {
        Assert.Equal(1L << 20, (await Load(Flags(), Env(), null)).EffectiveGcGen0Size);
        Assert.Equal(0, (await Load(Flags(("gc-gen0-size", "off")), Env(), null)).EffectiveGcGen0Size);
        Assert.Equal(8L << 20, (await Load(Flags(), Env(("GANTRY_GC_GEN0_SIZE", "8MiB")), null)).EffectiveGcGen0Size);
        Assert.Equal(512L << 10, (await Load(Flags(), Env(), Config("""{ "gcGen0Size": "512k" }"""))).EffectiveGcGen0Size);
    }

    [Fact]
    public async Task Load_BadEnvironmentValue_SaysWhereItCameFrom()
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(("GANTRY_INTERVAL", "0s")), null));
        Assert.Equal("interval", ex.Setting);
        Assert.Contains("GANTRY_INTERVAL", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_BadConfigFileValue_NamesTheKeyAndTheFile()
    {
        var file = Config("""{ "simulateGpus": "two" }""");
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), file));
        Assert.Equal("simulate-gpus", ex.Setting);
        Assert.Contains("whole number", ex.Message, StringComparison.Ordinal);
        Assert.Contains($"got 'two' from \"simulateGpus\" in {file}", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_BadValueOverriddenByAGoodFlag_IsNotReported()
    {
        var options = await Load(Flags(("interval", "2s")), Env(("GANTRY_INTERVAL", "fast")), Config("""{ "interval": "slow" }"""));
        Assert.Equal(TimeSpan.FromSeconds(2), options.Interval);
    }

    [Fact]
    public async Task Load_SeveralBadSettings_ReportsEveryOne()
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("simulate-gpus", "99")), Env(("GANTRY_NODE_POWER_ENVELOPE_WATTS", "-1")), null));
        Assert.Equal(["simulate-gpus", "node-power-envelope-watts"], ex.Problems.Select(p => p.Setting));
        Assert.Contains("(from GANTRY_NODE_POWER_ENVELOPE_WATTS)", ex.Problems[1].Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(from", ex.Problems[0].Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_SwitchesAndListsInEachSpelling_AreUnderstood()
    {
        var file = Config("""{ "noNvml": true, "appMetricsUrl": "http://127.0.0.1:1/metrics" }""");
        var options = await Load(Flags(), Env(("GANTRY_DCGM_COMPAT", "yes")), file);
        Assert.True(options.NoNvml);
        Assert.True(options.DcgmCompat);
        Assert.Equal([new Uri("http://127.0.0.1:1/metrics")], options.AppMetricsUrls);
        Assert.False((await Load(Flags(("no-nvml", "false")), Env(("GANTRY_NO_NVML", "true")), null)).NoNvml);
    }

    [Fact]
    public async Task Load_UnknownKeyInConfig_IsRejectedWithTheKnownKeys()
    {
        var file = Config("""{ "intreval": "5s" }""");
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), file));
        Assert.Equal("config", ex.Setting);
        Assert.Contains("intreval", ex.Message, StringComparison.Ordinal);
        Assert.Contains("interval", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MalformedConfig_IsRejected()
    {
        var file = Config("{ interval: ");
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), file));
        Assert.Contains("not valid JSON", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MissingConfig_IsRejected()
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), Path.Combine(_dir, "none.json")));
        Assert.Contains("cannot read", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("5s", 5000)]
    [InlineData("1500ms", 1500)]
    [InlineData("2m", 120_000)]
    [InlineData("1h30m", 5_400_000)]
    [InlineData("2.5", 2500)]
    public void ParseDuration_Forms_AreUnderstood(string text, double milliseconds) =>
        Assert.Equal(TimeSpan.FromMilliseconds(milliseconds), SettingParsers.Duration(text));

    [Theory]
    [InlineData("127.0.0.1:9450", "127.0.0.1:9450")]
    [InlineData(":9450", "0.0.0.0:9450")]
    [InlineData("[::1]:9450", "[::1]:9450")]
    [InlineData("localhost:8080", "127.0.0.1:8080")]
    [InlineData("127.0.0.1:0", "127.0.0.1:0")]
    public void ParseEndpoint_Forms_AreUnderstood(string text, string expected) =>
        Assert.Equal(expected, SettingParsers.Endpoint(text).ToString());

    [Fact]
    public async Task Load_CaSettings_AreReadAndCheckedAgainstTheServer()
    {
        using var ca = Gantry.Testing.TestCa.Create();
        var caFile = ca.WriteCertificate(Path.Combine(_dir, "ca.crt"));
        var options = await Load(
            Flags(("server", "https://cp:7070"), ("join-token", "0123456789abcdef"), ("ca-file", caFile), ("ca-cert-hash", ca.Pin.ToUpperInvariant().Replace("SHA256:", "sha256:", StringComparison.Ordinal))),
            Env(),
            null);
        Assert.Equal(caFile, options.CaFile);
        Assert.Equal(ca.Pin, options.CaCertHash);

        var badPin = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("server", "https://cp:7070"), ("join-token", "0123456789abcdef"), ("ca-cert-hash", "abc")), Env(), null));
        Assert.Equal("ca-cert-hash", badPin.Setting);
        Assert.Contains("expected sha256: and 64 hex digits", badPin.Message, StringComparison.Ordinal);

        var plain = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("server", "http://cp:7070"), ("join-token", "0123456789abcdef"), ("ca-cert-hash", ca.Pin)), Env(), null));
        Assert.Equal("ca-cert-hash", plain.Setting);
        Assert.Contains("https:// server", plain.Message, StringComparison.Ordinal);

        var alone = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("ca-file", caFile)), Env(), null));
        Assert.Equal("ca-file", alone.Setting);

        var missing = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("server", "https://cp:7070"), ("join-token", "0123456789abcdef"), ("ca-file", Path.Combine(_dir, "none.crt"))), Env(), null));
        Assert.Equal("ca-file", missing.Setting);
        Assert.Contains("cannot read " + Path.Combine(_dir, "none.crt"), missing.Message, StringComparison.Ordinal);
    }
}
