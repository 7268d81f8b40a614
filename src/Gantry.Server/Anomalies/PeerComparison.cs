using Gantry.Core.Anomalies;

namespace Gantry.Server.Anomalies;

/// <summary>
/// A GPU against its siblings, once per completed minute of its node: its minute's mean temperature (and
/// power) against the median of the same-model GPUs of the node whose utilisation was within
/// <see cref="UtilizationTolerance"/> of its own (at least <see cref="MinimumPeers"/> of them, else no
/// comparison), in units of their robust spread (MAD × 1.4826, at least 1 °C, or 2 % of the median power).
/// Only an excess counts (hotter or drawing more than its peers): z is clamped to [0, <see cref="MaxZ"/>],
/// smoothed over minutes (weight <see cref="Smoothing"/>), and mapped to [0, 1] as the detector maps its
/// surprises: −log10 Q(z) / 12, so 0.5 is a one-in-a-million excess.
/// </summary>
internal static class PeerComparison
{
    /// <summary>Peers are GPUs whose utilisation differs by at most this (utilisation is 0 to 1).</summary>
    public const double UtilizationTolerance = 0.15;

    /// <summary>Fewest peers a GPU is compared with.</summary>
    public const int MinimumPeers = 2;

    /// <summary>Weight of a minute in the smoothed z.</summary>
    public const double Smoothing = 0.3;

    /// <summary>
    /// A minute's z counts as at most this: with <see cref="Smoothing"/> 0.3 a single minute, however far
    /// out, scores at most 0.24, two in a row 0.56, three 0.88, four 1 (so a GPU 12 °C over its peers, whose
    /// z is past this, reaches 0.9 in its fourth minute, and one noisy minute is never an alarm).
    /// </summary>
    public const double MaxZ = 10;

    /// <summary>MAD × this estimates the standard deviation of normal readings.</summary>
    public const double MadScale = 1.4826;

    /// <summary>The spread of temperatures counts as at least this many °C (GPUs report whole degrees).</summary>
    public const double TemperatureSpreadFloor = 1;

    /// <summary>The spread of power counts as at least this share of the median…</summary>
    public const double PowerSpreadShare = 0.02;

    /// <summary>…and at least this many watts (a median near 0 W would make any watt a surprise).</summary>
    public const double PowerSpreadFloorWatts = 1;

    // Rounding: 0.9 - 0.75 is 0.15000000000000002.
    private const double Epsilon = 1e-9;

    /// <summary>−log10 Q(z) / 12, clamped to [0, 1]; 0 for z ≤ 0.</summary>
    public static double ToScore(double z) => z > 0 ? Math.Clamp(-NormalTail.Log10Q(z) / 12, 0, 1) : 0;

    /// <summary>
    /// Compares every GPU of a node for its completed minute (the <c>Minute*</c> figures and models are
    /// set), with <paramref name="scratch"/> holding at least twice the GPU count. O(GPUs²) per node and
    /// minute, no allocation.
    /// </summary>
    public static void CompareAll(ReadOnlySpan<GpuAnomalies> gpus, Span<double> scratch)
    {
        var values = scratch[..gpus.Length];
        var deviations = scratch.Slice(gpus.Length, gpus.Length);
        foreach (var gpu in gpus)
        {
            if (Z(gpus, gpu, temperature: true, values, deviations) is { } zt)
            {
                gpu.PeerTemperature.Compare(zt);
            }
            else
            {
                gpu.PeerTemperature.Skip();
            }

            if (Z(gpus, gpu, temperature: false, values, deviations) is { } zp)
            {
                gpu.PeerPower.Compare(zp);
            }
            else
            {
                gpu.PeerPower.Skip();
            }
        }
    }

    private static double? Z(ReadOnlySpan<GpuAnomalies> gpus, GpuAnomalies gpu, bool temperature, Span<double> values, Span<double> deviations)
    {
        var own = temperature ? gpu.MinuteTemperature : gpu.MinutePower;
        if (gpu.Model is null || double.IsNaN(gpu.MinuteUtilization) || double.IsNaN(own))
        {
            return null;
        }

        var count = 0;
        foreach (var peer in gpus)
        {
            var value = temperature ? peer.MinuteTemperature : peer.MinutePower;
            if (!ReferenceEquals(peer, gpu)
                && !double.IsNaN(value)
                && Math.Abs(peer.MinuteUtilization - gpu.MinuteUtilization) <= UtilizationTolerance + Epsilon
                && string.Equals(peer.Model, gpu.Model, StringComparison.Ordinal))
            {
                values[count++] = value;
            }
        }

        if (count < MinimumPeers)
        {
            return null;
        }

        var median = Median(values[..count]);
        for (var i = 0; i < count; i++)
        {
            deviations[i] = Math.Abs(values[i] - median);
        }

        var floor = temperature ? TemperatureSpreadFloor : Math.Max(PowerSpreadShare * Math.Abs(median), PowerSpreadFloorWatts);
        var spread = Math.Max(Median(deviations[..count]) * MadScale, floor);
        return Math.Clamp((own - median) / spread, 0, MaxZ);
    }

    /// <summary>The median; sorts <paramref name="values"/> in place.</summary>
    private static double Median(Span<double> values)
    {
        values.Sort();
        var half = values.Length / 2;
        return values.Length % 2 == 1 ? values[half] : (values[half - 1] + values[half]) / 2;
    }
}
