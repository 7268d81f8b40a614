using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization.Metadata;
using Gantry.Cli.Http;
using Gantry.Cli.Output;
using Gantry.Core.Protocol;

namespace Gantry.Cli;

/// <summary>Reads a paged list (<c>Page&lt;T&gt;</c>) across as many pages as it takes.</summary>
internal static class Paging
{
    /// <summary>The server's largest page.</summary>
    public const int MaxPageSize = 1000;

    /// <summary>
    /// Reads up to <paramref name="limit"/> items of <paramref name="path"/>. With <c>-o json</c> the items
    /// are written as they came, in one <c>{"items": […], "nextCursor": …}</c> object, and nothing is returned.
    /// <paramref name="filters"/> (<c>&amp;actor=alice</c>, escaped) is added to each page's query as it is.
    /// </summary>
    public static async Task<List<T>> ReadAsync<T>(ClientInvocation invocation, string path, string? state, int limit, CancellationToken cancellationToken, string? filters = null)
    {
        var typeInfo = ResponseJson.For<Page<T>>();
        var items = new List<T>();
        var raw = invocation.Format == OutputFormat.Json ? new List<JsonDocument>() : null;
        var rawItems = new List<JsonElement>();
        string? cursor = null;
        try
        {
            while (true)
            {
                var pageSize = Math.Min(limit - items.Count, MaxPageSize);
                var query = new StringBuilder(path).Append("?limit=").Append(Formats.Number(pageSize));
                if (state is not null)
                {
                    query.Append("&state=").Append(Uri.EscapeDataString(state));
                }

                if (filters is { Length: > 0 })
                {
                    query.Append(filters[0] == '&' ? "" : "&").Append(filters);
                }

                if (cursor is not null)
                {
                    query.Append("&cursor=").Append(Uri.EscapeDataString(cursor));
                }

                var body = await invocation.Api.GetAsync(query.ToString(), cancellationToken).ConfigureAwait(false);
                var page = Deserialize(body, typeInfo);
                items.AddRange(page.Items);
                if (raw is not null)
                {
                    var document = JsonDocument.Parse(body);
                    raw.Add(document);
                    if (document.RootElement.TryGetProperty("items", out var pageItems))
                    {
                        rawItems.AddRange(pageItems.EnumerateArray());
                    }
                }

                cursor = page.NextCursor;
                if (cursor is null || items.Count >= limit || page.Items.Count == 0)
                {
                    break;
                }
            }

            if (raw is not null)
            {
                WriteJson(invocation.Context.Output, rawItems, items.Count >= limit ? cursor : null);
            }

            return items;
        }
        finally
        {
            if (raw is not null)
            {
                foreach (var document in raw)
                {
                    document.Dispose();
                }
            }
        }
    }

    /// <summary>Reads one API answer; a body the client cannot read is reported as the server's fault.</summary>
    public static T Deserialize<T>(byte[] body, JsonTypeInfo<T> typeInfo)
    {
        try
        {
            return JsonSerializer.Deserialize(body, typeInfo) ?? throw new JsonException("the answer was null");
        }
        catch (JsonException ex)
        {
            throw new ApiProblemException(System.Net.HttpStatusCode.OK, new Problem
            {
                Title = "Unexpected answer",
                Detail = $"the client cannot read the server's answer ({ex.Message}); is it a Gantry server of this version?",
            });
        }
    }

    private static void WriteJson(TextWriter output, List<JsonElement> items, string? nextCursor)
    {
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteStartArray("items");
            foreach (var item in items)
            {
                item.WriteTo(json);
            }

            json.WriteEndArray();
            if (nextCursor is not null)
            {
                json.WriteString("nextCursor", nextCursor);
            }

            json.WriteEndObject();
        }

        JsonOutput.Write(output, buffer.WrittenMemory);
    }
}
