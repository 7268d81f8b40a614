using System.Data.Common;
using System.Globalization;

namespace Gantry.Server.Storage.Postgres;

/// <summary>
/// Turns the URL form of a PostgreSQL address, what <c>gantry server --store</c> takes
/// (<c>postgres://user[:password]@host[:port]/database[?param=value&amp;…]</c>, libpq's syntax), into
/// an Npgsql connection string (<c>Host=…;Port=…;Username=…;Database=…</c>).
/// </summary>
/// <remarks>
/// Pure string work, so that the server needs Npgsql only where it talks to the database. libpq's
/// query parameters become the Npgsql keywords that mean the same (<c>sslmode=verify-full</c> becomes
/// <c>SSL Mode=VerifyFull</c>); any other parameter is passed through as an Npgsql keyword
/// (<c>?Maximum Pool Size=50</c>), which Npgsql checks when the string is used.
/// </remarks>
internal static class PostgresUrl
{
    /// <summary>The port PostgreSQL listens on unless the URL names another.</summary>
    public const int DefaultPort = 5432;

    // libpq's parameter names (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-PARAMKEYWORDS)
    // and the Npgsql keyword of each; sslmode's values are translated on their own.
    private static readonly Dictionary<string, string> Keywords = new(StringComparer.Ordinal)
    {
        ["host"] = "Host",
        ["port"] = "Port",
        ["user"] = "Username",
        ["password"] = "Password",
        ["dbname"] = "Database",
        ["sslmode"] = "SSL Mode",
        ["sslrootcert"] = "Root Certificate",
        ["sslcert"] = "SSL Certificate",
        ["sslkey"] = "SSL Key",
        ["sslpassword"] = "SSL Password",
        ["application_name"] = "Application Name",
        ["connect_timeout"] = "Timeout",
        ["options"] = "Options",
        ["target_session_attrs"] = "Target Session Attributes",
        ["client_encoding"] = "Client Encoding",
        ["channel_binding"] = "Channel Binding",
        ["gssencmode"] = "GSS Encryption Mode",
        ["krbsrvname"] = "Kerberos Service Name",
        ["keepalives_idle"] = "Tcp Keepalive Time",
        ["keepalives_interval"] = "Tcp Keepalive Interval",
    };

    private static readonly Dictionary<string, string> SslModes = new(StringComparer.Ordinal)
    {
        ["disable"] = "Disable",
        ["allow"] = "Allow",
        ["prefer"] = "Prefer",
        ["require"] = "Require",
        ["verify-ca"] = "VerifyCA",
        ["verify-full"] = "VerifyFull",
    };

    /// <summary>
    /// The Npgsql connection string for <paramref name="url"/>: a <c>postgres://</c> or
    /// <c>postgresql://</c> URL (percent-encoded parts decoded, port 5432 unless given), or an Npgsql
    /// keyword string (<c>Host=…;…</c>), returned unchanged.
    /// </summary>
    /// <exception cref="FormatException">The text is neither, or the URL is malformed; the message says what is wrong.</exception>
    public static string ToConnectionString(string url)
    {
        ArgumentNullException.ThrowIfNull(url);
        var text = url.Trim();
        if (text.Length == 0)
        {
            throw new FormatException("The PostgreSQL address is empty: expected postgres://user@host[:port]/database.");
        }

        var schemeEnd = text.IndexOf("://", StringComparison.Ordinal);
        if (schemeEnd <= 0 || !IsScheme(text.AsSpan(0, schemeEnd)))
        {
            return KeywordString(url, text);
        }

        var scheme = text[..schemeEnd];
        if (!scheme.Equals("postgres", StringComparison.OrdinalIgnoreCase) && !scheme.Equals("postgresql", StringComparison.OrdinalIgnoreCase))
        {
            throw new FormatException($"The PostgreSQL address '{Redact(text)}' has the scheme '{scheme}': expected postgres:// or postgresql://.");
        }

        return FromUrl(text, schemeEnd + 3);
    }

    private static string FromUrl(string url, int start)
    {
        if (url.Contains('#', StringComparison.Ordinal))
        {
            throw new FormatException($"The PostgreSQL address '{Redact(url)}' has a '#': a URL has no fragment here; write a '#' in a password as %23.");
        }

        // The authority runs to the first '/' or '?'; the user part ends at its last '@', so an
        // unencoded '@' in a password still parses.
        var authorityEnd = url.IndexOfAny(['/', '?'], start);
        if (authorityEnd < 0)
        {
            authorityEnd = url.Length;
        }

        var authority = url[start..authorityEnd];
        var at = authority.LastIndexOf('@');
        var userInfo = at < 0 ? null : authority[..at];
        var hostPort = at < 0 ? authority : authority[(at + 1)..];

        var builder = new DbConnectionStringBuilder();
        if (userInfo is not null)
        {
            var colon = userInfo.IndexOf(':', StringComparison.Ordinal);
            var user = Decode(url, colon < 0 ? userInfo : userInfo[..colon], "user name");
            if (user.Length > 0)
            {
                builder["Username"] = user;
            }

            if (colon >= 0)
            {
                builder["Password"] = Decode(url, userInfo[(colon + 1)..], "password");
            }
        }

        if (hostPort.Length > 0)
        {
            var (host, port) = SplitHostPort(url, hostPort);
            builder["Host"] = host;
            builder["Port"] = port.ToString(CultureInfo.InvariantCulture);
        }

        var queryStart = url.IndexOf('?', authorityEnd);
        var pathEnd = queryStart < 0 ? url.Length : queryStart;
        if (authorityEnd < pathEnd)
        {
            // The path is "/database"; an empty one leaves Npgsql's default (the user's name).
            var database = Decode(url, url[(authorityEnd + 1)..pathEnd], "database name");
            if (database.Length > 0)
            {
                builder["Database"] = database;
            }
        }

        if (queryStart >= 0)
        {
            AddParameters(builder, url, url[(queryStart + 1)..]);
        }

        if (!builder.ContainsKey("Host"))
        {
            throw new FormatException($"The PostgreSQL address '{Redact(url)}' names no host: expected postgres://user@host[:port]/database.");
        }

        if (!builder.ContainsKey("Port"))
        {
            builder["Port"] = DefaultPort.ToString(CultureInfo.InvariantCulture);
        }

        return builder.ConnectionString;
    }

    private static (string Host, int Port) SplitHostPort(string url, string hostPort)
    {
        if (hostPort.Contains(',', StringComparison.Ordinal))
        {
            throw new FormatException($"The PostgreSQL address '{Redact(url)}' lists several hosts ('{hostPort}'): give one.");
        }

        string host;
        string? port;
        if (hostPort.StartsWith('['))
        {
            // An IPv6 literal: [::1]:5432.
            var close = hostPort.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                throw new FormatException($"The PostgreSQL address '{Redact(url)}' has an IPv6 host without its closing ']'.");
            }

            host = hostPort[1..close];
            var rest = hostPort[(close + 1)..];
            if (rest.Length > 0 && rest[0] != ':')
            {
                throw new FormatException($"The PostgreSQL address '{Redact(url)}' has '{rest}' after its IPv6 host: expected ':port'.");
            }

            port = rest.Length > 0 ? rest[1..] : null;
        }
        else
        {
            var colon = hostPort.LastIndexOf(':');
            host = colon < 0 ? hostPort : hostPort[..colon];
            port = colon < 0 ? null : hostPort[(colon + 1)..];
            host = Decode(url, host, "host");
        }

        if (host.Length == 0)
        {
            throw new FormatException($"The PostgreSQL address '{Redact(url)}' names no host before ':{port}'.");
        }

        return (host, port is null ? DefaultPort : ParsePort(url, port));
    }

    private static int ParsePort(string url, string port) =>
        int.TryParse(port, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= 65535
            ? value
            : throw new FormatException($"The PostgreSQL address '{Redact(url)}' has the port '{port}': expected a number from 1 to 65535.");

    private static void AddParameters(DbConnectionStringBuilder builder, string url, string query)
    {
        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var equals = pair.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new FormatException($"The PostgreSQL address '{Redact(url)}' has the parameter '{pair}': expected name=value.");
            }

            var name = Decode(url, pair[..equals], "parameter name");
            var value = Decode(url, pair[(equals + 1)..], $"value of '{name}'");
            if (name == "sslmode")
            {
                value = SslModes.TryGetValue(value, out var mode)
                    ? mode
                    : throw new FormatException($"The PostgreSQL address '{Redact(url)}' has sslmode={value}: expected disable, allow, prefer, require, verify-ca or verify-full.");
            }
            else if (name == "port")
            {
                value = ParsePort(url, value).ToString(CultureInfo.InvariantCulture);
            }

            try
            {
                builder[Keywords.GetValueOrDefault(name, name)] = value;
            }
            catch (ArgumentException ex)
            {
                throw new FormatException($"The PostgreSQL address '{Redact(url)}' has the parameter '{name}', which cannot be a connection string keyword.", ex);
            }
        }
    }

    private static string KeywordString(string original, string text)
    {
        if (!text.Contains('=', StringComparison.Ordinal))
        {
            throw new FormatException($"The PostgreSQL address '{text}' is neither a postgres://user@host[:port]/database URL nor a keyword string (Host=…;Database=…).");
        }

        try
        {
            _ = new DbConnectionStringBuilder { ConnectionString = text };
        }
        catch (ArgumentException ex)
        {
            throw new FormatException("The PostgreSQL address is not a valid keyword string (Host=…;Database=…): " + ex.Message, ex);
        }

        return original;
    }

    private static string Decode(string url, string part, string what)
    {
        for (var i = 0; i < part.Length; i++)
        {
            if (part[i] == '%' && (i + 2 >= part.Length || !char.IsAsciiHexDigit(part[i + 1]) || !char.IsAsciiHexDigit(part[i + 2])))
            {
                throw new FormatException($"The PostgreSQL address '{Redact(url)}' has a '%' in its {what} that is not followed by two hex digits: write a '%' as %25.");
            }
        }

        return Uri.UnescapeDataString(part);
    }

    private static bool IsScheme(ReadOnlySpan<char> scheme)
    {
        if (!char.IsAsciiLetter(scheme[0]))
        {
            return false;
        }

        foreach (var c in scheme)
        {
            if (!char.IsAsciiLetterOrDigit(c) && c is not ('+' or '-' or '.'))
            {
                return false;
            }
        }

        return true;
    }

    // Errors quote the address without its passwords: postgres://user:***@host/db?sslpassword=***.
    private static string Redact(string url)
    {
        var start = url.IndexOf("://", StringComparison.Ordinal) + 3;
        var authorityEnd = url.IndexOfAny(['/', '?'], start);
        if (authorityEnd < 0)
        {
            authorityEnd = url.Length;
        }

        var at = url.LastIndexOf('@', authorityEnd - 1, authorityEnd - start);
        var colon = at < 0 ? -1 : url.IndexOf(':', start, at - start);
        var redacted = colon < 0 ? url : string.Concat(url.AsSpan(0, colon + 1), "***", url.AsSpan(at));
        var query = redacted.IndexOf('?', StringComparison.Ordinal);
        if (query < 0)
        {
            return redacted;
        }

        var parameters = redacted[(query + 1)..].Split('&');
        for (var i = 0; i < parameters.Length; i++)
        {
            var equals = parameters[i].IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && parameters[i][..equals] is "password" or "sslpassword")
            {
                parameters[i] = parameters[i][..(equals + 1)] + "***";
            }
        }

        return string.Concat(redacted.AsSpan(0, query + 1), string.Join('&', parameters));
    }
}
