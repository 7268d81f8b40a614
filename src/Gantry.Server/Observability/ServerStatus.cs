using System.Buffers;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Server.Carbon;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Observability;

/// <summary>
/// <c>GET /status</c> (admin token): the serving replica's own state and what people should know about it,
/// as the agent's <c>/status</c> does for a node: <c>{"leader": true, "leaderEpoch": 3, "carbon":
/// {"configured": true, "source": "…"}, "warnings": ["carbon: …"]}</c>. Warnings today come from the carbon
/// feature (a failing source, an expired forecast); an empty list means all is well.
/// </summary>
internal static class ServerStatus
{
    public static void MapServerStatus(this IEndpointRouteBuilder app) =>
        app.MapGet("/status", (Leadership.Leadership leadership, ICarbonIntensity carbon) =>
        {
            var buffer = new ArrayBufferWriter<byte>(512);
            using (var json = new Utf8JsonWriter(buffer))
            {
                json.WriteStartObject();
                json.WriteBoolean("leader"u8, leadership.IsLeader);
                json.WriteNumber("leaderEpoch"u8, leadership.Epoch);
                json.WriteStartObject("carbon"u8);
                json.WriteBoolean("configured"u8, carbon.Configured);
                if (carbon is CarbonIntensity configured)
                {
                    json.WriteString("source"u8, configured.SourceName);
                }
                else
                {
                    json.WriteNull("source"u8);
                }

                json.WriteEndObject();
                json.WriteStartArray("warnings"u8);
                foreach (var warning in carbon.Warnings)
                {
                    json.WriteStringValue(warning);
                }

                json.WriteEndArray();
                json.WriteEndObject();
            }

            return TypedResults.Bytes(buffer.WrittenMemory.ToArray(), "application/json; charset=utf-8");
        }).RequireRole(Role.Viewer);
}
