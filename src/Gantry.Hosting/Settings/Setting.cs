namespace Gantry.Hosting.Settings;

/// <summary>How a setting is written in each source.</summary>
public enum SettingKind
{
    /// <summary>One value: <c>--interval 5s</c>, <c>GANTRY_INTERVAL=5s</c>, <c>"interval": "5s"</c>.</summary>
    Value,

    /// <summary>On or off: <c>--no-nvml</c> (or <c>--no-nvml false</c>), <c>GANTRY_NO_NVML=true</c>, <c>"noNvml": true</c>.</summary>
    Switch,

    /// <summary>
    /// Repeatable: <c>--app-metrics-url A --app-metrics-url B</c>, <c>GANTRY_APP_METRICS_URL=A,B</c>,
    /// <c>"appMetricsUrls": ["A", "B"]</c>. A source replaces the whole list of the sources below it.
    /// </summary>
    List,

    /// <summary>
    /// <c>key=value</c> pairs: <c>--labels a=1,b=2</c>, <c>GANTRY_LABELS=a=1,b=2</c>, or in a config file
    /// a JSON object <c>{"a": "1"}</c>. A source replaces the whole set of the sources below it.
    /// </summary>
    Pairs,
}

/// <summary>
/// One setting of a feature's options: its name (the flag without dashes, e.g. <c>down-after</c>), how
/// <c>--help</c> describes it, and how a value applies. <see cref="Apply"/> throws
/// <see cref="FormatException"/> with what was expected (<c>expected a duration such as 5s…</c>); for a
/// <see cref="SettingKind.List"/> it is called once per item and appends, for
/// <see cref="SettingKind.Pairs"/> it gets <c>k=v,k2=v2</c>.
/// </summary>
/// <typeparam name="TOptions">The options class the setting fills.</typeparam>
public sealed record Setting<TOptions>(string Name, SettingKind Kind, string HelpName, string Description, Action<TOptions, string> Apply)
    where TOptions : class
{
    /// <summary>The setting's key in a config file and in <see cref="Microsoft.Extensions.Configuration.IConfiguration"/>: camelCase.</summary>
    public string Key => SettingNames.Key(Name);

    /// <summary>The setting's environment variable: <c>GANTRY_</c> + upper snake case.</summary>
    public string EnvironmentName => SettingNames.EnvironmentName(Name);

    /// <summary>What <c>--help</c> prints for it, with its environment variable.</summary>
    public string HelpText => $"{Description} [env: {EnvironmentName}]";
}

/// <summary>The three spellings of a setting's name.</summary>
public static class SettingNames
{
    /// <summary>The prefix of every setting's environment variable.</summary>
    public const string EnvironmentPrefix = "GANTRY_";

    /// <summary>The environment variable for a setting: <c>down-after</c> → <c>GANTRY_DOWN_AFTER</c>.</summary>
    public static string EnvironmentName(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return EnvironmentPrefix + name.Replace('-', '_').ToUpperInvariant();
    }

    /// <summary>The configuration key for a setting: <c>down-after</c> → <c>downAfter</c>.</summary>
    public static string Key(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        return Camel(name, '-');
    }

    /// <summary>
    /// The configuration key for an environment variable's name without the prefix:
    /// <c>DOWN_AFTER</c> → <c>downAfter</c>; <c>LABELS__GPU</c> (a section) → <c>labels:gpu</c>.
    /// </summary>
    internal static string KeyOfEnvironment(string key) =>
        string.Join(':', key.Split(':').Select(segment => Camel(segment.ToLowerInvariant(), '_')));

    private static string Camel(string name, char separator)
    {
        var parts = name.Split(separator, StringSplitOptions.RemoveEmptyEntries);
        return parts.Length == 0 ? name : parts[0] + string.Concat(parts.Skip(1).Select(p => char.ToUpperInvariant(p[0]) + p[1..]));
    }
}
