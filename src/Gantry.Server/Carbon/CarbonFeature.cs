using Gantry.Core.Carbon;
using Gantry.Server.Carbon.Sources;
using Gantry.Server.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;

namespace Gantry.Server.Carbon;

/// <summary>Wires the carbon feature into the server when <c>--carbon-source</c> is set.</summary>
internal static class CarbonFeature
{
    /// <summary>
    /// With <see cref="ServerOptions.CarbonSource"/>: the source (a trace file is read now, so that one that
    /// went away since validation stops the start with its reason) and <see cref="CarbonIntensity"/> as the
    /// server's <see cref="ICarbonIntensity"/>, replacing <see cref="NoCarbonIntensity"/>. Returns whether it
    /// did (the caller then runs <see cref="CarbonRefreshWorker"/> while leading).
    /// </summary>
    public static bool AddCarbonIntensity(this IServiceCollection services, ServerOptions options, TimeProvider time)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(options);
        if (options.CarbonSource is not { } text)
        {
            return false;
        }

        var spec = CarbonSourceSpec.Parse(text);
        ICarbonSource source = spec.Kind switch
        {
            CarbonSourceKind.Static => new StaticSource(spec.Grams, options.CarbonHorizon),
            CarbonSourceKind.File => new TraceReplaySource(ReadTrace(spec.Path!, time), options.CarbonHorizon),
            CarbonSourceKind.CarbonAwareSdk => new CarbonAwareSdkSource(spec.Url!, options.CarbonHorizon, options.CarbonTimeout),
            CarbonSourceKind.WattTime => new WattTimeSource(spec.Url!, options.CarbonUser!, options.CarbonSecret!, options.CarbonHorizon, options.CarbonTimeout, time),
            _ => new ElectricityMapsSource(spec.Url!, options.CarbonSecret!, options.CarbonTimeout),
        };
        services.AddSingleton(source);
        services.AddSingleton(sp => new CarbonIntensity(
            spec,
            sp.GetRequiredService<ICarbonSource>(),
            options.CarbonLocation,
            options.CarbonRefresh,
            options.CarbonMaxAge,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<ILogger<CarbonIntensity>>()));
        services.Replace(ServiceDescriptor.Singleton<ICarbonIntensity>(sp => sp.GetRequiredService<CarbonIntensity>()));
        services.AddSingleton<CarbonRefreshWorker>();
        return true;
    }

    private static CarbonForecast ReadTrace(string path, TimeProvider time)
    {
        try
        {
            return CarbonTraceCsv.ReadFile(path, "trace", time.GetUtcNow());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException)
        {
            throw new InvalidOperationException($"--carbon-source: cannot read the trace {path}: {ex.Message}", ex);
        }
    }
}
