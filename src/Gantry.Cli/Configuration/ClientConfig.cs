using System.Text.Json;
using System.Text.Json.Serialization;
using Gantry.Cli.Http;

namespace Gantry.Cli.Configuration;

/// <summary>
/// The client config file the API commands read when neither a flag nor an environment variable
/// names the server, the token or the CA file: <c>{"server": "https://cp:7070", "token": "…", "caFile": "ca.crt"}</c>; the server
/// may also be a list of a control plane's replicas, <c>"server": ["http://cp1:7070", "http://cp2:7070"]</c>.
/// It lives at <c>$GANTRY_CLIENT_CONFIG</c>, else <c>$XDG_CONFIG_HOME/gantry/client.json</c>, else
/// <c>~/.config/gantry/client.json</c>. <c>gantry dev</c> writes it with <see cref="WriteAsync"/>.
/// </summary>
public static class ClientConfig
{
    /// <summary>Environment variable naming the config file.</summary>
    public const string PathVariable = "GANTRY_CLIENT_CONFIG";

    /// <summary>Where the config file is for this process (the variables above, read now).</summary>
    public static string DefaultPath => ResolvePath(Environment.GetEnvironmentVariable);

    /// <summary>
    /// Writes the config file atomically (a temporary file renamed over it), creating its folder.
    /// On Unix the file is readable by its owner only (0600) and a folder it creates is 0700, since
    /// the token grants admin rights.
    /// </summary>
    /// <param name="path">Usually <see cref="DefaultPath"/>.</param>
    /// <param name="server">Base URL of the server, e.g. <c>http://127.0.0.1:7070</c>.</param>
    /// <param name="token">The API token (the admin token for <c>gantry dev</c>).</param>
    /// <param name="cancellationToken">Stops the write.</param>
    /// <param name="caFile">The CA file an https server is checked against (<c>"caFile"</c>); null for none.</param>
    public static async Task WriteAsync(string path, string server, string token, CancellationToken cancellationToken, string? caFile = null)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ArgumentException.ThrowIfNullOrEmpty(server);
        ArgumentException.ThrowIfNullOrEmpty(token);
        var full = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(full)!;
        if (!Directory.Exists(folder))
        {
            if (OperatingSystem.IsWindows())
            {
                Directory.CreateDirectory(folder);
            }
            else
            {
                Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            }
        }

        var temporary = Path.Combine(folder, $".{Path.GetFileName(full)}.{Environment.ProcessId}.tmp");
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, Options = FileOptions.Asynchronous };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        try
        {
            var stream = new FileStream(temporary, options);
            await using (stream.ConfigureAwait(false))
            {
                await JsonSerializer.SerializeAsync(stream, new ClientConfigFile { Server = server, Token = token, CaFile = caFile }, ClientJsonContext.Default.ClientConfigFile, cancellationToken).ConfigureAwait(false);
                await stream.WriteAsync("\n"u8.ToArray(), cancellationToken).ConfigureAwait(false);
            }

            File.Move(temporary, full, overwrite: true);
        }
        catch
        {
            File.Delete(temporary);
            throw;
        }
    }

    /// <summary>The config file's path for an environment.</summary>
    internal static string ResolvePath(Func<string, string?> getEnvironmentVariable)
    {
        if (getEnvironmentVariable(PathVariable) is { Length: > 0 } explicitPath)
        {
            return explicitPath;
        }

        var configHome = getEnvironmentVariable("XDG_CONFIG_HOME");
        if (string.IsNullOrEmpty(configHome))
        {
            var home = getEnvironmentVariable("HOME");
            if (string.IsNullOrEmpty(home))
            {
                home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
            }

            configHome = Path.Combine(home, ".config");
        }

        return Path.Combine(configHome, "gantry", "client.json");
    }

    /// <summary>
    /// Reads the config file; null when it does not exist at a default location. A file named by
    /// <c>GANTRY_CLIENT_CONFIG</c> must exist. A file that is not valid JSON of the right shape is a usage error.
    /// </summary>
    internal static ClientConfigFile? Read(Func<string, string?> getEnvironmentVariable)
    {
        var path = ResolvePath(getEnvironmentVariable);
        var named = !string.IsNullOrEmpty(getEnvironmentVariable(PathVariable));
        byte[] bytes;
        try
        {
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is FileNotFoundException or DirectoryNotFoundException)
        {
            return named ? throw new UsageException(PathVariable, $"{path} does not exist") : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException(path, "cannot read the client config: " + ex.Message);
        }

        try
        {
            return JsonSerializer.Deserialize(bytes, ClientJsonContext.Default.ClientConfigFile)
                ?? throw new UsageException(path, "expected a JSON object such as {\"server\": \"http://127.0.0.1:7070\", \"token\": \"…\"}");
        }
        catch (JsonException ex)
        {
            throw new UsageException(path, "not a valid client config (expected {\"server\": \"…\" or [\"…\", …], \"token\": \"…\"}): " + ex.Message);
        }
    }
}

/// <summary>The client config file's shape.</summary>
internal sealed record ClientConfigFile
{
    /// <summary>Base URL of the server; read from a string or an array of strings (kept comma-separated).</summary>
    [JsonConverter(typeof(ServerListConverter))]
    public string? Server { get; init; }

    /// <summary>API token.</summary>
    public string? Token { get; init; }

    /// <summary>A PEM file of the CAs https servers are checked against (<c>--ca-file</c>); relative to this file.</summary>
    public string? CaFile { get; init; }
}

/// <summary>
/// Reads <c>"server"</c> as written by people: one URL, or an array of them, kept as one
/// comma-separated string as <c>--server</c> and <c>GANTRY_SERVER</c> take it. Writes a string.
/// </summary>
internal sealed class ServerListConverter : JsonConverter<string>
{
    public override string? Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.String)
        {
            return reader.GetString();
        }

        if (reader.TokenType != JsonTokenType.StartArray)
        {
            throw new JsonException("\"server\" must be a URL or an array of URLs");
        }

        var servers = new List<string>();
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            servers.Add(reader.TokenType == JsonTokenType.String ? reader.GetString()! : throw new JsonException("\"server\" must be a URL or an array of URLs"));
        }

        return string.Join(',', servers);
    }

    public override void Write(Utf8JsonWriter writer, string value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(value);
    }
}
