using System.Text.Json;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;
using Microsoft.Extensions.Configuration.Json;

namespace Gantry.Hosting.Settings;

/// <summary>
/// Where a command's settings come from, in order of precedence: flags, then <c>GANTRY_*</c> environment
/// variables, then the JSON config file (<c>--config FILE</c> or <c>GANTRY_CONFIG</c>). One
/// <see cref="IConfigurationRoot"/> whose keys are the settings' names in camelCase (<c>downAfter</c>):
/// the file's keys as they are, <c>GANTRY_DOWN_AFTER</c> as <c>downAfter</c>, <c>--down-after</c> likewise.
/// A setting is read from the highest source that has it, so a list or a set of labels from the
/// environment replaces the file's instead of being merged into it item by item.
/// </summary>
public sealed class SettingSources
{
    private readonly IConfigurationRoot _root;
    private readonly string? _configFile;

    private SettingSources(IConfigurationRoot root, string? configFile)
    {
        _root = root;
        _configFile = configFile;
    }

    /// <summary>The merged settings, keyed by camelCase name.</summary>
    public IConfiguration Configuration => _root;

    /// <summary>
    /// Reads the sources. <paramref name="accepted"/> names every setting the command takes (a config
    /// file key outside them is an error); <paramref name="flags"/> holds the flags given on the command
    /// line as (name without dashes, value), a repeated flag once per value; <paramref name="configFile"/>
    /// is <c>--config</c>'s value. <paramref name="environment"/> stands in for the process environment
    /// (tests); null reads the real one. Throws <see cref="SettingException"/> for the setting
    /// <c>config</c> when the file cannot be read, is not JSON or has an unknown key.
    /// </summary>
    public static SettingSources Load(
        IReadOnlyCollection<(string Name, SettingKind Kind)> accepted,
        IEnumerable<KeyValuePair<string, string>> flags,
        string? configFile,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        ArgumentNullException.ThrowIfNull(accepted);
        ArgumentNullException.ThrowIfNull(flags);
        var builder = new ConfigurationBuilder();

        configFile ??= environment is null
            ? Environment.GetEnvironmentVariable("GANTRY_CONFIG")
            : environment.GetValueOrDefault("GANTRY_CONFIG");
        if (!string.IsNullOrWhiteSpace(configFile))
        {
            configFile = configFile.Trim();
            byte[] bytes;
            try
            {
                bytes = File.ReadAllBytes(configFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                throw new SettingException("config", $"cannot read {configFile}: {ex.Message}");
            }

            builder.Add(new JsonStreamConfigurationSource { Stream = new MemoryStream(bytes) });
        }
        else
        {
            configFile = null;
        }

        builder.Add(new EnvironmentSource(environment));

        // Flags keep their order; a list flag's values become items 0, 1, … as a JSON array's would.
        var fromFlags = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (name, value) in flags)
        {
            var kind = accepted.Where(a => a.Name == name).Select(a => (SettingKind?)a.Kind).FirstOrDefault()
                ?? throw new ArgumentException($"unknown setting {name}", nameof(flags));
            var key = SettingNames.Key(name);
            if (kind == SettingKind.List)
            {
                var index = counts.GetValueOrDefault(name);
                counts[name] = index + 1;
                key += ":" + index.ToString(System.Globalization.CultureInfo.InvariantCulture);
            }

            fromFlags[key] = value;
        }

        builder.AddInMemoryCollection(fromFlags);

        IConfigurationRoot root;
        try
        {
            root = builder.Build();
        }
        catch (JsonException ex)
        {
            throw new SettingException("config", $"{configFile} is not valid JSON: {ex.Message}");
        }
        catch (FormatException ex)
        {
            // The JSON provider's own complaints: not an object, a key given twice.
            throw new SettingException("config", ex.InnerException is JsonException json
                ? $"{configFile} is not valid JSON: {json.Message}"
                : $"{configFile} must hold a JSON object of settings, e.g. {{\"interval\": \"5s\"}}: {ex.Message}");
        }

        var sources = new SettingSources(root, configFile);
        sources.RejectUnknownKeys(accepted);
        return sources;
    }

    /// <summary>
    /// The value of setting <paramref name="name"/> from the highest source that has it, or null when no
    /// source does (the default applies).
    /// </summary>
    public SettingValue? Find(string name, SettingKind kind)
    {
        ArgumentNullException.ThrowIfNull(name);
        var key = SettingNames.Key(name);
        foreach (var provider in _root.Providers.Reverse())
        {
            // A config file may spell a list in the plural: "appMetricsUrls": [ … ].
            var keys = kind == SettingKind.List && provider is JsonStreamConfigurationProvider ? new[] { key, key + "s" } : [key];
            foreach (var candidate in keys)
            {
                provider.TryGet(candidate, out var scalar);
                var children = provider.GetChildKeys([], candidate).Distinct(StringComparer.OrdinalIgnoreCase).ToList();
                if (scalar is null && children.Count == 0)
                {
                    // Not there, or null in the file: as if not given.
                    continue;
                }

                var items = new List<KeyValuePair<string, string?>>(children.Count);
                foreach (var child in children)
                {
                    provider.TryGet(candidate + ":" + child, out var value);
                    items.Add(new(child, value));
                }

                // Array items come back as "0", "1", … "10": in numeric order, as written.
                items.Sort((a, b) => int.TryParse(a.Key, out var x) && int.TryParse(b.Key, out var y) ? x.CompareTo(y) : string.CompareOrdinal(a.Key, b.Key));
                return provider switch
                {
                    JsonStreamConfigurationProvider => new SettingValue(scalar, items, $"\"{candidate}\" in {_configFile}", SettingOrigin.ConfigFile),
                    EnvironmentProvider => new SettingValue(scalar, items, SettingNames.EnvironmentName(name), SettingOrigin.Environment),
                    _ => new SettingValue(scalar, items, "--" + name, SettingOrigin.Flag),
                };
            }
        }

        return null;
    }

    private void RejectUnknownKeys(IReadOnlyCollection<(string Name, SettingKind Kind)> accepted)
    {
        if (_root.Providers.OfType<JsonStreamConfigurationProvider>().FirstOrDefault() is not { } file)
        {
            return;
        }

        var known = accepted.Select(a => SettingNames.Key(a.Name)).ToList();
        var plurals = accepted.Where(a => a.Kind == SettingKind.List).Select(a => SettingNames.Key(a.Name) + "s");
        var allowed = new HashSet<string>(known.Concat(plurals), StringComparer.OrdinalIgnoreCase);
        var unknown = file.GetChildKeys([], null).Distinct(StringComparer.OrdinalIgnoreCase).Where(k => !allowed.Contains(k)).ToList();
        if (unknown.Count > 0)
        {
            var names = string.Join(", ", unknown.Select(k => $"\"{k}\""));
            throw new SettingException("config", $"{_configFile}: unknown setting{(unknown.Count > 1 ? "s" : "")} {names}; known: {string.Join(", ", known)}");
        }
    }

    /// <summary>
    /// <c>GANTRY_*</c> environment variables as settings: the provider strips the prefix (and reads
    /// <c>__</c> as a section separator); the rest, <c>DOWN_AFTER</c>, becomes the key <c>downAfter</c>.
    /// </summary>
    private sealed class EnvironmentSource(IReadOnlyDictionary<string, string>? variables) : IConfigurationSource
    {
        public IConfigurationProvider Build(IConfigurationBuilder builder) => new EnvironmentProvider(variables);
    }

    private sealed class EnvironmentProvider(IReadOnlyDictionary<string, string>? variables)
        : EnvironmentVariablesConfigurationProvider(SettingNames.EnvironmentPrefix)
    {
        public override void Load()
        {
            IEnumerable<KeyValuePair<string, string?>> raw;
            if (variables is null)
            {
                base.Load();
                raw = Data.ToList();
            }
            else
            {
                // The same rules as the provider applies to the process environment.
                raw = variables
                    .Where(v => v.Key.StartsWith(SettingNames.EnvironmentPrefix, StringComparison.OrdinalIgnoreCase))
                    .Select(v => new KeyValuePair<string, string?>(v.Key[SettingNames.EnvironmentPrefix.Length..].Replace("__", ":", StringComparison.Ordinal), v.Value));
            }

            var data = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
            foreach (var (key, value) in raw)
            {
                data[SettingNames.KeyOfEnvironment(key)] = value;
            }

            Data = data;
        }
    }
}

/// <summary>Which kind of source a setting's value came from.</summary>
public enum SettingOrigin
{
    /// <summary>A command-line flag.</summary>
    Flag,

    /// <summary>A <c>GANTRY_*</c> environment variable.</summary>
    Environment,

    /// <summary>The JSON config file.</summary>
    ConfigFile,
}

/// <summary>
/// A setting's value as its source holds it: <see cref="Text"/> for one value, <see cref="Items"/> for a
/// JSON array or object (or a repeated flag), and <see cref="Source"/> to say where it came from
/// (<c>GANTRY_DOWN_AFTER</c>, <c>"downAfter" in /etc/gantry/server.json</c>, <c>--down-after</c>).
/// </summary>
public sealed record SettingValue(string? Text, IReadOnlyList<KeyValuePair<string, string?>> Items, string Source, SettingOrigin Origin)
{
    /// <summary><c> (from GANTRY_DOWN_AFTER)</c>: appended to a problem when the value was not a flag, which the message names already.</summary>
    public string FromWhere => Origin == SettingOrigin.Flag ? "" : $" (from {Source})";
}
