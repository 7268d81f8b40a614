namespace Gantry.Core.Anomalies;

/// <summary>The upper tail of the standard normal distribution, Q(z) = P(Z &gt; z), on a log scale.</summary>
public static class NormalTail
{
    private const double Ln10 = 2.302585092994046;

    /// <summary>
    /// log10 Q(z) for z ≥ 0, from the Chebyshev fit of erfc in Numerical Recipes (<c>erfcc</c>: relative
    /// error below 1.2e-7 everywhere), evaluated in log space so that it neither underflows nor needs an
    /// <c>exp</c>. Q(z) = erfc(z/√2)/2.
    /// </summary>
    public static double Log10Q(double z)
    {
        var x = z * 0.7071067811865476;
        var t = 1 / (1 + (0.5 * x));
        var lnErfc = Math.Log(t) - (x * x) - 1.26551223
            + (t * (1.00002368 + (t * (0.37409196 + (t * (0.09678418 + (t * (-0.18628806 + (t * (0.27886807
            + (t * (-1.13520398 + (t * (1.48851587 + (t * (-0.82215223 + (t * 0.17087277)))))))))))))))));
        return (lnErfc - 0.6931471805599453) / Ln10;
    }
}
