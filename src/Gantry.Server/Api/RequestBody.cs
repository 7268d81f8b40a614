using System.Buffers;
using System.IO.Pipelines;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Microsoft.AspNetCore.Http;

namespace Gantry.Server.Api;

/// <summary>Reads a JSON request body strictly, turning every way it can be wrong into a problem that names the field.</summary>
internal static class RequestBody
{
    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];

    public static async Task<(T? Value, IResult? Error)> ReadAsync<T>(HttpRequest request, JsonTypeInfo<T> type, long limit, CancellationToken cancellationToken)
        where T : class
    {
        if (request.ContentType is not { } contentType || !contentType.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
        {
            return (null, Problems.UnsupportedMediaType());
        }

        if (request.ContentLength > limit)
        {
            return (null, TooLarge(request, limit));
        }

        // The whole body first, then one synchronous parse. System.Text.Json's resumable reading
        // (DeserializeAsync) lets a null through into a non-nullable property that has a setter,
        // which the synchronous reading refuses under RespectNullableAnnotations; the body is
        // small (at most the limit) and stays in the pipe's pooled buffers.
        var reader = request.BodyReader;
        ReadResult read;
        try
        {
            while (true)
            {
                read = await reader.ReadAsync(cancellationToken).ConfigureAwait(false);
                if (read.Buffer.Length > limit)
                {
                    reader.AdvanceTo(read.Buffer.End);
                    return (null, TooLarge(request, limit));
                }

                if (read.IsCompleted || read.IsCanceled)
                {
                    break;
                }

                reader.AdvanceTo(read.Buffer.Start, read.Buffer.End);
            }
        }
        catch (BadHttpRequestException ex) when (ex.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (null, Problems.TooLarge(limit));
        }

        try
        {
            return Parse(read.Buffer, type);
        }
        finally
        {
            reader.AdvanceTo(read.Buffer.End);
        }
    }

    private static (T? Value, IResult? Error) Parse<T>(in ReadOnlySequence<byte> body, JsonTypeInfo<T> type)
        where T : class
    {
        byte[]? rented = null;
        try
        {
            ReadOnlySpan<byte> utf8;
            if (body.IsSingleSegment)
            {
                utf8 = body.FirstSpan;
            }
            else
            {
                rented = ArrayPool<byte>.Shared.Rent((int)body.Length);
                body.CopyTo(rented);
                utf8 = rented.AsSpan(0, (int)body.Length);
            }

            // As DeserializeAsync did: a UTF-8 byte order mark is skipped.
            var value = JsonSerializer.Deserialize(utf8.StartsWith(Utf8Bom) ? utf8[Utf8Bom.Length..] : utf8, type);
            return value is null ? (null, Problems.Invalid("body", "must be a JSON object")) : (value, null);
        }
        catch (JsonException ex)
        {
            var (field, message) = Describe(ex);
            return (null, Problems.Invalid(field, message));
        }
        finally
        {
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    /// <summary>
    /// 413 for a body that is not read: the connection is closed after the answer, because the body
    /// the client still sends (or that Kestrel cannot drain) would otherwise break its next request on it.
    /// </summary>
    private static IResult TooLarge(HttpRequest request, long limit)
    {
        request.HttpContext.Response.Headers.Connection = "close";
        return Problems.TooLarge(limit);
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

        // "… doesn't allow null values", "… doesn't allow setting null values" (RespectNullableAnnotations).
        if (text.Contains("null", StringComparison.OrdinalIgnoreCase)
            && (text.Contains("non-nullable", StringComparison.OrdinalIgnoreCase) || text.Contains("allow null values", StringComparison.Ordinal) || text.Contains("allow setting null values", StringComparison.Ordinal)))
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
