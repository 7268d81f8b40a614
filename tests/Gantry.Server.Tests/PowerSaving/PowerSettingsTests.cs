using Gantry.Hosting.Settings;
using Gantry.Server.Configuration;

namespace Gantry.Server.Tests.PowerSaving;

/// <summary>The power-saving settings: parsed from flags, and every bad combination refused with the setting named.</summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class PowerSettingsTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-power-settings-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Program(string name, bool executable = true)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, "#!/bin/sh\nexit 0\n");
        File.SetUnixFileMode(path, executable ? UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute : UnixFileMode.UserRead | UnixFileMode.UserWrite);
        return path;
    }

    private Task<ServerOptions> Load(params (string Name, string Value)[] flags) =>
        ServerSettings.LoadAsync([.. flags.Select(f => new KeyValuePair<string, string>(f.Name, f.Value)), new("data-dir", _dir)], null, new Dictionary<string, string>());

    [Fact]
    public async Task Load_AllPowerSettings_Parsed()
    {
        var options = await Load(
            ("suspend-after", "30m"),
            ("suspend-command", Program("suspend")),
            ("resume-command", Program("resume")),
            ("resume-timeout", "5m"),
            ("keep-idle", "2"),
            ("power-command-timeout", "20s"),
            ("placement-prefer-efficient", "true"));
        var power = options.PowerSaving;
        Assert.Equal(TimeSpan.FromMinutes(30), power.SuspendAfter);
        Assert.Equal(Path.Combine(_dir, "suspend"), power.SuspendCommand);
        Assert.Equal(TimeSpan.FromMinutes(5), power.ResumeTimeout);
        Assert.Equal(2, power.KeepIdle);
        Assert.Equal(TimeSpan.FromSeconds(20), power.CommandTimeout);
        Assert.True(power.PreferEfficient);
    }

    [Fact]
    public async Task Load_Defaults_PowerSavingOff()
    {
        var power = (await Load()).PowerSaving;
        Assert.False(power.Enabled);
        Assert.Equal(TimeSpan.FromMinutes(10), power.ResumeTimeout);
        Assert.Equal(0, power.KeepIdle);
        Assert.False(power.PreferEfficient);
    }

    [Fact]
    public async Task Load_SuspendAfterWithoutCommands_NamesTheMissingCommand()
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(("suspend-after", "30m"), ("resume-command", Program("resume"))));
        Assert.Equal("suspend-command", ex.Setting);
        Assert.Contains("is needed with --suspend-after", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_CommandsWithoutSuspendAfter_NamesSuspendAfter()
    {
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load(("suspend-command", Program("suspend")), ("resume-command", Program("resume"))));
        Assert.Equal("suspend-after", ex.Setting);
    }

    [Theory]
    [InlineData("suspend-after", "soon", "expected a duration")]
    [InlineData("suspend-after", "0s", "must be between 1s and 30d")]
    [InlineData("resume-timeout", "10 parsecs", "expected a duration")]
    [InlineData("resume-timeout", "0s", "must be between 1s and 1d")]
    [InlineData("keep-idle", "-1", "keep-idle")]
    [InlineData("power-command-timeout", "0s", "must be between 1s and 1h")]
    public async Task Load_BadValue_NamesTheSetting(string name, string value, string expected)
    {
        var flags = new List<(string, string)> { ("suspend-command", Program("suspend")), ("resume-command", Program("resume")) };
        if (name != "suspend-after")
        {
            flags.Add(("suspend-after", "30m"));
        }

        flags.Add((name, value));
        var ex = await Assert.ThrowsAsync<SettingException>(() => Load([.. flags]));
        Assert.Equal(name, ex.Setting);
        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Load_CommandMissingOrNotExecutable_Refused()
    {
        var missing = await Assert.ThrowsAsync<SettingException>(() => Load(("suspend-after", "30m"), ("suspend-command", Path.Combine(_dir, "nope")), ("resume-command", Program("resume"))));
        Assert.Equal("suspend-command", missing.Setting);
        Assert.Contains("does not exist", missing.Message, StringComparison.Ordinal);

        var plain = await Assert.ThrowsAsync<SettingException>(() => Load(("suspend-after", "30m"), ("suspend-command", Program("suspend")), ("resume-command", Program("resume", executable: false))));
        Assert.Equal("resume-command", plain.Setting);
        Assert.Contains("is not executable", plain.Message, StringComparison.Ordinal);
    }
}
