using System.Net;
using System.Text.Json;
using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon.Sources;

/// <summary>
/// <c>electricitymaps:URL</c>: Electricity Maps' <c>GET /v3/carbon-intensity/forecast?zone=Z</c> with the
/// token in the <c>auth-token</c> header. It answers <c>{"zone", "forecast": [{"carbonIntensity",
/// "datetime"}], "updatedAt"}</c> (g CO2e/kWh, hourly); newer plans name the array <c>data</c>, also read.
/// Errors come as <c>{"status": "error", "message"}</c> or <c>{"error"}</c> with 401, 403, 404, 429.
/// </summary>
internal sealed class ElectricityMapsSource(Uri baseUrl, string token, TimeSpan timeout, HttpMessageHandler? handler = null)
    : RemoteSource(baseUrl, timeout, handler)
{
    public override async Task<CarbonForecast> FetchAsync(string location, DateTimeOffset now, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUrl, "v3/carbon-intensity/forecast?zone=" + Uri.EscapeDataString(location)));
        request.Headers.TryAddWithoutValidation("auth-token", token);
        request.Headers.Accept.ParseAdd("application/json");
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (status != HttpStatusCode.OK)
        {
            throw StatusError(request, status, body, status switch
            {
                HttpStatusCode.Unauthorized or HttpStatusCode.Forbidden => "check the token in --carbon-secret-file or GANTRY_CARBON_SECRET, and that the plan includes forecasts for this zone",
                HttpStatusCode.NotFound => $"is '{location}' an Electricity Maps zone?",
                _ => null,
            });
        }

        return ParseBody(request, body, root =>
        {
            var data = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("forecast", out var f) ? f : Required(root, "data");
            if (data.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("\"forecast\" is not an array");
            }

            var points = new List<IntensityPoint>();
            foreach (var point in data.EnumerateArray())
            {
                points.Add(new IntensityPoint(Time(point, "datetime"), Number(point, "carbonIntensity")));
            }

            var generatedAt = root.TryGetProperty("updatedAt", out var u) && u.ValueKind == JsonValueKind.String ? Time(root, "updatedAt") : now;
            return Forecast(request, location, points, resolution: null, generatedAt);
        });
    }
}
