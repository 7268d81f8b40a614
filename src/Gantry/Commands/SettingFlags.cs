using System.CommandLine;
using Gantry.Hosting.Settings;

namespace Gantry.Commands;

/// <summary>
/// A command's settings as System.CommandLine options: they give <c>--help</c> its text and check the
/// command line's shape; the values go on to <see cref="SettingSources"/> as flags, the highest source.
/// </summary>
internal sealed class SettingFlags
{
    private readonly List<(string Name, SettingKind Kind, Option Option)> _options = [];
    private readonly HashSet<string> _paths = new(StringComparer.Ordinal);

    /// <summary>The settings whose value is a file or directory (help name FILE, PATH or DIR).</summary>
    public IReadOnlySet<string> PathSettings => _paths;

    /// <summary>The settings' names (in this command) and kinds, as <see cref="SettingSources.Load"/> takes them.</summary>
    public IReadOnlyCollection<(string Name, SettingKind Kind)> Accepted => [.. _options.Select(o => (o.Name, o.Kind))];

    /// <summary><c>--config FILE</c>: the JSON file, the lowest source.</summary>
    public static Option<string> ConfigOption(string example) => new("--config")
    {
        Description = $"JSON config file of settings; keys are the flags in camelCase, e.g. {example}. Flags win over GANTRY_* environment variables, which win over the file. [env: GANTRY_CONFIG]",
        HelpName = "FILE",
    };

    /// <summary>
    /// Adds an option for each of <paramref name="settings"/>: <paramref name="nameOf"/> gives its name in
    /// this command, <paramref name="describe"/> its description (default: the setting's own).
    /// </summary>
    public void AddAll<TOptions>(Command command, IEnumerable<Setting<TOptions>> settings, Func<string, string>? nameOf = null, Func<Setting<TOptions>, string>? describe = null)
        where TOptions : class
    {
        foreach (var setting in settings)
        {
            var name = nameOf?.Invoke(setting.Name) ?? setting.Name;
            Add(command, name, setting.Kind, setting.HelpName, describe?.Invoke(setting) ?? setting.Description);
        }
    }

    /// <summary>Adds one setting's option; its help ends with its environment variable.</summary>
    public void Add(Command command, string name, SettingKind kind, string helpName, string description)
    {
        ArgumentNullException.ThrowIfNull(command);
        var text = $"{description} [env: {SettingNames.EnvironmentName(name)}]";
        Option option = kind switch
        {
            SettingKind.Switch => new Option<bool>("--" + name) { Description = text },
            SettingKind.List => new Option<string[]>("--" + name) { Description = text, HelpName = helpName, AllowMultipleArgumentsPerToken = false },
            _ => new Option<string>("--" + name) { Description = text, HelpName = helpName },
        };
        command.Options.Add(option);
        _options.Add((name, kind, option));
        if (helpName is "FILE" or "PATH" or "DIR")
        {
            _paths.Add(name);
        }
    }

    /// <summary>The flags given on the command line, as (name, value); a repeated one once per value.</summary>
    public IEnumerable<KeyValuePair<string, string>> Given(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        foreach (var (name, kind, option) in _options)
        {
            if (parseResult.GetResult(option) is not { Implicit: false } result)
            {
                continue;
            }

            if (kind == SettingKind.Switch)
            {
                // --no-nvml alone means true; --no-nvml false is allowed too.
                yield return new(name, result.Tokens.Count > 0 ? result.Tokens[0].Value : "true");
                continue;
            }

            foreach (var token in result.Tokens)
            {
                yield return new(name, token.Value);
            }
        }
    }
}
