using System.Text.Json;

namespace Gantry.Cli.Output;

/// <summary>What <c>-o</c> asks for.</summary>
internal enum OutputFormat
{
    /// <summary>Fixed-width tables and key/value views for people.</summary>
    Table,

    /// <summary>The API's JSON, indented.</summary>
    Json,
}

/// <summary>Writes the API's JSON answers as they came, indented.</summary>
internal static class JsonOutput
{
    private static readonly JsonWriterOptions Indented = new() { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    /// <summary>Re-indents one JSON document (property order and values untouched).</summary>
    public static void Write(TextWriter writer, ReadOnlyMemory<byte> json)
    {
        ArgumentNullException.ThrowIfNull(writer);
        using var document = JsonDocument.Parse(json);
        Write(writer, document.RootElement);
    }

    public static void Write(TextWriter writer, JsonElement element)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var buffer = new System.Buffers.ArrayBufferWriter<byte>();
        using (var json = new Utf8JsonWriter(buffer, Indented))
        {
            element.WriteTo(json);
        }

        writer.Write(System.Text.Encoding.UTF8.GetString(buffer.WrittenSpan));
        writer.Write('\n');
    }
}
