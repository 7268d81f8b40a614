using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon;

/// <summary>No <c>--carbon-source</c>: nothing is known, so nothing is deferred and no CO2e is counted.</summary>
internal sealed class NoCarbonIntensity : ICarbonIntensity
{
    public bool Configured => false;

    public IReadOnlyList<string> Warnings => [];

    public string? LocationOf(IReadOnlyDictionary<string, string> nodeLabels) => null;

    public CarbonForecast? Forecast(string location) => null;

    public double? IntensityAt(string location, DateTimeOffset time) => null;
}
