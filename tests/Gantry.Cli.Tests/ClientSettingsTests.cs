using Gantry.Cli.Configuration;

namespace Gantry.Cli.Tests;

public sealed class ClientSettingsTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gantry-cli-config-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string WriteConfig(string json, string name = "client.json")
    {
        var path = Path.Combine(_directory, name);
        File.WriteAllText(path, json);
        return path;
    }

    private static Func<string, string?> Env(params (string Name, string Value)[] variables)
    {
        var map = variables.ToDictionary(v => v.Name, v => v.Value);
        return name => map.GetValueOrDefault(name);
    }

    [Fact]
    public void Resolve_FlagEnvAndFile_FlagWins()
    {
        var path = WriteConfig("""{"server": "http://file:1", "token": "file-token"}""");
        var env = Env(("GANTRY_CLIENT_CONFIG", path), ("GANTRY_SERVER", "http://env:2"), ("GANTRY_TOKEN", "env-token"));

        var settings = ClientSettings.Resolve("http://flag:3", "flag-token", env);

        Assert.Equal([new Uri("http://flag:3/")], settings.Servers);
        Assert.Equal("flag-token", settings.Token);
        Assert.Equal("--token", settings.TokenSource);
    }

    [Fact]
    public void Resolve_EnvAndFile_EnvWins()
    {
        var path = WriteConfig("""{"server": "http://file:1", "token": "file-token"}""");
        var env = Env(("GANTRY_CLIENT_CONFIG", path), ("GANTRY_SERVER", "http://env:2"), ("GANTRY_TOKEN", "env-token"));

        var settings = ClientSettings.Resolve(null, null, env);

        Assert.Equal([new Uri("http://env:2/")], settings.Servers);
        Assert.Equal("env-token", settings.Token);
        Assert.Equal("GANTRY_TOKEN", settings.TokenSource);
    }

    [Fact]
    public void Resolve_OnlyFile_FileWins()
    {
        var path = WriteConfig("""{"server": "https://file.example:8443/gantry", "token": "file-token"}""");

        var settings = ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path)));

        Assert.Equal([new Uri("https://file.example:8443/gantry/")], settings.Servers);
        Assert.Equal("file-token", settings.Token);
        Assert.Equal(path, settings.TokenSource);
    }

    [Fact]
    public void Resolve_EachSettingOnItsOwn_MixesSources()
    {
        var path = WriteConfig("""{"server": "http://file:1", "token": "file-token"}""");

        var settings = ClientSettings.Resolve(null, "flag-token", Env(("GANTRY_CLIENT_CONFIG", path)));

        Assert.Equal([new Uri("http://file:1/")], settings.Servers);
        Assert.Equal("flag-token", settings.Token);
    }

    [Fact]
    public void Resolve_Nothing_DefaultServerAndNoToken()
    {
        var settings = ClientSettings.Resolve(null, null, Env(("XDG_CONFIG_HOME", _directory)));

        Assert.Equal([new Uri("http://127.0.0.1:7070/")], settings.Servers);
        Assert.Null(settings.Token);
        Assert.Equal(Path.Combine(_directory, "gantry", "client.json"), settings.ConfigPath);
    }

    [Fact]
    public void Resolve_XdgConfigHome_ReadsFileThere()
    {
        Directory.CreateDirectory(Path.Combine(_directory, "gantry"));
        WriteConfig("""{"token": "xdg-token"}""", Path.Combine("gantry", "client.json"));

        var settings = ClientSettings.Resolve(null, null, Env(("XDG_CONFIG_HOME", _directory)));

        Assert.Equal("xdg-token", settings.Token);
        Assert.Equal([new Uri("http://127.0.0.1:7070/")], settings.Servers);
    }

    [Fact]
    public void ResolvePath_HomeOnly_UsesDotConfig()
    {
        Assert.Equal(Path.Combine("/home/ada", ".config", "gantry", "client.json"), ClientConfig.ResolvePath(Env(("HOME", "/home/ada"))));
    }

    [Fact]
    public void Resolve_FlagAndEnvGiven_DoesNotReadTheFile()
    {
        // The named file is broken; with both settings given it is never opened.
        var path = WriteConfig("not json");

        var settings = ClientSettings.Resolve("http://flag:3", null, Env(("GANTRY_CLIENT_CONFIG", path), ("GANTRY_TOKEN", "t")));

        Assert.Equal("t", settings.Token);
    }

    [Fact]
    public void Resolve_BrokenFile_IsUsageErrorNamingTheFile()
    {
        var path = WriteConfig("""{"server": "http://x", "sever": "typo"}""");

        var error = Assert.Throws<UsageException>(() => ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path))));

        Assert.Equal(path, error.Setting);
        Assert.Contains("not a valid client config", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_NamedFileMissing_IsUsageError()
    {
        var path = Path.Combine(_directory, "missing.json");

        var error = Assert.Throws<UsageException>(() => ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path))));

        Assert.Equal("GANTRY_CLIENT_CONFIG", error.Setting);
    }

    [Fact]
    public void Resolve_SeveralServers_CommaListFromFlagOrEnvironmentArrayFromFile()
    {
        var path = WriteConfig("""{"server": ["http://cp1:7070", "cp2:7070", "http://cp1:7070/"], "token": "t"}""");

        Assert.Equal(
            [new Uri("http://cp1:7070/"), new Uri("http://cp2:7070/")],
            ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path))).Servers);
        Assert.Equal(
            [new Uri("http://a:1/"), new Uri("https://b/base/")],
            ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path), ("GANTRY_SERVER", "http://a:1, https://b/base"))).Servers);
        Assert.Equal(
            [new Uri("http://f:3/"), new Uri("http://g:4/")],
            ClientSettings.Resolve("f:3,,g:4", null, Env(("GANTRY_CLIENT_CONFIG", path))).Servers);
    }

    [Theory]
    [InlineData("http://a:1,ftp://b", "GANTRY_SERVER")]
    [InlineData(" , ", "GANTRY_SERVER")]
    public void ParseServers_AnEntryNotAnHttpUrl_IsUsageError(string text, string source)
    {
        var error = Assert.Throws<UsageException>(() => ClientSettings.ParseServers(text, source));

        Assert.Equal(source, error.Setting);
    }

    [Fact]
    public void Resolve_ServerInFileNeitherStringNorArray_IsUsageErrorNamingTheFile()
    {
        var path = WriteConfig("""{"server": 7070}""");

        var error = Assert.Throws<UsageException>(() => ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path))));

        Assert.Equal(path, error.Setting);
        Assert.Contains("a URL or an array of URLs", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1:7070", "http://127.0.0.1:7070/")]
    [InlineData("gantry.example", "http://gantry.example/")]
    [InlineData("https://gantry.example/base", "https://gantry.example/base/")]
    public void ParseServer_Variants_AreNormalised(string text, string expected)
    {
        Assert.Equal(new Uri(expected), ClientSettings.ParseServer(text, "--server"));
    }

    [Theory]
    [InlineData("ftp://x")]
    [InlineData("http://")]
    [InlineData("::::")]
    public void ParseServer_NotAnHttpUrl_IsUsageError(string text)
    {
        var error = Assert.Throws<UsageException>(() => ClientSettings.ParseServer(text, "GANTRY_SERVER"));

        Assert.Equal("GANTRY_SERVER", error.Setting);
    }

    [Fact]
    public async Task WriteAsync_NewFolder_WritesReadableOwnerOnlyFile()
    {
        var path = Path.Combine(_directory, "nested", "gantry", "client.json");

        await ClientConfig.WriteAsync(path, "http://127.0.0.1:7070", "secret", CancellationToken.None);
        await ClientConfig.WriteAsync(path, "http://127.0.0.1:7071", "secret2", CancellationToken.None);

        var settings = ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path)));
        Assert.Equal([new Uri("http://127.0.0.1:7071/")], settings.Servers);
        Assert.Equal("secret2", settings.Token);
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(path)!));
        if (!OperatingSystem.IsWindows())
        {
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(path));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute, File.GetUnixFileMode(Path.GetDirectoryName(path)!));
        }
    }

    [Fact]
    public async Task Command_BrokenConfigFile_ExitsWithUsageError()
    {
        var harness = new CliHarness();
        harness.Environment["GANTRY_CLIENT_CONFIG"] = WriteConfig("{");

        var result = await harness.RunAsync("nodes", "ls");

        Assert.Equal(2, result.ExitCode);
        Assert.Contains("not a valid client config", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_CaFile_FlagBeatsEnvBeatsFile_AndTheFilesPathIsRelativeToIt()
    {
        var path = WriteConfig("""{"server": "https://file:1", "token": "t", "caFile": "certs/ca.crt"}""");

        var fromFile = ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path)));
        Assert.Equal(Path.Combine(_directory, "certs", "ca.crt"), fromFile.CaFile);
        Assert.Equal(path, fromFile.CaFileSource);

        var fromEnv = ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path), ("GANTRY_CA_FILE", "/etc/gantry/ca.crt")));
        Assert.Equal("/etc/gantry/ca.crt", fromEnv.CaFile);
        Assert.Equal("GANTRY_CA_FILE", fromEnv.CaFileSource);

        var fromFlag = ClientSettings.Resolve(null, null, Env(("GANTRY_CLIENT_CONFIG", path), ("GANTRY_CA_FILE", "/etc/gantry/ca.crt")), "/tmp/flag-ca.crt");
        Assert.Equal("/tmp/flag-ca.crt", fromFlag.CaFile);
        Assert.Equal("--ca-file", fromFlag.CaFileSource);

        var none = ClientSettings.Resolve("https://cp:7070", "t", Env(("GANTRY_CLIENT_CONFIG", WriteConfig("{}", "empty.json"))));
        Assert.Null(none.CaFile);
    }
}
