using Gantry.Core.Carbon;
using Gantry.Core.Text;
using Gantry.Hosting.Settings;
using Gantry.Server.Configuration;

namespace Gantry.Server.Carbon;

/// <summary>
/// The carbon feature's settings (<c>--carbon-*</c> in <see cref="ServerSettings"/>): the secret's
/// environment variable and the checks <see cref="ServerOptions.Validate"/> runs before the server starts.
/// </summary>
internal static class CarbonSettings
{
    /// <summary>The environment variable that may hold the WattTime password or the Electricity Maps token.</summary>
    public const string SecretVariable = "GANTRY_CARBON_SECRET";

    /// <summary>
    /// After the settings are bound: the secret from <see cref="SecretVariable"/> when
    /// <c>--carbon-secret-file</c> gave none. It is no setting of its own, so there is no flag to put it
    /// on a command line (where <c>ps</c> shows it) and no key in the config file.
    /// </summary>
    public static void Complete(ServerOptions options, SettingSources sources)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sources);
        if (options.CarbonSecret is null && sources.Find("carbon-secret", SettingKind.Value) is { Origin: SettingOrigin.Environment, Text: { } secret } && secret.Trim().Length > 0)
        {
            options.CarbonSecret = secret.Trim();
        }
    }

    /// <summary>A location: non-blank, without spaces or commas.</summary>
    public static string ParseLocation(string text)
    {
        var trimmed = SettingParsers.NonEmpty(text, "a location such as GB, DE or CAISO_NORTH");
        return trimmed.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == ',')
            ? throw new FormatException("expected a location without spaces or commas, such as GB, DE or CAISO_NORTH")
            : trimmed;
    }

    /// <summary>The problems with the carbon settings, as (setting, message).</summary>
    public static IEnumerable<(string Setting, string Message)> Problems(ServerOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.CarbonRefresh < TimeSpan.FromSeconds(1) || options.CarbonRefresh > TimeSpan.FromDays(1))
        {
            yield return ("carbon-refresh", $"must be between 1s and 1d, got {Durations.Format(options.CarbonRefresh)}");
        }
        else if (options.CarbonMaxAge < options.CarbonRefresh)
        {
            yield return ("carbon-max-age", $"must be at least --carbon-refresh ({Durations.Format(options.CarbonRefresh)}), got {Durations.Format(options.CarbonMaxAge)}");
        }

        if (options.CarbonTimeout < TimeSpan.FromMilliseconds(100) || options.CarbonTimeout > TimeSpan.FromMinutes(2))
        {
            yield return ("carbon-timeout", $"must be between 100ms and 2m, got {Durations.Format(options.CarbonTimeout)}");
        }

        if (options.CarbonHorizon < TimeSpan.FromHours(1) || options.CarbonHorizon > TimeSpan.FromHours(72))
        {
            yield return ("carbon-horizon", $"must be between 1h and 72h, got {Durations.Format(options.CarbonHorizon)}");
        }

        if (options.CarbonSource is not { } text)
        {
            yield break;
        }

        if (ParseProblem(text, out var spec) is { } parseProblem)
        {
            yield return ("carbon-source", parseProblem);
            yield break;
        }

        if (spec.NeedsUser && string.IsNullOrWhiteSpace(options.CarbonUser))
        {
            yield return ("carbon-user", $"is needed with --carbon-source {spec.Text}: WattTime logs in with a user name and password");
        }

        if (spec.NeedsSecret && string.IsNullOrWhiteSpace(options.CarbonSecret))
        {
            var what = spec.Kind == CarbonSourceKind.WattTime ? "the WattTime password" : "the Electricity Maps API token";
            yield return ("carbon-secret-file", $"is needed with --carbon-source {spec.Text}: put {what} in a file it names, or in the environment variable {SecretVariable}");
        }

        if (spec.Kind == CarbonSourceKind.File && TraceProblem(spec.Path!) is { } traceProblem)
        {
            yield return ("carbon-source", traceProblem);
        }
    }

    private static string? ParseProblem(string text, out CarbonSourceSpec spec)
    {
        try
        {
            spec = CarbonSourceSpec.Parse(text);
            return null;
        }
        catch (FormatException ex)
        {
            spec = null!;
            return ex.Message;
        }
    }

    // The trace must load at start, as a rules file must: a server that would count nothing is refused.
    private static string? TraceProblem(string path)
    {
        try
        {
            var trace = CarbonTraceCsv.ReadFile(path, "trace", DateTimeOffset.UnixEpoch);
            return trace.End - trace.Start < TimeSpan.FromDays(7)
                ? $"{path}: the trace covers {Durations.Format(trace.End!.Value - trace.Start!.Value)}; replaying it by whole weeks needs at least 7d"
                : null;
        }
        catch (FormatException ex)
        {
            return ex.Message;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"cannot read the trace {path}: {ex.Message}";
        }
    }
}
