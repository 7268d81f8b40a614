using Gantry.Core.Anomalies;

namespace Gantry.Nab;

/// <summary>Gantry's streaming detector over one NAB file: a fresh instance, fed row by row, as the CLI's <c>gantry anomaly score</c> does.</summary>
internal static class GantryDetector
{
    /// <summary>The score of every row of <paramref name="file"/>, in order.</summary>
    public static double[] Run(NabFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var detector = new AnomalyDetector();
        var scores = new double[file.Values.Length];
        for (var i = 0; i < scores.Length; i++)
        {
            scores[i] = detector.Update(new DateTimeOffset(file.Timestamps[i], TimeSpan.Zero), file.Values[i]);
        }

        return scores;
    }
}
