using System.Globalization;
using System.Net;
using System.Text.Json;
using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon.Sources;

/// <summary>
/// <c>carbon-aware-sdk:URL</c>: the Green Software Foundation's Carbon Aware SDK WebAPI,
/// <c>GET /emissions/forecasts/current?location=L&amp;dataStartAt=T0&amp;dataEndAt=T1</c>, which answers an
/// array of forecasts (<c>EmissionsForecastDTO</c>): <c>generatedAt</c>, <c>location</c> and
/// <c>forecastData</c>, points of <c>timestamp</c>, <c>duration</c> (minutes) and <c>value</c> (g CO2e/kWh).
/// <c>windowSize</c> is left out on purpose: with one, <c>forecastData</c> holds rolling averages over that
/// window; without, the points themselves (Gantry computes its own windows). Errors come as problem
/// details (400 with <c>errors</c>, 500, 501).
/// </summary>
internal sealed class CarbonAwareSdkSource(Uri baseUrl, TimeSpan horizon, TimeSpan timeout, HttpMessageHandler? handler = null)
    : RemoteSource(baseUrl, timeout, handler)
{
    public override async Task<CarbonForecast> FetchAsync(string location, DateTimeOffset now, CancellationToken cancellationToken)
    {
        // From the start of the hour, so that the point holding now (hourly or finer) is in the answer.
        var start = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % TimeSpan.TicksPerHour), TimeSpan.Zero);
        var query = $"emissions/forecasts/current?location={Uri.EscapeDataString(location)}&dataStartAt={Iso(start)}&dataEndAt={Iso(now + horizon)}";
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(BaseUrl, query));
        request.Headers.Accept.ParseAdd("application/json");
        var (status, body) = await SendAsync(request, cancellationToken).ConfigureAwait(false);
        if (status != HttpStatusCode.OK)
        {
            throw StatusError(request, status, body, status == HttpStatusCode.BadRequest ? $"is '{location}' a location the SDK's data source knows?" : null);
        }

        return ParseBody(request, body, root =>
        {
            if (root.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("expected an array of forecasts");
            }

            JsonElement? chosen = null;
            foreach (var forecast in root.EnumerateArray())
            {
                chosen ??= forecast;
                if (forecast.TryGetProperty("location", out var l) && l.ValueKind == JsonValueKind.String && string.Equals(l.GetString(), location, StringComparison.OrdinalIgnoreCase))
                {
                    chosen = forecast;
                    break;
                }
            }

            if (chosen is not { } f)
            {
                throw new CarbonSourceException($"{Describe(request.RequestUri!)} answered no forecast for {location}");
            }

            var data = Required(f, "forecastData");
            if (data.ValueKind != JsonValueKind.Array)
            {
                throw new FormatException("\"forecastData\" is not an array");
            }

            var points = new List<IntensityPoint>();
            TimeSpan? resolution = null;
            foreach (var point in data.EnumerateArray())
            {
                points.Add(new IntensityPoint(Time(point, "timestamp"), Number(point, "value")));
                if (point.TryGetProperty("duration", out var d) && d.ValueKind == JsonValueKind.Number && d.TryGetDouble(out var minutes) && minutes > 0)
                {
                    var duration = TimeSpan.FromMinutes(minutes);
                    resolution = resolution is { } r && r < duration ? r : duration;
                }
            }

            var generatedAt = f.TryGetProperty("generatedAt", out var g) && g.ValueKind == JsonValueKind.String ? Time(f, "generatedAt") : now;
            return Forecast(request, location, points, resolution, generatedAt);
        });
    }

    private static string Iso(DateTimeOffset time) => Uri.EscapeDataString(time.UtcDateTime.ToString("yyyy-MM-dd'T'HH:mm:ss'Z'", CultureInfo.InvariantCulture));
}
