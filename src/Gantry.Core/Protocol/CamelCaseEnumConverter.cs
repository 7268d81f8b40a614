using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>
/// Writes and reads an enum as its camelCase name (also as a dictionary key; reading ignores letter
/// case); numbers and unknown names are refused with System.Text.Json's usual "could not be converted" error and path.
/// </summary>
/// <remarks>
/// Written out instead of deriving from <see cref="JsonStringEnumConverter{TEnum}"/>, whose converter
/// reads each enum's fields and attributes through reflection the first time it is used: that cost
/// about 10 ms of every CLI call's start (docs/benchmarks.md, "Gantry CLI start-up").
/// </remarks>
public sealed class CamelCaseEnumConverter<TEnum> : JsonConverter<TEnum>
    where TEnum : struct, Enum
{
    private static readonly TEnum[] Values = Enum.GetValues<TEnum>();

    private static readonly JsonEncodedText[] Names =
        [.. Values.Select(value => JsonEncodedText.Encode(JsonNamingPolicy.CamelCase.ConvertName(value.ToString())))];

    /// <summary>
    /// The wire name of <paramref name="value"/> (<c>pending</c>, <c>timedOut</c>), as the API writes it;
    /// a value that is no named member reads as its number.
    /// </summary>
    internal static string Name(TEnum value) => IndexOf(value) is var i and >= 0 ? Names[i].Value : value.ToString();

    public override TEnum Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.String ? Find(ref reader) : throw new JsonException();

    public override void Write(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WriteStringValue(NameOf(value));
    }

    public override TEnum ReadAsPropertyName(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        Find(ref reader);

    public override void WriteAsPropertyName(Utf8JsonWriter writer, TEnum value, JsonSerializerOptions options)
    {
        ArgumentNullException.ThrowIfNull(writer);
        writer.WritePropertyName(NameOf(value));
    }

    private static TEnum Find(ref Utf8JsonReader reader)
    {
        for (var i = 0; i < Names.Length; i++)
        {
            if (reader.ValueTextEquals(Names[i].EncodedUtf8Bytes))
            {
                return Values[i];
            }
        }

        // As JsonStringEnumConverter does, a name in other letter case is read too ("Running").
        var text = reader.GetString();
        for (var i = 0; i < Names.Length; i++)
        {
            if (string.Equals(Names[i].Value, text, StringComparison.OrdinalIgnoreCase))
            {
                return Values[i];
            }
        }

        // No message: System.Text.Json then says which type and path could not be read.
        throw new JsonException();
    }

    private static JsonEncodedText NameOf(TEnum value) =>
        IndexOf(value) is var i and >= 0 ? Names[i] : throw new JsonException($"{value} is not a named {typeof(TEnum).Name}");

    private static int IndexOf(TEnum value)
    {
        for (var i = 0; i < Values.Length; i++)
        {
            if (EqualityComparer<TEnum>.Default.Equals(Values[i], value))
            {
                return i;
            }
        }

        return -1;
    }
}
