using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon;

/// <summary>
/// The carbon intensity the server uses, per location (a node's <c>zone</c> label, or
/// <c>--carbon-location</c> for all). Implemented by the carbon feature over its configured source
/// (<c>--carbon-source</c>); read by CO2e accounting, deferral, <c>/metrics</c> and the dashboard.
/// Thread-safe and non-blocking: answers come from a cache that a background worker refreshes.
/// </summary>
internal interface ICarbonIntensity
{
    /// <summary>Whether a source is configured at all (without one, nothing is deferred and CO2e is not counted).</summary>
    bool Configured { get; }

    /// <summary>
    /// The location a node with these labels is in: its <c>zone</c> label, else the server's
    /// <c>--carbon-location</c>; null when neither names one.
    /// </summary>
    string? LocationOf(IReadOnlyDictionary<string, string> nodeLabels);

    /// <summary>The current usable forecast for a location; null when there is none (never fetched, or the last good one expired).</summary>
    CarbonForecast? Forecast(string location);

    /// <summary>Grams of CO2e per kWh at a time in a location; null when unknown.</summary>
    double? IntensityAt(string location, DateTimeOffset time);

    /// <summary>A warning for people (the source failing, a forecast expired) per location; empty when all is well.</summary>
    IReadOnlyList<string> Warnings { get; }
}
