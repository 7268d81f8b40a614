using System.Globalization;
using System.Text.Json;
using Gantry.Core.Text;
using Microsoft.AspNetCore.Http;

namespace Gantry.Server.Api;

/// <summary>Query-string parameters, each parsed with a problem that names it when it is bad.</summary>
internal static class Query
{
    public static bool TryLimit(HttpRequest request, out int limit, out IResult? error)
    {
        limit = 100;
        error = null;
        if (request.Query["limit"].ToString() is not { Length: > 0 } text)
        {
            return true;
        }

        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out limit) || limit is < 1 or > 1000)
        {
            error = Problems.Invalid("limit", $"must be a whole number from 1 to 1000, got '{text}'");
            return false;
        }

        return true;
    }

    public static bool TryLong(HttpRequest request, string name, out long? value, out IResult? error)
    {
        value = null;
        error = null;
        if (request.Query[name].ToString() is not { Length: > 0 } text)
        {
            return true;
        }

        if (!long.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var parsed))
        {
            error = Problems.Invalid(name, $"must be a non-negative whole number, got '{text}'");
            return false;
        }

        value = parsed;
        return true;
    }

    /// <summary>An enum given by its camelCase name, e.g. <c>state=running</c>.</summary>
    public static bool TryEnum<T>(HttpRequest request, string name, out T? value, out IResult? error)
        where T : struct, Enum
    {
        value = null;
        error = null;
        if (request.Query[name].ToString() is not { Length: > 0 } text)
        {
            return true;
        }

        foreach (var candidate in Enum.GetValues<T>())
        {
            if (JsonNamingPolicy.CamelCase.ConvertName(candidate.ToString()) == text)
            {
                value = candidate;
                return true;
            }
        }

        var names = string.Join(", ", Enum.GetValues<T>().Select(v => JsonNamingPolicy.CamelCase.ConvertName(v.ToString())));
        error = Problems.Invalid(name, $"must be one of {names}, got '{text}'");
        return false;
    }

    /// <summary>A duration such as <c>30s</c>, <c>500ms</c>, <c>2m</c> or a number of seconds.</summary>
    public static bool TryWait(HttpRequest request, TimeSpan max, out TimeSpan wait, out IResult? error)
    {
        wait = TimeSpan.FromSeconds(30);
        error = null;
        if (request.Query["wait"].ToString() is not { Length: > 0 } text)
        {
            return true;
        }

        if (!Durations.TryParse(text, out wait) || wait > max)
        {
            error = Problems.Invalid("wait", $"must be a duration up to {max.TotalSeconds:0}s such as 30s or 500ms, got '{text}'");
            return false;
        }

        return true;
    }
}
