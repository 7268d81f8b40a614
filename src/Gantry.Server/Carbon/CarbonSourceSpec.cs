using System.Globalization;

namespace Gantry.Server.Carbon;

/// <summary>The kinds of <c>--carbon-source</c>.</summary>
internal enum CarbonSourceKind
{
    /// <summary><c>static:GRAMS</c>: one figure everywhere, always.</summary>
    Static,

    /// <summary><c>file:PATH</c>: a trace replayed against the clock.</summary>
    File,

    /// <summary><c>carbon-aware-sdk:URL</c>: the Green Software Foundation's Carbon Aware SDK WebAPI.</summary>
    CarbonAwareSdk,

    /// <summary><c>watttime:URL</c>: WattTime's v3 API.</summary>
    WattTime,

    /// <summary><c>electricitymaps:URL</c>: Electricity Maps' v3 API.</summary>
    ElectricityMaps,
}

/// <summary>
/// A parsed <c>--carbon-source</c>: <c>PREFIX:ARGUMENT</c>, the prefix one of <c>static</c>, <c>file</c>,
/// <c>carbon-aware-sdk</c>, <c>watttime</c>, <c>electricitymaps</c>.
/// </summary>
internal sealed record CarbonSourceSpec(CarbonSourceKind Kind, string Text, double Grams = 0, string? Path = null, Uri? Url = null)
{
    /// <summary>The prefixes, as written.</summary>
    public const string Prefixes = "static:GRAMS, file:PATH, carbon-aware-sdk:URL, watttime:URL or electricitymaps:URL";

    /// <summary>Whether the source needs <c>--carbon-user</c>.</summary>
    public bool NeedsUser => Kind == CarbonSourceKind.WattTime;

    /// <summary>Whether the source needs the secret (a password or a token).</summary>
    public bool NeedsSecret => Kind is CarbonSourceKind.WattTime or CarbonSourceKind.ElectricityMaps;

    /// <summary>How people see the source (in <c>/api/v1/carbon</c>, warnings): the kind and its argument, never a secret.</summary>
    public string Display => Kind switch
    {
        CarbonSourceKind.Static => "static " + Grams.ToString("0.###", CultureInfo.InvariantCulture) + " g/kWh",
        CarbonSourceKind.File => "file " + Path,
        CarbonSourceKind.CarbonAwareSdk => "carbon-aware-sdk " + Url,
        CarbonSourceKind.WattTime => "watttime " + Url,
        _ => "electricitymaps " + Url,
    };

    /// <summary>Parses a source; <see cref="FormatException"/> says what is wrong and what is expected.</summary>
    public static CarbonSourceSpec Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var trimmed = text.Trim();
        var colon = trimmed.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new FormatException("expected " + Prefixes);
        }

        var prefix = trimmed[..colon].ToLowerInvariant();
        var argument = trimmed[(colon + 1)..].Trim();
        switch (prefix)
        {
            case "static":
                if (!double.TryParse(argument, NumberStyles.Float, CultureInfo.InvariantCulture, out var grams) || !double.IsFinite(grams) || grams < 0 || grams > 10_000)
                {
                    throw new FormatException($"static: expected grams of CO2e per kWh between 0 and 10000, such as static:350; got '{argument}'");
                }

                return new CarbonSourceSpec(CarbonSourceKind.Static, "static:" + argument, Grams: grams);
            case "file":
                if (argument.Length == 0)
                {
                    throw new FormatException("file: expected the path of a trace CSV, such as file:/var/lib/gantry/gb_ci.csv");
                }

                var path = System.IO.Path.GetFullPath(argument);
                return new CarbonSourceSpec(CarbonSourceKind.File, "file:" + path, Path: path);
            case "carbon-aware-sdk":
                return Remote(CarbonSourceKind.CarbonAwareSdk, prefix, argument, "http://127.0.0.1:8090");
            case "watttime":
                return Remote(CarbonSourceKind.WattTime, prefix, argument, "https://api.watttime.org");
            case "electricitymaps":
                return Remote(CarbonSourceKind.ElectricityMaps, prefix, argument, "https://api.electricitymap.org");
            default:
                throw new FormatException($"unknown source '{prefix}:'; expected {Prefixes}");
        }
    }

    private static CarbonSourceSpec Remote(CarbonSourceKind kind, string prefix, string argument, string example)
    {
        if (!Uri.TryCreate(argument, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https") || url.Host.Length == 0)
        {
            throw new FormatException($"{prefix}: expected an absolute http(s) URL such as {prefix}:{example}; got '{argument}'");
        }

        if (!string.IsNullOrEmpty(url.UserInfo) || url.Query.Length > 0 || url.Fragment.Length > 0)
        {
            throw new FormatException($"{prefix}: the URL must be the API's base, without credentials, query or fragment, such as {prefix}:{example}");
        }

        // A base ending in '/' so that relative paths (v3/forecast) append to it rather than replace its last segment.
        var text = url.AbsoluteUri.EndsWith('/') ? url.AbsoluteUri : url.AbsoluteUri + "/";
        return new CarbonSourceSpec(kind, prefix + ":" + text, Url: new Uri(text));
    }
}
