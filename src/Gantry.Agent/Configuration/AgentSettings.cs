using System.Globalization;
using System.Net;
using System.Text.Json;
using Gantry.Core.Text;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Configuration;

/// <summary>
/// Builds <see cref="AgentOptions"/> from three layers, later ones winning: the JSON config file
/// (<c>--config</c>), <c>GANTRY_*</c> environment variables, then command-line flags. Every
/// setting has one name in three spellings: <c>--node-power-envelope-watts</c>,
/// <c>GANTRY_NODE_POWER_ENVELOPE_WATTS</c>, <c>"nodePowerEnvelopeWatts"</c>.
/// </summary>
public static class AgentSettings
{
    /// <summary>
    /// One setting: its flag name (without dashes) and how a raw value applies. A
    /// <paramref name="CommaList"/> setting takes one comma-separated value (the flag, the variable),
    /// which a config file may also give as a JSON array.
    /// </summary>
    private sealed record Setting(string Name, bool Repeatable, Action<AgentOptions, string> Apply, bool CommaList = false);

    private static readonly Setting[] All =
    [
        new("listen", false, static (o, v) => o.Listen = ParseEndpoint(v)),
        new("interval", false, static (o, v) => o.Interval = ParseDuration(v)),
        new("collector-timeout", false, static (o, v) => o.CollectorTimeout = ParseDuration(v)),
        new("nvml-library", false, static (o, v) => o.NvmlLibrary = Path.GetFullPath(NonEmpty(v))),
        new("no-nvml", false, static (o, v) => o.NoNvml = ParseBool(v)),
        new("simulate-gpus", false, static (o, v) => o.SimulateGpus = ParseInt(v)),
        new("app-metrics-url", true, static (o, v) => o.AppMetricsUrls = [.. o.AppMetricsUrls, ParseUrl(v)]),
        new("dcgm-compat", false, static (o, v) => o.DcgmCompat = ParseBool(v)),
        new("node-power-envelope-watts", false, static (o, v) => o.NodePowerEnvelopeWatts = ParseDouble(v)),
        new("procfs", false, static (o, v) => o.ProcPath = NonEmpty(v)),
        new("sysfs", false, static (o, v) => o.SysPath = NonEmpty(v)),
        new("log-level", false, static (o, v) => o.LogLevel = ParseLogLevel(v)),
        new("server", false, static (o, v) => o.Servers = ParseServers(v), CommaList: true),
        new("join-token", false, static (o, v) => o.JoinToken = NonEmpty(v, "a token")),
        new("join-token-file", false, static (o, v) => o.JoinTokenFile = Path.GetFullPath(NonEmpty(v))),
        new("state-dir", false, static (o, v) => o.StateDir = Path.GetFullPath(NonEmpty(v))),
        new("labels", false, static (o, v) => o.Labels = ParseLabels(v)),
        new("node-name", false, static (o, v) => o.NodeName = NonEmpty(v, "a name")),
        new("advertise-url", false, static (o, v) => o.AdvertiseUrl = ParseUrl(v, "http://10.0.0.5:9450")),
        new("gc-gen0-size", false, static (o, v) => o.GcGen0Size = Sizes.Parse(v)),
    ];

    /// <summary>The flag names this class understands (without the leading dashes).</summary>
    public static IEnumerable<string> Names => All.Select(s => s.Name);

    /// <summary>The environment variable for a setting: <c>GANTRY_</c> + upper snake case.</summary>
    public static string EnvironmentName(string name) => "GANTRY_" + name.Replace('-', '_').ToUpperInvariant();

    /// <summary>The JSON config key for a setting: camelCase.</summary>
    public static string JsonName(string name)
    {
        var parts = name.Split('-');
        return parts[0] + string.Concat(parts.Skip(1).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }

    /// <summary>
    /// Loads the options. <paramref name="flags"/> holds only the flags given on the command
    /// line; <paramref name="environment"/> is usually <see cref="Environment.GetEnvironmentVariables()"/>.
    /// Throws <see cref="SettingException"/> naming the setting and where its value came from.
    /// </summary>
    public static AgentOptions Load(IReadOnlyDictionary<string, IReadOnlyList<string>> flags, Func<string, string?> environment, string? configFile)
    {
        ArgumentNullException.ThrowIfNull(flags);
        ArgumentNullException.ThrowIfNull(environment);
        var options = new AgentOptions();
        var layers = new List<(string Source, Setting Setting, IReadOnlyList<string> Values)>();

        configFile ??= environment("GANTRY_CONFIG");
        if (!string.IsNullOrEmpty(configFile))
        {
            foreach (var (setting, values) in ReadConfigFile(configFile))
            {
                layers.Add(($"\"{JsonName(setting.Name)}\" in {configFile}", setting, values));
            }
        }

        foreach (var setting in All)
        {
            if (environment(EnvironmentName(setting.Name)) is { } raw)
            {
                var values = setting.Repeatable ? raw.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) : [raw];
                layers.Add((EnvironmentName(setting.Name), setting, values));
            }
        }

        foreach (var (name, values) in flags)
        {
            var setting = All.FirstOrDefault(s => s.Name == name) ?? throw new ArgumentException($"unknown setting {name}", nameof(flags));
            layers.Add(($"--{name}", setting, values));
        }

        // A repeatable setting is replaced, not merged, by a higher layer.
        var replaced = new HashSet<string>();
        foreach (var (source, setting, values) in layers.AsEnumerable().Reverse())
        {
            if (!replaced.Add(setting.Name))
            {
                continue;
            }

            if (setting.Repeatable)
            {
                options.AppMetricsUrls = [];
            }

            foreach (var value in values)
            {
                try
                {
                    setting.Apply(options, value);
                }
                catch (FormatException ex)
                {
                    throw new SettingException(setting.Name, $"invalid value '{value}' from {source}: {ex.Message}");
                }
            }
        }

        if (options.Validate() is { } problem)
        {
            var source = layers.LastOrDefault(l => l.Setting.Name == problem.Setting).Source;
            throw new SettingException(problem.Setting, source is null ? problem.Message : $"{problem.Message} (from {source})");
        }

        return options;
    }

    private static List<(Setting, IReadOnlyList<string>)> ReadConfigFile(string path)
    {
        JsonDocument document;
        try
        {
            document = JsonDocument.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new SettingException("config", $"cannot read {path}: {ex.Message}");
        }
        catch (JsonException ex)
        {
            throw new SettingException("config", $"{path} is not valid JSON: {ex.Message}");
        }

        using (document)
        {
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                throw new SettingException("config", $"{path} must hold a JSON object, e.g. {{\"interval\": \"5s\"}}");
            }

            var result = new List<(Setting, IReadOnlyList<string>)>();
            foreach (var property in document.RootElement.EnumerateObject())
            {
                var setting = All.FirstOrDefault(s => JsonName(s.Name) == property.Name || (s.Repeatable && JsonName(s.Name) + "s" == property.Name))
                    ?? throw new SettingException("config", $"{path}: unknown setting \"{property.Name}\"; known: {string.Join(", ", All.Select(s => JsonName(s.Name)))}");
                var values = new List<string>();
                if (property.Value.ValueKind == JsonValueKind.Array && setting.Repeatable)
                {
                    foreach (var item in property.Value.EnumerateArray())
                    {
                        values.Add(Raw(item));
                    }
                }
                else if (property.Value.ValueKind == JsonValueKind.Array && setting.CommaList)
                {
                    values.Add(string.Join(',', property.Value.EnumerateArray().Select(Raw)));
                }
                else
                {
                    values.Add(Raw(property.Value));
                }

                result.Add((setting, values));
            }

            return result;
        }
    }

    private static string Raw(JsonElement element) => element.ValueKind switch
    {
        JsonValueKind.String => element.GetString()!,
        JsonValueKind.True => "true",
        JsonValueKind.False => "false",
        _ => element.GetRawText(),
    };

    /// <summary>Parses <c>5s</c>, <c>500ms</c>, <c>1m</c>, <c>1h30m</c>, or a plain number of seconds (see <see cref="Durations"/>).</summary>
    public static TimeSpan ParseDuration(string text) =>
        Durations.TryParse(text, out var value)
            ? value
            : throw new FormatException("expected a duration such as 5s, 500ms, 1m or 1h (units: ms, s, m, h, d)");

    /// <summary>Formats a duration the way <see cref="ParseDuration"/> reads it.</summary>
    public static string FormatDuration(TimeSpan value) =>
        value.TotalSeconds >= 1 && value.Milliseconds == 0
            ? value.TotalSeconds.ToString(CultureInfo.InvariantCulture) + "s"
            : value.TotalMilliseconds.ToString(CultureInfo.InvariantCulture) + "ms";

    /// <summary>Parses <c>host:port</c>, <c>:port</c> (all interfaces) or <c>[v6]:port</c>.</summary>
    public static IPEndPoint ParseEndpoint(string text)
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

    private static bool ParseBool(string text) => text.Trim().ToUpperInvariant() switch
    {
        "TRUE" or "1" or "YES" or "ON" => true,
        "FALSE" or "0" or "NO" or "OFF" => false,
        _ => throw new FormatException("expected true or false"),
    };

    private static int ParseInt(string text) =>
        int.TryParse(text.Trim(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : throw new FormatException("expected a whole number");

    private static double ParseDouble(string text) =>
        double.TryParse(text.Trim(), NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d) ? d : throw new FormatException("expected a number");

    private static string NonEmpty(string text, string what = "a path") =>
        string.IsNullOrWhiteSpace(text) ? throw new FormatException("expected " + what) : text.Trim();

    private static Uri ParseUrl(string text) => ParseUrl(text, "http://127.0.0.1:8000/metrics");

    /// <summary>
    /// Reads <c>http://10.0.0.1:7070,http://10.0.0.2:7070</c>: one or more absolute http(s) URLs,
    /// in the order the agent tries them; a URL given twice counts once.
    /// </summary>
    internal static IReadOnlyList<Uri> ParseServers(string text)
    {
        const string Example = "http://10.0.0.1:7070 or http://10.0.0.1:7070,http://10.0.0.2:7070";
        var servers = new List<Uri>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (!Uri.TryCreate(item, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                throw new FormatException($"'{item}' is not an absolute http(s) URL; expected one or more such as {Example}");
            }

            if (!servers.Exists(s => s.AbsoluteUri == url.AbsoluteUri))
            {
                servers.Add(url);
            }
        }

        return servers.Count > 0 ? servers : throw new FormatException("expected one or more absolute http(s) URLs such as " + Example);
    }

    private static Uri ParseUrl(string text, string example) =>
        Uri.TryCreate(text.Trim(), UriKind.Absolute, out var uri) && uri.Scheme is "http" or "https"
            ? uri
            : throw new FormatException("expected an absolute http(s) URL such as " + example);

    /// <summary>Reads <c>k=v,k2=v2</c>, or in a config file a JSON object of strings.</summary>
    private static Dictionary<string, string> ParseLabels(string text)
    {
        if (!text.TrimStart().StartsWith('{'))
        {
            return LabelRules.Parse(text);
        }

        using var document = JsonDocument.Parse(text);
        var pairs = new List<string>();
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (property.Value.ValueKind != JsonValueKind.String || property.Name.Contains(',', StringComparison.Ordinal) || property.Value.GetString()!.Contains(',', StringComparison.Ordinal))
            {
                throw new FormatException($"label {property.Name} must be a string without commas");
            }

            pairs.Add(property.Name + "=" + property.Value.GetString());
        }

        return LabelRules.Parse(string.Join(',', pairs));
    }

    private static LogLevel ParseLogLevel(string text) => text.Trim().ToUpperInvariant() switch
    {
        "TRACE" => LogLevel.Trace,
        "DEBUG" => LogLevel.Debug,
        "INFO" or "INFORMATION" => LogLevel.Information,
        "WARN" or "WARNING" => LogLevel.Warning,
        "ERROR" => LogLevel.Error,
        _ => throw new FormatException("expected trace, debug, info, warning or error"),
    };
}

/// <summary>A setting with a bad value; the CLI prints it and exits with code 2.</summary>
public sealed class SettingException(string setting, string message) : Exception(message)
{
    /// <summary>The setting's flag name, e.g. <c>interval</c>.</summary>
    public string Setting { get; } = setting;
}
