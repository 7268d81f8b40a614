using System.Globalization;
using System.Net;
using Gantry.Core.Text;
using Microsoft.Extensions.Logging;

namespace Gantry.Hosting.Settings;

/// <summary>
/// Settings' value formats, shared by the agent and the server. Each throws <see cref="FormatException"/>
/// saying what it expected; the loader adds the setting's name, the value and where it came from.
/// </summary>
public static class SettingParsers
{
    /// <summary>Parses <c>5s</c>, <c>500ms</c>, <c>1m</c>, <c>1h30m</c>, or a plain number of seconds (see <see cref="Durations"/>).</summary>
    public static TimeSpan Duration(string text) =>
        Durations.TryParse(text, out var value)
            ? value
            : throw new FormatException("expected a duration such as 5s, 500ms, 1m or 1h (units: ms, s, m, h, d)");

    /// <summary>A duration, or <c>off</c> for none (null).</summary>
    public static TimeSpan? DurationOrOff(string text) =>
        text.Trim().Equals("off", StringComparison.OrdinalIgnoreCase)
            ? null
            : Durations.TryParse(text, out var value)
                ? value
                : throw new FormatException("expected a duration such as 30d, 12h or 90m (units: ms, s, m, h, d), or off");

    /// <summary>Formats a duration the way <see cref="Duration"/> reads it, to the millisecond.</summary>
    public static string FormatDuration(TimeSpan value) =>
        value.TotalSeconds >= 1 && value.Milliseconds == 0
            ? value.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s"
            : value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";

    /// <summary>Parses <c>host:port</c>, <c>:port</c> (all interfaces), <c>localhost:port</c> or <c>[v6]:port</c>.</summary>
    public static IPEndPoint Endpoint(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var s = text.Trim();
        if (s.StartsWith(':'))
        {
            s = "0.0.0.0" + s;
        }

        if (s.Equals("localhost", StringComparison.OrdinalIgnoreCase) || s.StartsWith("localhost:", StringComparison.OrdinalIgnoreCase))
        {
            s = "127.0.0.1" + s["localhost".Length..];
        }

        if (!IPEndPoint.TryParse(s, out var endpoint) || endpoint.Port == 0 && !s.EndsWith(":0", StringComparison.Ordinal))
        {
            throw new FormatException("expected ADDRESS:PORT such as 127.0.0.1:9450, 0.0.0.0:9450 or :9450");
        }

        return endpoint;
    }

    /// <summary><c>true</c>, <c>1</c>, <c>yes</c>, <c>on</c> or their opposites, in any case.</summary>
    public static bool Bool(string text) => text.Trim().ToUpperInvariant() switch
    {
        "TRUE" or "1" or "YES" or "ON" => true,
        "FALSE" or "0" or "NO" or "OFF" => false,
        _ => throw new FormatException("expected true or false"),
    };

    /// <summary>A whole number.</summary>
    public static int WholeNumber(string text) =>
        int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException("expected a whole number");

    /// <summary>A finite number, with a dot for decimals.</summary>
    public static double Number(string text) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : throw new FormatException("expected a number");

    /// <summary>A non-blank value, trimmed; <paramref name="what"/> names it in the error (<c>a path</c>).</summary>
    public static string NonEmpty(string text, string what = "a path") =>
        string.IsNullOrWhiteSpace(text) ? throw new FormatException("expected " + what) : text.Trim();

    /// <summary>A non-blank path made absolute against the working directory.</summary>
    public static string FullPath(string text) => Path.GetFullPath(NonEmpty(text));

    /// <summary>An absolute http or https URL; <paramref name="example"/> shows one in the error.</summary>
    public static Uri HttpUrl(string text, string example) =>
        Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new FormatException("expected an absolute http(s) URL such as " + example);

    /// <summary><c>trace</c>, <c>debug</c>, <c>info</c>, <c>warning</c> or <c>error</c> (and the long and short forms).</summary>
    public static LogLevel LogLevel(string text) => text.Trim().ToUpperInvariant() switch
    {
        "TRACE" => Microsoft.Extensions.Logging.LogLevel.Trace,
        "DEBUG" => Microsoft.Extensions.Logging.LogLevel.Debug,
        "INFO" or "INFORMATION" => Microsoft.Extensions.Logging.LogLevel.Information,
        "WARN" or "WARNING" => Microsoft.Extensions.Logging.LogLevel.Warning,
        "ERROR" => Microsoft.Extensions.Logging.LogLevel.Error,
        _ => throw new FormatException("expected trace, debug, info, warning or error"),
    };
}
