using Gantry.Telemetry.Exposition;

namespace Gantry.Server.Carbon;

/// <summary>
/// The carbon intensity in use per location on the server's <c>/metrics</c>, from the feature's cache
/// (no fetch, no lock). A location without a usable forecast is left out of the intensity, never 0.
/// </summary>
internal static class CarbonMetrics
{
    public static void Render(PrometheusTextWriter w, ICarbonIntensity carbon, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(carbon);
        if (carbon is not CarbonIntensity configured)
        {
            return;
        }

        var locations = configured.Locations(now);
        w.Family("gantry_server_carbon_intensity_grams_per_kwh", "gauge", "Grid carbon intensity in use now per carbon location (g CO2e/kWh), from --carbon-source; left out where there is no usable forecast.");
        foreach (var location in locations)
        {
            if (location.GramsPerKwh is { } grams)
            {
                w.Begin().Label("location", location.Location).Value(grams);
            }
        }

        w.Family("gantry_server_carbon_source_failing", "gauge", "1 while the carbon source fails for a location (its last good forecast is used until --carbon-max-age, then none), else 0.");
        foreach (var location in locations)
        {
            w.Begin().Label("location", location.Location).Value(location.Warning is null ? 0 : 1);
        }
    }
}
