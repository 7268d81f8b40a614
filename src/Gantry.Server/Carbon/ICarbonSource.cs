using Gantry.Core.Carbon;

namespace Gantry.Server.Carbon;

/// <summary>
/// Where forecasts come from, one per server (<c>--carbon-source</c>). Remote sources are called only by
/// <see cref="CarbonRefreshWorker"/>, one location at a time, each call bounded by <c>--carbon-timeout</c>;
/// local ones (<see cref="Local"/>) compute from memory and are called by readers directly.
/// </summary>
internal interface ICarbonSource
{
    /// <summary>True when the source computes from memory, never blocks and never fails (static, file).</summary>
    bool Local { get; }

    /// <summary>
    /// The forecast for <paramref name="location"/> from about <paramref name="now"/> on.
    /// Throws <see cref="CarbonSourceException"/> (saying what went wrong, for people) when it cannot.
    /// </summary>
    Task<CarbonForecast> FetchAsync(string location, DateTimeOffset now, CancellationToken cancellationToken);
}

/// <summary>A source that did not give a forecast: the message says why, in words for the dashboard.</summary>
internal sealed class CarbonSourceException : Exception
{
    public CarbonSourceException()
    {
    }

    public CarbonSourceException(string message)
        : base(message)
    {
    }

    public CarbonSourceException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
