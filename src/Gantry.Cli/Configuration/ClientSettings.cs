namespace Gantry.Cli.Configuration;

/// <summary>Where a client command sends its requests and with which token.</summary>
/// <param name="Servers">
/// Base URLs of the server: one, or the replicas of one control plane in the order they are tried
/// (see <see cref="Http.GantryApiClient"/>). Never empty; each ends with a slash.
/// </param>
/// <param name="Token">Bearer token; null when none was found anywhere.</param>
/// <param name="TokenSource">Where the token came from, for the 401 message ("--token", "GANTRY_TOKEN", a file path).</param>
/// <param name="ConfigPath">The client config file's path (whether or not it exists).</param>
/// <param name="CaFile">A PEM file of the CAs https servers are checked against instead of the system's store; null for the store.</param>
/// <param name="CaFileSource">Where <paramref name="CaFile"/> came from ("--ca-file", "GANTRY_CA_FILE", the config file's path).</param>
internal sealed record ClientSettings(IReadOnlyList<Uri> Servers, string? Token, string? TokenSource, string ConfigPath, string? CaFile = null, string? CaFileSource = null)
{
    /// <summary>The server a client talks to when nothing names one.</summary>
    public const string DefaultServer = "http://127.0.0.1:7070";

    /// <summary>Environment variable naming the server.</summary>
    public const string ServerVariable = "GANTRY_SERVER";

    /// <summary>Environment variable holding the token.</summary>
    public const string TokenVariable = "GANTRY_TOKEN";

    /// <summary>Environment variable naming the CA file.</summary>
    public const string CaFileVariable = "GANTRY_CA_FILE";

    /// <summary>
    /// Resolves each setting on its own: the flag, else the environment variable, else the client
    /// config file, else the default. The file is read only when a flag or variable is missing (the CA
    /// file only matters for an https server).
    /// </summary>
    public static ClientSettings Resolve(string? serverFlag, string? tokenFlag, Func<string, string?> getEnvironmentVariable, string? caFileFlag = null)
    {
        ArgumentNullException.ThrowIfNull(getEnvironmentVariable);
        string? server = null, serverSource = null, token = null, tokenSource = null, caFile = null, caFileSource = null;
        if (!string.IsNullOrEmpty(serverFlag))
        {
            (server, serverSource) = (serverFlag, "--server");
        }
        else if (getEnvironmentVariable(ServerVariable) is { Length: > 0 } serverVariable)
        {
            (server, serverSource) = (serverVariable, ServerVariable);
        }

        if (!string.IsNullOrEmpty(tokenFlag))
        {
            (token, tokenSource) = (tokenFlag, "--token");
        }
        else if (getEnvironmentVariable(TokenVariable) is { Length: > 0 } tokenVariable)
        {
            (token, tokenSource) = (tokenVariable, TokenVariable);
        }

        if (!string.IsNullOrEmpty(caFileFlag))
        {
            (caFile, caFileSource) = (Path.GetFullPath(caFileFlag), "--ca-file");
        }
        else if (getEnvironmentVariable(CaFileVariable) is { Length: > 0 } caFileVariable)
        {
            (caFile, caFileSource) = (Path.GetFullPath(caFileVariable), CaFileVariable);
        }

        var path = ClientConfig.ResolvePath(getEnvironmentVariable);
        // The CA file matters only for https servers: an http one given by flag or variable leaves the file unread.
        if (server is null || token is null || (caFile is null && server.Contains("https://", StringComparison.OrdinalIgnoreCase)))
        {
            var file = ClientConfig.Read(getEnvironmentVariable);
            if (server is null && !string.IsNullOrEmpty(file?.Server))
            {
                (server, serverSource) = (file.Server, path);
            }

            if (token is null && !string.IsNullOrEmpty(file?.Token))
            {
                (token, tokenSource) = (file.Token, path);
            }

            if (caFile is null && !string.IsNullOrEmpty(file?.CaFile))
            {
                // A relative path in the file is relative to the file.
                (caFile, caFileSource) = (Path.GetFullPath(file.CaFile, Path.GetDirectoryName(Path.GetFullPath(path))!), path);
            }
        }

        // A token pasted from a file often carries its line end.
        return new ClientSettings(ParseServers(server ?? DefaultServer, serverSource ?? "--server"), token?.Trim() is { Length: > 0 } trimmed ? trimmed : null, tokenSource, path, caFile, caFileSource);
    }

    /// <summary>
    /// One or more server URLs separated by commas (<c>http://cp1:7070,http://cp2:7070</c>), each read
    /// by <see cref="ParseServer"/>; a URL given twice counts once.
    /// </summary>
    internal static IReadOnlyList<Uri> ParseServers(string text, string source)
    {
        var servers = new List<Uri>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var server = ParseServer(item, source);
            if (!servers.Contains(server))
            {
                servers.Add(server);
            }
        }

        return servers.Count > 0
            ? servers
            : throw new UsageException(source, $"expected the server's URL such as {DefaultServer} (or several, separated by commas), got '{text}'");
    }

    /// <summary>An absolute http or https URL; a bare <c>host:port</c> gets <c>http://</c>.</summary>
    internal static Uri ParseServer(string text, string source)
    {
        var candidate = text.Trim();
        if (!candidate.Contains("://", StringComparison.Ordinal))
        {
            candidate = "http://" + candidate;
        }

        if (!Uri.TryCreate(candidate, UriKind.Absolute, out var uri)
            || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps)
            || string.IsNullOrEmpty(uri.Host))
        {
            throw new UsageException(source, $"expected the server's URL such as {DefaultServer}, got '{text}'");
        }

        // Relative API paths are resolved against the base, so it must end with a slash
        // (http://host/gantry/ + api/v1/jobs, not http://host/api/v1/jobs).
        return uri.AbsolutePath.EndsWith('/') ? uri : new Uri(uri.AbsoluteUri + "/");
    }
}
