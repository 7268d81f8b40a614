using System.Text.Json;
using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>Writes and reads an enum as its camelCase name; numbers are refused.</summary>
public sealed class CamelCaseEnumConverter<TEnum>() : JsonStringEnumConverter<TEnum>(JsonNamingPolicy.CamelCase, allowIntegerValues: false)
    where TEnum : struct, Enum;
