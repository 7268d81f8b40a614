using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon.Sources;

/// <summary>
/// <c>static:GRAMS</c>: the same intensity everywhere and always, as hourly points from an hour before
/// now to <c>--carbon-horizon</c> ahead (a flat forecast: nothing is ever worth deferring for).
/// </summary>
internal sealed class StaticSource(double grams, TimeSpan horizon) : ICarbonSource
{
    public bool Local => true;

    public Task<CarbonForecast> FetchAsync(string location, DateTimeOffset now, CancellationToken cancellationToken) =>
        Task.FromResult(Build(location, now));

    public CarbonForecast Build(string location, DateTimeOffset now)
    {
        var hour = TimeSpan.FromHours(1);
        var start = new DateTimeOffset(now.UtcTicks - (now.UtcTicks % hour.Ticks), TimeSpan.Zero) - hour;
        var count = (int)Math.Ceiling((now + horizon - start) / hour);
        var points = new IntensityPoint[count];
        for (var i = 0; i < count; i++)
        {
            points[i] = new IntensityPoint(start + (i * hour), grams);
        }

        return new CarbonForecast(location, points, hour, now);
    }
}
