using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Apps;

/// <summary>
/// Pure arithmetic from two scrapes of an inference server (and the GPU energy spent between
/// them) to tokens per second and tokens per joule.
/// </summary>
public static class AppRateCalculator
{
    /// <summary>
    /// Builds the sample for <paramref name="current"/>. Rates are null on the first scrape, when
    /// either scrape is down, when the server's kind changed, when no time passed, and when any
    /// token counter went backwards (the server restarted). Tokens per joule are null unless
    /// <paramref name="gpuEnergyDeltaJoules"/> is positive.
    /// </summary>
    /// <param name="previous">The same URL's previous scrape, or null.</param>
    /// <param name="current">This scrape.</param>
    /// <param name="elapsedSeconds">Time between the two scrapes.</param>
    /// <param name="gpuEnergyDeltaJoules">GPU energy spent between the two scrapes (see <see cref="EnergyDeltaJoules"/>).</param>
    public static AppSample Calculate(AppScrape? previous, AppScrape current, double elapsedSeconds, double? gpuEnergyDeltaJoules)
    {
        ArgumentNullException.ThrowIfNull(current);

        double? promptDelta = null;
        double? generatedDelta = null;
        if (previous is { Up: true }
            && current.Up
            && previous.Kind == current.Kind
            && string.Equals(previous.Url, current.Url, StringComparison.Ordinal)
            && elapsedSeconds > 0
            && double.IsFinite(elapsedSeconds))
        {
            promptDelta = Delta(previous.PromptTokensTotal, current.PromptTokensTotal);
            generatedDelta = Delta(previous.GeneratedTokensTotal, current.GeneratedTokensTotal);
            // A restart resets every counter; one that went backwards voids both rates.
            if (promptDelta < 0 || generatedDelta < 0)
            {
                promptDelta = null;
                generatedDelta = null;
            }
        }

        var energy = gpuEnergyDeltaJoules is > 0 and var e && double.IsFinite(e) ? e : (double?)null;
        return new AppSample(
            current.Url,
            current.Kind,
            current.Up,
            current.Error,
            current.PromptTokensTotal,
            current.GeneratedTokensTotal,
            promptDelta / elapsedSeconds,
            generatedDelta / elapsedSeconds,
            promptDelta / energy,
            generatedDelta / energy);
    }

    /// <summary>
    /// Sum of the energy counters of the GPUs that are not lost; null when none reports one.
    /// </summary>
    public static double? SumEnergyJoules(GpuSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(snapshot);
        double? sum = null;
        foreach (var gpu in snapshot.Gpus)
        {
            if (!gpu.Lost && gpu.EnergyJoules is { } joules)
            {
                sum = (sum ?? 0) + joules;
            }
        }

        return sum;
    }

    /// <summary>
    /// Energy the GPUs spent between two snapshots, matched by UUID so a GPU that appeared or
    /// fell off the bus in between does not skew the figure. Null when no GPU has an energy
    /// reading in both, or when any counter went backwards (the driver was reloaded).
    /// </summary>
    public static double? EnergyDeltaJoules(GpuSnapshot previous, GpuSnapshot current)
    {
        ArgumentNullException.ThrowIfNull(previous);
        ArgumentNullException.ThrowIfNull(current);
        double? sum = null;
        for (var i = 0; i < current.Gpus.Count; i++)
        {
            var now = current.Gpus[i];
            if (now.Lost || now.EnergyJoules is not { } after)
            {
                continue;
            }

            var before = FindEnergy(previous, now.Uuid, i);
            if (before is null)
            {
                continue;
            }

            if (after < before)
            {
                return null;
            }

            sum = (sum ?? 0) + (after - before.Value);
        }

        return sum;
    }

    private static double? FindEnergy(GpuSnapshot snapshot, string uuid, int likelyIndex)
    {
        var gpus = snapshot.Gpus;
        // GPUs keep their order between samples; look where this one was first.
        if (likelyIndex < gpus.Count && string.Equals(gpus[likelyIndex].Uuid, uuid, StringComparison.Ordinal))
        {
            return gpus[likelyIndex].Lost ? null : gpus[likelyIndex].EnergyJoules;
        }

        foreach (var gpu in gpus)
        {
            if (string.Equals(gpu.Uuid, uuid, StringComparison.Ordinal))
            {
                return gpu.Lost ? null : gpu.EnergyJoules;
            }
        }

        return null;
    }

    private static double? Delta(double? before, double? after) => before is { } b && after is { } a ? a - b : null;
}
