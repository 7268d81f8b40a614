using System.Buffers;
using System.Text.Json;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Carbon;

/// <summary>
/// <c>GET /api/v1/carbon[?location=L]</c> (admin token): per wanted location, the source, the intensity in
/// use now, where the forecast ends, when it was fetched, its state and any warning; <c>location</c>
/// narrows it to one (404 when no node is there and it is not <c>--carbon-location</c>).
/// </summary>
internal static class CarbonEndpoints
{
    public static void MapCarbonEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/carbon", (HttpContext http, ICarbonIntensity carbon, TimeProvider time) =>
        {
            string? only = null;
            if (http.Request.Query.TryGetValue("location", out var given))
            {
                only = given.ToString();
                if (only.Length is 0 or > 200 || only.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c == ','))
                {
                    return Problems.Invalid("location", $"must be a location (1 to 200 characters, no spaces or commas), got '{only}'");
                }
            }

            var now = time.GetUtcNow();
            var locations = carbon is CarbonIntensity configured ? configured.Locations(now) : [];
            if (only is not null)
            {
                locations = locations.FindAll(l => l.Location == only);
                if (locations.Count == 0)
                {
                    return Problems.NotFound($"no node is in carbon location '{only}' (a node's zone label, or --carbon-location)");
                }
            }

            return TypedResults.Bytes(Render(carbon, locations), "application/json; charset=utf-8");
        }).RequireRole(Role.Viewer);

    // {"configured": true, "source": "watttime https://api.watttime.org/", "locations": [{"location": "CAISO_NORTH",
    //  "source": "…", "state": "fresh", "gramsPerKwh": 212.5, "horizon": "…Z", "fetchedAt": "…Z", "warning": null}],
    //  "warnings": ["…"]}
    private static byte[] Render(ICarbonIntensity carbon, List<CarbonLocationStatus> locations)
    {
        var buffer = new ArrayBufferWriter<byte>(1024);
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteBoolean("configured"u8, carbon.Configured);
            if (carbon is CarbonIntensity configured)
            {
                json.WriteString("source"u8, configured.SourceName);
            }
            else
            {
                json.WriteNull("source"u8);
            }

            json.WriteStartArray("locations"u8);
            foreach (var location in locations)
            {
                json.WriteStartObject();
                json.WriteString("location"u8, location.Location);
                json.WriteString("source"u8, location.Source);
                json.WriteString("state"u8, location.State);
                WriteNumber(json, "gramsPerKwh"u8, location.GramsPerKwh);
                WriteTime(json, "horizon"u8, location.Horizon);
                WriteTime(json, "fetchedAt"u8, location.FetchedAt);
                if (location.Warning is { } warning)
                {
                    json.WriteString("warning"u8, warning);
                }
                else
                {
                    json.WriteNull("warning"u8);
                }

                json.WriteEndObject();
            }

            json.WriteEndArray();
            json.WriteStartArray("warnings"u8);
            foreach (var location in locations)
            {
                if (location.Warning is { } warning)
                {
                    json.WriteStringValue(warning);
                }
            }

            json.WriteEndArray();
            json.WriteEndObject();
        }

        return buffer.WrittenMemory.ToArray();
    }

    private static void WriteNumber(Utf8JsonWriter json, ReadOnlySpan<byte> name, double? value)
    {
        if (value is { } v)
        {
            json.WriteNumber(name, Math.Round(v, 3));
        }
        else
        {
            json.WriteNull(name);
        }
    }

    private static void WriteTime(Utf8JsonWriter json, ReadOnlySpan<byte> name, DateTimeOffset? value)
    {
        if (value is { } v)
        {
            json.WriteString(name, v.ToUniversalTime());
        }
        else
        {
            json.WriteNull(name);
        }
    }
}
