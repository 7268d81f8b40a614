namespace Gantry.Agent.Configuration;

/// <summary>
/// Node labels as <c>--labels</c> takes them: <c>key=value</c> pairs separated by commas. A key is
/// 1–63 characters of letters, digits, <c>.</c>, <c>_</c>, <c>-</c> and <c>/</c>, starting with a
/// letter or digit; a value is 0–63 characters of letters, digits, <c>.</c>, <c>_</c> and <c>-</c>
/// (the rules of Kubernetes labels, so selectors read the same everywhere).
/// </summary>
internal static class LabelRules
{
    public const int MaxLabels = 64;
    private const int MaxLength = 63;

    /// <summary>Parses <c>k=v,k2=v2</c>; throws <see cref="FormatException"/> naming the bad pair.</summary>
    public static Dictionary<string, string> Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var pair in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var eq = pair.IndexOf('=', StringComparison.Ordinal);
            if (eq <= 0)
            {
                throw new FormatException($"expected key=value pairs separated by commas (gpu=h100,zone=a), got '{pair}'");
            }

            var key = pair[..eq].Trim();
            var value = pair[(eq + 1)..].Trim();
            if (!labels.TryAdd(key, value))
            {
                throw new FormatException($"label '{key}' is given twice");
            }
        }

        return Check(labels) is { } problem ? throw new FormatException(problem) : labels;
    }

    /// <summary>The first problem with <paramref name="labels"/>, or null when they are all valid.</summary>
    public static string? Check(IReadOnlyDictionary<string, string> labels)
    {
        ArgumentNullException.ThrowIfNull(labels);
        if (labels.Count > MaxLabels)
        {
            return $"at most {MaxLabels} labels, got {labels.Count}";
        }

        foreach (var (key, value) in labels)
        {
            if (key.Length is 0 or > MaxLength || !char.IsAsciiLetterOrDigit(key[0]) || !key.All(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '/'))
            {
                return $"label key '{key}' must be 1 to {MaxLength} letters, digits, '.', '_', '-' or '/', starting with a letter or digit";
            }

            if (value.Length > MaxLength || !value.All(static c => char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-'))
            {
                return $"label {key}: value '{value}' must be at most {MaxLength} letters, digits, '.', '_' or '-'";
            }
        }

        return null;
    }
}
