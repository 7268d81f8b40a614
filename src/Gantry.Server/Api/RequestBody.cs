using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Gantry.Server.Api;

/// <summary>Reads a JSON request body strictly, turning every way it can be wrong into a problem that names the field.</summary>
internal static class RequestBody
{
    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, long limit, CancellationToken cancellationToken)
        where T : class
    {
        if (request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, Problems.UnsupportedMediaType());
        }

        if (request.ContentLength > limit)
        {
            return (null, Problems.TooLarge(limit));
        }

        try
        {
            var value = await JsonSerializer.DeserializeAsync(request.Body, type, cancellationToken).ConfigureAwait(false);
            return value is null ? (null, Problems.Invalid("body", "must be a JSON object")) : (value, null);
        }
        catch (JsonException ex)
        {
            var (field, message) = Describe(ex);
            return (null, Problems.Invalid(field, message));
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Problems.TooLarge(limit));
        }
    }

    /// <summary>Turns System.Text.Json's exception into (field, message) without .NET type names.</summary>
    internal static (string Field, string Message) Describe(JsonException ex)
    {
        var field = ex.Path is { Length: > 1 } path && path.StartsWith("$.", StringComparison.Ordinal) ? path[2..] : "body";
        var text = ex.Message;
        const string Missing = "missing required properties including: ";
        var missing = text.IndexOf(Missing, StringComparison.Ordinal);
        if (missing >= 0)
        {
            var names = text[(missing + Missing.Length)..].TrimEnd('.').Replace("'", "", StringComparison.Ordinal);
            var first = names.Split(',')[0].Trim();
            return (field == "body" ? first : field + "." + first, "is required");
        }

        if (text.Contains("could not be mapped to any .NET member", StringComparison.Ordinal))
        {
            var start = text.IndexOf('\'', StringComparison.Ordinal);
            var end = start >= 0 ? text.IndexOf('\'', start + 1) : -1;
            var name = start >= 0 && end > start ? text[(start + 1)..end] : field;
            return (field.EndsWith(name, StringComparison.Ordinal) ? field : name, "is not a known property");
        }

        if (text.Contains("null", StringComparison.OrdinalIgnoreCase) && text.Contains("non-nullable", StringComparison.OrdinalIgnoreCase))
        {
            return (field, "must not be null");
        }

        if (text.Contains("could not be converted", StringComparison.Ordinal))
        {
            return (field, "has the wrong type or an invalid value");
        }

        if (ex.LineNumber is null && field == "body")
        {
            return ("body", "must be a JSON document");
        }

        return (field, "is not valid JSON here" + (ex.LineNumber is { } line ? $" (line {line + 1}, position {ex.BytePositionInLine + 1})" : ""));
    }
}
