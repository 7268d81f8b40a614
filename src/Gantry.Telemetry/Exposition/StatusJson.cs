using System.Text.Json;
using System.Text.Json.Serialization;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Exposition;

/// <summary>
/// The node snapshot as JSON for <c>/status</c>, <c>/v1/status</c> and <c>/events</c>: camelCase,
/// unsupported readings (nulls) left out, simulated GPUs marked <c>"simulated": true</c>.
/// </summary>
public static class StatusJson
{
    /// <summary>Serialises the snapshot to UTF-8 JSON.</summary>
    public static byte[] Render(NodeSnapshot snapshot, bool indented = false)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        return JsonSerializer.SerializeToUtf8Bytes(snapshot, indented ? StatusJsonContext.Indented.NodeSnapshot : StatusJsonContext.Default.NodeSnapshot);
    }

    /// <summary>Reads a snapshot back (tests, <c>gantry top --agent</c>).</summary>
    public static NodeSnapshot? Parse(ReadOnlySpan<byte> json) => JsonSerializer.Deserialize(json, StatusJsonContext.Default.NodeSnapshot);
}

[JsonSourceGenerationOptions(
    PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
    NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals)]
[JsonSerializable(typeof(NodeSnapshot))]
internal sealed partial class StatusJsonContext : JsonSerializerContext
{
    private static StatusJsonContext? _indented;

    /// <summary>The same contract, pretty-printed (for people reading <c>/status?pretty</c>).</summary>
    public static StatusJsonContext Indented => _indented ??= new StatusJsonContext(new JsonSerializerOptions(Default.Options) { WriteIndented = true });
}
