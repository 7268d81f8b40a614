using System.Globalization;

namespace Gantry.Nab;

/// <summary>
/// NAB's own detectors whose published results check this scorer: <c>null</c> (the same score on every
/// row) and <c>windowedGaussian</c> (<c>nab/detectors/gaussian/windowedGaussian_detector.py</c>, v1.1).
/// </summary>
internal static class ReferenceDetectors
{
    /// <summary>NAB's null detector: 0.5 on every row.</summary>
    public static double[] Null(NabFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var scores = new double[file.Values.Length];
        Array.Fill(scores, 0.5);
        return scores;
    }

    /// <summary>
    /// The perfect detector of NAB's normalisation: 1 on the first row of every window, 0 elsewhere.
    /// </summary>
    public static double[] Perfect(NabFile file)
    {
        ArgumentNullException.ThrowIfNull(file);
        var scores = new double[file.Values.Length];
        foreach (var window in file.Windows)
        {
            scores[Array.IndexOf(file.Timestamps, window.Start)] = 1;
        }

        return scores;
    }

    /// <summary>
    /// NAB's <c>windowedGaussian</c>: a value's score is its normal probability against the mean and
    /// population standard deviation of a window of up to 6,400 earlier values, which slides forward 100
    /// values at a time once full (0 for the first row; a zero standard deviation counts as 0.000001).
    /// Scores are rounded to 12 significant digits, as NAB's results files hold them (Python 2's
    /// <c>str</c> of a float), which decides which rows reach a threshold of 1.0.
    /// </summary>
    /// <param name="file">The file to score.</param>
    /// <param name="symmetric">True for the detector's code in NAB v1.1: 1 − Q(|z|), high for deviations
    /// either way. False for the code that produced the results NAB publishes
    /// (<c>results/windowedGaussian/</c>), whose tail probability below the mean was 1 − Q(|z|), so that
    /// the score was the normal distribution function Φ(z): high only for values above the mean.</param>
    public static double[] WindowedGaussian(NabFile file, bool symmetric)
    {
        ArgumentNullException.ThrowIfNull(file);
        const int WindowSize = 6400;
        const int StepSize = 100;
        var window = new List<double>(WindowSize);
        var stepBuffer = new List<double>(StepSize);
        var mean = 0.0;
        var std = 1.0;
        var scores = new double[file.Values.Length];
        for (var i = 0; i < scores.Length; i++)
        {
            var value = file.Values[i];
            if (window.Count > 0)
            {
                var tail = Q(Math.Abs(value - mean) / std);
                var score = value >= mean || symmetric ? 1 - tail : tail;
                scores[i] = double.Parse(score.ToString("G12", CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
            }

            if (window.Count < WindowSize)
            {
                window.Add(value);
                (mean, std) = MeanAndStd(window);
            }
            else
            {
                stepBuffer.Add(value);
                if (stepBuffer.Count == StepSize)
                {
                    window.RemoveRange(0, StepSize);
                    window.AddRange(stepBuffer);
                    stepBuffer.Clear();
                    (mean, std) = MeanAndStd(window);
                }
            }
        }

        return scores;
    }

    /// <summary>The normal tail probability Q(z) = erfc(z/√2)/2 for z ≥ 0, as NAB computes it.</summary>
    internal static double Q(double z) => 0.5 * Erfc(z / Math.Sqrt(2));

    /// <summary>
    /// The complementary error function for x ≥ 0, to about 1e-15 relative: 1 − erf(x) from erf's series
    /// of positive terms below 2.5, the continued fraction of erfc above (Lentz's method).
    /// </summary>
    internal static double Erfc(double x)
    {
        if (x < 2.5)
        {
            // erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)): no cancellation between terms.
            var term = x;
            var sum = x;
            for (var n = 1; n < 200 && term > sum * 1e-17; n++)
            {
                term *= 2 * x * x / ((2 * n) + 1);
                sum += term;
            }

            return 1 - (2 / Math.Sqrt(Math.PI) * Math.Exp(-x * x) * sum);
        }

        // erfc(x) = e^(−x²)/√π · 1/(x + (1/2)/(x + 1/(x + (3/2)/(x + 2/(x + …))))).
        const double Tiny = 1e-300;
        var f = x;
        var c = x;
        var d = 0.0;
        for (var k = 1; k < 500; k++)
        {
            var a = k / 2.0;
            d = x + (a * d);
            d = Math.Abs(d) < Tiny ? Tiny : d;
            c = x + (a / c);
            c = Math.Abs(c) < Tiny ? Tiny : c;
            d = 1 / d;
            var delta = c * d;
            f *= delta;
            if (Math.Abs(delta - 1) < 1e-16)
            {
                break;
            }
        }

        return Math.Exp(-x * x) / Math.Sqrt(Math.PI) / f;
    }

    private static (double Mean, double Std) MeanAndStd(List<double> values)
    {
        var sum = 0.0;
        foreach (var v in values)
        {
            sum += v;
        }

        var mean = sum / values.Count;
        var squares = 0.0;
        foreach (var v in values)
        {
            squares += (v - mean) * (v - mean);
        }

        var std = Math.Sqrt(squares / values.Count);
        return (mean, std == 0.0 ? 0.000001 : std);
    }
}
