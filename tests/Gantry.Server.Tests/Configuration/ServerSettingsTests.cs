using System.Net;
using Gantry.Core.Jobs;
using Gantry.Hosting.Settings;
using Gantry.Server.Configuration;
using Gantry.Server.Health;

namespace Gantry.Server.Tests.Configuration;

/// <summary><c>gantry server</c>'s settings: flags over <c>GANTRY_*</c> environment over the config file, each bad value named with its source.</summary>
public sealed class ServerSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-server-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static KeyValuePair<string, string>[] Flags(params (string Name, string Value)[] flags) =>
        [.. flags.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))];

    private static Dictionary<string, string> Env(params (string Name, string Value)[] vars) =>
        vars.ToDictionary(v => v.Name, v => v.Value);

    private static Task<ServerOptions> Load(KeyValuePair<string, string>[] flags, Dictionary<string, string> environment, string? configFile) =>
        ServerSettings.LoadAsync(flags, configFile, environment);

    private string Config(string json)
    {
        var path = Path.Combine(_dir, "server.json");
        File.WriteAllText(path, json);
        return path;
    }

    [Fact]
    public async Task Load_Nothing_GivesDefaults()
    {
        var options = await Load(Flags(), Env(), null);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, 7070), options.Listen);
        Assert.Equal(ServerOptions.DefaultDataDir(), options.DataDir);
        Assert.Null(options.Store);
        Assert.Null(options.JoinToken);
        Assert.Equal(TimeSpan.FromSeconds(20), options.DownAfter);
        Assert.Equal(500, options.SchedulerDepth);
        Assert.Equal(TimeSpan.FromDays(30), options.JobRetention);
        Assert.Equal(LogLimit.DefaultChars, options.MaxJobLogChars);
    }

    [Fact]
    public async Task Load_AllThreeLayers_FlagBeatsEnvironmentBeatsFile()
    {
        var file = Config("""{ "listen": ":7171", "insecureHttp": true, "downAfter": "30s", "schedulerDepth": 50, "jobRetention": "7d", "killGrace": "3s" }""");
        var options = await Load(
            Flags(("down-after", "40s")),
            Env(("GANTRY_DOWN_AFTER", "35s"), ("GANTRY_SCHEDULER_DEPTH", "60")),
            file);
        Assert.Equal(TimeSpan.FromSeconds(40), options.DownAfter);
        Assert.Equal(60, options.SchedulerDepth);
        Assert.Equal(TimeSpan.FromDays(7), options.JobRetention);
        Assert.Equal(TimeSpan.FromSeconds(3), options.KillGrace);
        Assert.Equal(new IPEndPoint(IPAddress.Any, 7171), options.Listen);
        Assert.True(options.InsecureHttp);
    }

    [Theory]
    [InlineData(":7070")]
    [InlineData("0.0.0.0:7070")]
    [InlineData("[::]:7070")]
    [InlineData("10.1.2.3:7070")]
    public async Task Load_PlainHttpBeyondLoopback_IsRefusedUnlessInsecureHttp(string listen)
    {
        var refused = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("listen", listen)), Env(), null));
        Assert.Equal("listen", refused.Setting);
        Assert.Contains("give --tls-cert and --tls-key, or --tls auto, or --insecure-http", refused.Message, StringComparison.Ordinal);

        var plain = await Load(Flags(("listen", listen), ("insecure-http", "true")), Env(), null);
        Assert.False(plain.UsesTls);
        var auto = await Load(Flags(("listen", listen), ("tls", "auto")), Env(), null);
        Assert.True(auto.UsesTls);
        Assert.Equal("https", auto.Scheme);
    }

    [Fact]
    public async Task Load_TlsFiles_EachProblemNamesItsFlag()
    {
        using var ca = Gantry.Testing.TestCa.Create();
        var one = ca.WriteServerPair(_dir, "one");
        var other = ca.WriteServerPair(_dir, "other");

        var options = await Load(Flags(("tls-cert", one.Certificate), ("tls-key", one.Key), ("listen", ":7070")), Env(), null);
        Assert.True(options.UsesTls);

        var mismatch = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("tls-cert", one.Certificate), ("tls-key", other.Key)), Env(), null));
        Assert.Equal("tls-key", mismatch.Setting);
        Assert.Contains("holds no private key for the certificate in " + one.Certificate, mismatch.Message, StringComparison.Ordinal);

        var missing = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("tls-cert", Path.Combine(_dir, "none.crt")), ("tls-key", one.Key)), Env(), null));
        Assert.Equal("tls-cert", missing.Setting);
        Assert.Contains("cannot read " + Path.Combine(_dir, "none.crt"), missing.Message, StringComparison.Ordinal);

        var notPem = Path.Combine(_dir, "not.crt");
        File.WriteAllText(notPem, "hello");
        var garbage = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("tls-cert", notPem), ("tls-key", one.Key)), Env(), null));
        Assert.Contains("holds no PEM certificate", garbage.Message, StringComparison.Ordinal);

        var alone = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("tls-cert", one.Certificate)), Env(), null));
        Assert.Equal("tls-key", alone.Setting);

        var both = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("tls-cert", one.Certificate), ("tls-key", one.Key), ("tls", "auto")), Env(), null));
        Assert.Equal("tls", both.Setting);
    }

    [Fact]
    public async Task Load_FairShareHalfLife_OffZeroDurationAndBadValue()
    {
        Assert.Equal(TimeSpan.FromDays(7), (await Load(Flags(), Env(), null)).FairShareHalfLife);
        Assert.Equal(TimeSpan.Zero, (await Load(Flags(("fair-share-half-life", "off")), Env(), null)).FairShareHalfLife);
        Assert.Equal(TimeSpan.Zero, (await Load(Flags(("fair-share-half-life", "0s")), Env(), null)).FairShareHalfLife);
        Assert.Equal(TimeSpan.FromDays(14), (await Load(Flags(), Env(("GANTRY_FAIR_SHARE_HALF_LIFE", "14d")), null)).FairShareHalfLife);

        var bad = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("fair-share-half-life", "weekly")), Env(), null));
        Assert.Equal("fair-share-half-life", bad.Setting);
    }

    [Fact]
    public async Task Load_EveryFlag_IsApplied()
    {
        var options = await Load(
            Flags(("listen", "127.0.0.1:0"), ("data-dir", _dir), ("store", "postgres://gantry@db/gantry"), ("join-token", "0123456789abcdef"),
                  ("heartbeat-interval", "2s"), ("down-after", "9s"), ("kill-grace", "1s"), ("reservation-after", "5m"), ("scheduler-depth", "7"),
                  ("job-retention", "off"), ("retention-raw", "1h"), ("retention-rollup", "2d"), ("max-job-log", "off"), ("log-level", "debug")),
            Env(),
            null);
        Assert.Equal(0, options.Listen.Port);
        Assert.Equal(_dir, options.DataDir);
        Assert.True(options.UsesPostgres);
        Assert.Equal("0123456789abcdef", options.JoinToken);
        Assert.Equal(TimeSpan.FromSeconds(2), options.HeartbeatInterval);
        Assert.Equal(TimeSpan.FromSeconds(9), options.DownAfter);
        Assert.Equal(TimeSpan.FromSeconds(1), options.KillGrace);
        Assert.Equal(TimeSpan.FromMinutes(5), options.ReservationAfter);
        Assert.Equal(7, options.SchedulerDepth);
        Assert.Null(options.JobRetention);
        Assert.Equal(TimeSpan.FromHours(1), options.RetentionRaw);
        Assert.Equal(TimeSpan.FromDays(2), options.RetentionRollup);
        Assert.Equal(ServerOptions.NoLogLimit, options.MaxJobLogChars);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Debug, options.LogLevel);
    }

    [Fact]
    public async Task Load_JoinTokenAndStoreFromEnvironment_AreUsed()
    {
        var options = await Load(Flags(), Env(("GANTRY_JOIN_TOKEN", "from-the-environment"), ("GANTRY_STORE", "postgresql://u@h:5433/d")), null);
        Assert.Equal("from-the-environment", options.JoinToken);
        Assert.Equal("postgresql://u@h:5433/d", options.Store);
    }

    [Fact]
    public async Task Load_ConfigFileFromEnvironment_IsRead()
    {
        var file = Config("""{ "maxJobLog": "1g", "logLevel": "warning" }""");
        var options = await Load(Flags(), Env(("GANTRY_CONFIG", file)), null);
        Assert.Equal(1L << 30, options.MaxJobLogChars);
        Assert.Equal(Microsoft.Extensions.Logging.LogLevel.Warning, options.LogLevel);
    }

    [Theory]
    [InlineData("heartbeat-interval", "1ms", "must be between 200ms and 5m")]
    [InlineData("down-after", "3s", "must be longer than two heartbeat intervals (10s), got 3s")]
    [InlineData("down-after", "soon", "expected a duration")]
    [InlineData("listen", "nowhere", "expected ADDRESS:PORT")]
    [InlineData("join-token", "short", "at least 16 characters")]
    [InlineData("store", "mysql://db/x", "must be a PostgreSQL URL")]
    [InlineData("scheduler-depth", "0", "between 1 and 100000")]
    [InlineData("scheduler-depth", "many", "whole number")]
    [InlineData("job-retention", "10s", "at least 1m (or off)")]
    [InlineData("job-retention", "never", "or off")]
    [InlineData("energy-write-interval", "0s", "must be between 1s and 1h")]
    [InlineData("energy-write-interval", "2h", "must be between 1s and 1h")]
    [InlineData("retention-rollup", "1h", "at least --retention-raw")]
    [InlineData("max-job-log", "1k", "must be at least 4 KiB")]
    [InlineData("max-job-log", "lots", "expected a size")]
    [InlineData("log-level", "loud", "trace, debug, info, warning or error")]
    [InlineData("max-auto-cordon", "150%", "must be between 0% and 100%, got 150%")]
    [InlineData("max-auto-cordon", "half", "expected a percentage (50%) or a fraction (0.5)")]
    [InlineData("gpu-clean-for", "8d", "must be between 0s and 7d")]
    [InlineData("xid-policy", "48=explode", "XID 48: 'explode' is not an action")]
    [InlineData("xid-policy", "0=ignore", "'0' is not an XID number")]
    [InlineData("xid-policy", "/no/such/policy.json", "cannot read '/no/such/policy.json'")]
    public async Task Load_BadValueFromEachSource_NamesTheSettingAndWhereItCameFrom(string name, string value, string expected)
    {
        var fromFlag = await Assert.ThrowsAsync<SettingException>(() => Load(Flags((name, value)), Env(), null));
        Assert.Equal(name, fromFlag.Setting);
        Assert.Contains(expected, fromFlag.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("(from", fromFlag.Message, StringComparison.Ordinal);

        var variable = SettingNames.EnvironmentName(name);
        var fromEnv = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env((variable, value)), null));
        Assert.Equal(name, fromEnv.Setting);
        Assert.Contains(expected, fromEnv.Message, StringComparison.Ordinal);
        Assert.Contains(variable, fromEnv.Message, StringComparison.Ordinal);

        var file = Config($$"""{ "{{SettingNames.Key(name)}}": "{{value}}" }""");
        var fromFile = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), file));
        Assert.Equal(name, fromFile.Setting);
        Assert.Contains(expected, fromFile.Message, StringComparison.Ordinal);
        Assert.Contains($"\"{SettingNames.Key(name)}\" in {file}", fromFile.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_HealthSettings_DefaultsAndEachSpelling()
    {
        var defaults = await Load(Flags(), Env(), null);
        Assert.Equal(0.5, defaults.MaxAutoCordon);
        Assert.Equal(TimeSpan.FromMinutes(10), defaults.GpuCleanFor);
        Assert.Empty(defaults.XidPolicy);

        var fromFlags = await Load(Flags(("max-auto-cordon", "0.25"), ("gpu-clean-for", "0s"), ("xid-policy", "31=ignore, 119=RESTART_BM,13=restart-app")), Env(), null);
        Assert.Equal(0.25, fromFlags.MaxAutoCordon);
        Assert.Equal(TimeSpan.Zero, fromFlags.GpuCleanFor);
        Assert.Equal(new Dictionary<long, XidAction> { [31] = XidAction.Ignore, [119] = XidAction.Reboot, [13] = XidAction.RestartApp }, fromFlags.XidPolicy);

        // A config file's section, and a JSON file named by the flag.
        var fromFile = await Load(Flags(), Env(("GANTRY_MAX_AUTO_CORDON", "30%")), Config("""{ "xidPolicy": { "48": "watch", "79": "RESET_GPU" } }"""));
        Assert.Equal(0.3, fromFile.MaxAutoCordon, 9);
        Assert.Equal(new Dictionary<long, XidAction> { [48] = XidAction.Watch, [79] = XidAction.ResetGpu }, fromFile.XidPolicy);
        var policy = Path.Combine(_dir, "xid-policy.json");
        File.WriteAllText(policy, """{ "94": "reset-gpu" }""");
        var fromPolicyFile = await Load(Flags(("xid-policy", policy)), Env(), null);
        Assert.Equal(XidAction.ResetGpu, Assert.Single(fromPolicyFile.XidPolicy).Value);
        Assert.Equal(XidAction.ResetGpu, new XidPolicy(fromPolicyFile.XidPolicy).ActionFor(94));
        Assert.Equal(XidAction.Reboot, new XidPolicy(fromPolicyFile.XidPolicy).ActionFor(79));
        Assert.Equal(XidAction.Watch, new XidPolicy(fromPolicyFile.XidPolicy).ActionFor(12345));
    }

    [Fact]
    public async Task Load_UnknownKeyInConfig_IsRejectedWithTheKnownKeys()
    {
        var file = Config("""{ "downAfter": "30s", "downafterr": "1m" }""");
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), file));
        Assert.Equal("config", ex.Setting);
        Assert.Contains("unknown setting \"downafterr\"", ex.Message, StringComparison.Ordinal);
        Assert.Contains("downAfter, killGrace", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_AgentSettingInServerConfig_IsUnknown()
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), Config("""{ "interval": "5s" }""")));
        Assert.Equal("config", ex.Setting);
    }

    [Fact]
    public async Task Load_UnrelatedGantryVariables_AreIgnored()
    {
        var options = await Load(Flags(), Env(("GANTRY_TOKEN", "cli-token"), ("GANTRY_SERVER", "http://x:1"), ("GANTRY_INTERVAL", "fast")), null);
        Assert.Null(options.JoinToken);
    }

    [Theory]
    [InlineData("{ listen: ", "not valid JSON")]
    [InlineData("[1, 2]", "must hold a JSON object")]
    [InlineData("""{ "schedulerDepth": [1, 2] }""", "expected a single value")]
    public async Task Load_MalformedConfig_IsRejected(string json, string expected)
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(), Env(), Config(json)));
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_CrossSettingProblem_SaysWhereTheNamedValueCameFrom()
    {
        // The rule names --down-after; its value came from the file, the heartbeat from a flag.
        var file = Config("""{ "downAfter": "15s" }""");
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(Flags(("heartbeat-interval", "10s")), Env(), file));
        Assert.Equal("--down-after: must be longer than two heartbeat intervals (20s), got 15s (from \"downAfter\" in " + file + ")", ex.Problems.Single().ToString());
    }
}
