using Gantry.Hosting.Settings;
using Gantry.Server.Configuration;

namespace Gantry.Server.Tests.Carbon;

/// <summary>--carbon-* settings: every bad one refused at start with a message that names it.</summary>
public sealed class CarbonSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-carbon-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static Task<ServerOptions> Load(params (string Name, string Value)[] flags) => Load([], flags);

    private static Task<ServerOptions> Load(Dictionary<string, string> environment, params (string Name, string Value)[] flags) =>
        ServerSettings.LoadAsync([.. flags.Select(f => new KeyValuePair<string, string>(f.Name, f.Value))], configFile: null, environment);

    private static async Task<SettingProblem[]> Problems(Dictionary<string, string> environment, params (string Name, string Value)[] flags) =>
        [.. (await Assert.ThrowsAsync<SettingException>(() => Load(environment, flags))).Problems];

    private string File(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        System.IO.File.WriteAllText(path, text);
        return path;
    }

    private string Trace(int days)
    {
        var start = new DateTimeOffset(2019, 12, 20, 0, 0, 0, TimeSpan.Zero);
        var rows = Enumerable.Range(0, days * 24).Select(h => $"{start.AddHours(h):yyyy-MM-dd HH:mm:ss},{100 + (h % 24)}");
        return File("trace.csv", "Time,Carbon Intensity\n" + string.Join("\n", rows) + "\n");
    }

    [Fact]
    public async Task Load_NoCarbonSource_LeavesItOffWithDefaults()
    {
        var options = await Load();

        Assert.Null(options.CarbonSource);
        Assert.Equal(TimeSpan.FromMinutes(10), options.CarbonRefresh);
        Assert.Equal(TimeSpan.FromHours(3), options.CarbonMaxAge);
        Assert.Equal(TimeSpan.FromSeconds(10), options.CarbonTimeout);
        Assert.Equal(TimeSpan.FromHours(24), options.CarbonHorizon);
    }

    [Theory]
    [InlineData("foo:1", "unknown source 'foo:'; expected static:GRAMS, file:PATH, carbon-aware-sdk:URL, watttime:URL or electricitymaps:URL")]
    [InlineData("350", "expected static:GRAMS, file:PATH")]
    [InlineData("static:lots", "static: expected grams of CO2e per kWh between 0 and 10000")]
    [InlineData("static:-3", "static: expected grams of CO2e per kWh")]
    [InlineData("file:", "file: expected the path of a trace CSV")]
    [InlineData("watttime:api.watttime.org", "watttime: expected an absolute http(s) URL such as watttime:https://api.watttime.org")]
    [InlineData("electricitymaps:ftp://x", "electricitymaps: expected an absolute http(s) URL")]
    [InlineData("carbon-aware-sdk:http://user:pw@sdk:8090", "the URL must be the API's base, without credentials, query or fragment")]
    public async Task Load_BadCarbonSource_NamesTheSettingAndWhatItExpects(string value, string expected)
    {
        var problem = Assert.Single(await Problems([], ("carbon-source", value)));

        Assert.Equal("carbon-source", problem.Setting);
        Assert.Contains(expected, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_WattTimeWithoutCredentials_AsksForTheUserAndThePassword()
    {
        var problems = await Problems([], ("carbon-source", "watttime:https://api.watttime.org"));

        Assert.Contains(problems, p => p.Setting == "carbon-user" && p.Message.Contains("WattTime logs in with a user name and password", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.Setting == "carbon-secret-file" && p.Message.Contains("the WattTime password", StringComparison.Ordinal) && p.Message.Contains("GANTRY_CARBON_SECRET", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Load_SecretFromTheEnvironment_IsTakenAndHasNoFlag()
    {
        var options = await Load(
            new Dictionary<string, string> { ["GANTRY_CARBON_SECRET"] = " pw-from-env \n", ["GANTRY_CARBON_USER"] = "gantry" },
            ("carbon-source", "watttime:https://api.watttime.org"));

        Assert.Equal("watttime:https://api.watttime.org/", options.CarbonSource);
        Assert.Equal("gantry", options.CarbonUser);
        Assert.Equal("pw-from-env", options.CarbonSecret);
        Assert.DoesNotContain(ServerSettings.All, s => s.Name == "carbon-secret");
    }

    [Fact]
    public async Task Load_SecretFile_IsReadAndBeatsTheEnvironment()
    {
        var file = File("token", "em-token-from-file\n");

        var options = await Load(
            new Dictionary<string, string> { ["GANTRY_CARBON_SECRET"] = "from-env" },
            ("carbon-source", "electricitymaps:https://api.electricitymap.org"), ("carbon-secret-file", file));

        Assert.Equal("em-token-from-file", options.CarbonSecret);
    }

    [Fact]
    public async Task Load_ElectricityMapsWithoutToken_AsksForIt()
    {
        var problem = Assert.Single(await Problems([], ("carbon-source", "electricitymaps:https://api.electricitymap.org")));

        Assert.Equal("carbon-secret-file", problem.Setting);
        Assert.Contains("the Electricity Maps API token", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_UnreadableSecretFile_SaysItCannotReadIt()
    {
        var problem = Assert.Single(await Problems([], ("carbon-secret-file", Path.Combine(_dir, "missing"))));

        Assert.Equal("carbon-secret-file", problem.Setting);
        Assert.Contains("cannot read", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_TraceFile_IsReadAtStart()
    {
        var trace = Trace(days: 8);

        var options = await Load(("carbon-source", "file:" + trace), ("carbon-location", "GB"));

        Assert.Equal("file:" + trace, options.CarbonSource);
        Assert.Equal("GB", options.CarbonLocation);
    }

    [Fact]
    public async Task Load_MissingTraceFile_SaysItCannotReadIt()
    {
        var missing = Path.Combine(_dir, "nope.csv");

        var problem = Assert.Single(await Problems([], ("carbon-source", "file:" + missing)));

        Assert.Equal("carbon-source", problem.Setting);
        Assert.Contains($"cannot read the trace {missing}", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_MalformedTraceFile_NamesTheLine()
    {
        var bad = File("bad.csv", "Time,Carbon Intensity\n2020-01-01 00:00:00,100\n2020-01-01 01:00:00,lots\n");

        var problem = Assert.Single(await Problems([], ("carbon-source", "file:" + bad)));

        Assert.Contains($"{bad}: line 3: 'lots' is not a carbon intensity", problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_TraceShorterThanAWeek_IsRefused()
    {
        var problem = Assert.Single(await Problems([], ("carbon-source", "file:" + Trace(days: 3))));

        Assert.Contains("replaying it by whole weeks needs at least 7d", problem.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("carbon-refresh", "0s", "must be between 1s and 1d")]
    [InlineData("carbon-max-age", "1m", "must be at least --carbon-refresh (10m)")]
    [InlineData("carbon-timeout", "5m", "must be between 100ms and 2m")]
    [InlineData("carbon-horizon", "100h", "must be between 1h and 72h")]
    [InlineData("carbon-location", "G B", "expected a location without spaces or commas")]
    [InlineData("carbon-refresh", "soon", "expected a duration")]
    public async Task Load_BadTiming_NamesTheSetting(string name, string value, string expected)
    {
        var problem = Assert.Single(await Problems([], (name, value)));

        Assert.Equal(name, problem.Setting);
        Assert.Contains(expected, problem.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Help_EveryCarbonSetting_IsExplained()
    {
        var carbon = ServerSettings.All.Where(s => s.Name.StartsWith("carbon-", StringComparison.Ordinal)).ToList();

        Assert.Equal(["carbon-source", "carbon-location", "carbon-refresh", "carbon-max-age", "carbon-timeout", "carbon-horizon", "carbon-user", "carbon-secret-file"], carbon.Select(s => s.Name));
        Assert.All(carbon, s => Assert.True(s.Description.Length > 30, s.Name));
        Assert.Contains("GANTRY_CARBON_SECRET", carbon.Single(s => s.Name == "carbon-secret-file").HelpText, StringComparison.Ordinal);
    }
}
