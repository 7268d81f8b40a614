using System.Diagnostics.CodeAnalysis;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Gantry.Hosting.Settings;

/// <summary>
/// Fills a feature's options from <see cref="SettingSources"/> and validates them before anything starts:
/// the options pattern (<c>AddOptions</c>, <c>ValidateOnStart</c>, a source-generated
/// <see cref="IValidateOptions{TOptions}"/>) run on its own, so that a bad setting is refused before the
/// host opens a port or writes a file. Every problem names its setting and, when the value did not come
/// from a flag, where it came from.
/// </summary>
public static class SettingsLoader
{
    /// <summary>
    /// Loads one command's options from its <paramref name="flags"/> (only those given on the command line,
    /// as name and value), the <c>GANTRY_*</c> environment (<paramref name="environment"/> stands in for the
    /// process's in tests) and <paramref name="configFile"/> (or <c>GANTRY_CONFIG</c>), in that order of
    /// precedence, and validates them. Throws <see cref="SettingException"/> naming each bad setting and
    /// where its value came from.
    /// </summary>
    public static Task<TOptions> LoadAsync<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(
        IReadOnlyList<Setting<TOptions>> settings,
        IValidateOptions<TOptions> validator,
        IEnumerable<KeyValuePair<string, string>> flags,
        string? configFile,
        IReadOnlyDictionary<string, string>? environment,
        CancellationToken cancellationToken)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(settings);
        var sources = SettingSources.Load([.. settings.Select(s => (s.Name, s.Kind))], flags, configFile, environment);
        return LoadAsync(sources, settings, validator, cancellationToken: cancellationToken);
    }

    /// <summary>
    /// Loads <typeparamref name="TOptions"/>: <paramref name="defaults"/> (if any) runs on a new instance,
    /// then each of <paramref name="settings"/> found in <paramref name="sources"/> applies, then
    /// <paramref name="complete"/> (values the command decides itself), then <paramref name="validator"/>.
    /// <paramref name="nameOf"/> gives a setting's name in this command (<c>gantry dev</c> calls the agent's
    /// <c>listen</c> <c>agent-listen</c>). Throws <see cref="SettingException"/> with every problem.
    /// </summary>
    public static async Task<TOptions> LoadAsync<[DynamicallyAccessedMembers(DynamicallyAccessedMemberTypes.PublicParameterlessConstructor)] TOptions>(
        SettingSources sources,
        IReadOnlyList<Setting<TOptions>> settings,
        IValidateOptions<TOptions>? validator,
        Func<string, string>? nameOf = null,
        Action<TOptions>? defaults = null,
        Action<TOptions>? complete = null,
        CancellationToken cancellationToken = default)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(sources);
        ArgumentNullException.ThrowIfNull(settings);
        nameOf ??= static name => name;
        var services = new ServiceCollection();
        services.AddOptions<TOptions>()
            .Configure(options =>
            {
                defaults?.Invoke(options);
                Bind(options, sources, settings, nameOf);
            })
            .PostConfigure(options => complete?.Invoke(options))
            .ValidateOnStart();
        if (validator is not null)
        {
            services.AddSingleton(validator);
        }

        await using var provider = services.BuildServiceProvider();
        try
        {
            await provider.GetRequiredService<IAsyncStartupValidator>().ValidateAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OptionsValidationException ex)
        {
            throw new SettingException(Problems(ex.Failures, setting => settings.FirstOrDefault(s => s.Name == setting) is { } s ? sources.Find(nameOf(s.Name), s.Kind) : null, nameOf));
        }

        return provider.GetRequiredService<IOptions<TOptions>>().Value;
    }

    /// <summary>
    /// Validates options a command filled in itself (no sources to name); throws
    /// <see cref="SettingException"/> with every problem.
    /// </summary>
    public static void Check<TOptions>(TOptions options, IValidateOptions<TOptions> validator, Func<string, string>? nameOf = null)
        where TOptions : class
    {
        ArgumentNullException.ThrowIfNull(validator);
        if (validator.Validate(Options.DefaultName, options) is { Failed: true, Failures: { } failures })
        {
            throw new SettingException(Problems(failures, _ => null, nameOf ?? (static name => name)));
        }
    }

    private static void Bind<TOptions>(TOptions options, SettingSources sources, IReadOnlyList<Setting<TOptions>> settings, Func<string, string> nameOf)
        where TOptions : class
    {
        var problems = new List<SettingProblem>();
        foreach (var setting in settings)
        {
            var name = nameOf(setting.Name);
            if (sources.Find(name, setting.Kind) is not { } value)
            {
                continue;
            }

            var given = value.Text ?? "";
            try
            {
                switch (setting.Kind)
                {
                    case SettingKind.List:
                        // A repeated flag or a JSON array holds items; GANTRY_X=a,b one text; a file may give one text too.
                        var items = value.Items.Count > 0
                            ? value.Items.Select(i => i.Value ?? throw new FormatException("expected a list of values"))
                            : value.Origin == SettingOrigin.Environment
                                ? given.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
                                : [given];
                        foreach (var item in items)
                        {
                            given = item;
                            setting.Apply(options, item);
                        }

                        break;
                    case SettingKind.Pairs when value.Items.Count > 0:
                        // {"gpu": "h100", "zone": "a"} in a file (or GANTRY_LABELS__GPU=h100): the same as gpu=h100,zone=a.
                        var pairs = new List<string>();
                        foreach (var (key, item) in value.Items)
                        {
                            if (item is null || key.Contains(',', StringComparison.Ordinal) || item.Contains(',', StringComparison.Ordinal) || key.Contains('=', StringComparison.Ordinal))
                            {
                                given = key;
                                throw new FormatException($"'{key}' must map to a text without commas");
                            }

                            pairs.Add(key + "=" + item);
                        }

                        given = string.Join(',', pairs);
                        setting.Apply(options, given);
                        break;
                    default:
                        if (value.Text is null)
                        {
                            throw new FormatException("expected a single value, not a list or an object");
                        }

                        setting.Apply(options, value.Text);
                        break;
                }
            }
            catch (FormatException ex)
            {
                // "(got 'x' from GANTRY_X)"; what the message quotes already, or nothing, is not repeated.
                var got = given.Length == 0 || ex.Message.Contains($"'{given}'", StringComparison.Ordinal) ? "" : $"got '{given}'";
                var from = value.Origin == SettingOrigin.Flag ? "" : "from " + value.Source;
                var note = string.Join(' ', new[] { got, from }.Where(p => p.Length > 0));
                problems.Add(new SettingProblem(name, note.Length == 0 ? ex.Message : $"{ex.Message} ({note})"));
            }
        }

        if (problems.Count > 0)
        {
            throw new SettingException(problems);
        }
    }

    /// <summary>
    /// Validators report <c>setting: message</c>: the options' <c>IValidatableObject</c> names the setting
    /// as its member (<c>down-after</c>), not the property.
    /// </summary>
    private static List<SettingProblem> Problems(IEnumerable<string> failures, Func<string, SettingValue?> find, Func<string, string> nameOf)
    {
        var problems = new List<SettingProblem>();
        foreach (var failure in failures)
        {
            var colon = failure.IndexOf(": ", StringComparison.Ordinal);
            if (colon <= 0)
            {
                problems.Add(new SettingProblem("config", failure));
                continue;
            }

            var setting = failure[..colon];
            var message = failure[(colon + 2)..];
            problems.Add(new SettingProblem(nameOf(setting), message + (find(setting)?.FromWhere ?? "")));
        }

        return problems;
    }
}
