namespace Gantry.Nab;

/// <summary>
/// Checks of the scorer before it scores anything: NAB's sigmoid and window rules on small synthetic
/// files, the null and perfect detectors (0 and 100 by definition), and NAB's published results for its
/// windowedGaussian detector, recomputed here from a port of that detector.
/// </summary>
internal static class SelfCheck
{
    /// <summary>Runs every check, reports each, and returns how many failed.</summary>
    public static int Run(NabCorpus corpus, Report report)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(report);
        var failures = 0;
        void Check(bool ok, FormattableString what)
        {
            report.Line($"- {(ok ? "ok" : "FAILED")}: {what}");
            failures += ok ? 0 : 1;
        }

        report.Line($"## Scorer checks");
        report.Line($"");
        var standard = corpus.Profiles[0];
        foreach (var (position, expected) in new[] { (-1.0, 0.98661), (-0.5, 0.84828), (0.0, 0.0), (1.0, -0.98661), (3.0, -1.0) })
        {
            Check(Math.Abs(NabScorer.ScaledSigmoid(position) - expected) < 1e-5, $"scaled sigmoid({position}) = {NabScorer.ScaledSigmoid(position):F5}, NAB's docstring says {expected:F5}");
        }

        Check(NabScorer.ProbationaryLength(4032) == 604 && NabScorer.ProbationaryLength(22695) == 750, $"probationary period: 604 rows of 4,032, 750 (the cap) of 22,695");

        // A synthetic file of 1,000 rows (probation: 150) with one window of 10 rows, rows 500-509.
        var synthetic = Synthetic(1000, (500, 509));
        double ScoreWith(params int[] detections)
        {
            var scores = new double[1000];
            foreach (var row in detections)
            {
                scores[row] = 1;
            }

            return NabScorer.ScoreAt(NabScorer.Sweep(synthetic, scores, standard, 0), 0.5, standard).Score;
        }

        Check(ScoreWith() == -standard.FnWeight, $"no detection: the window is missed, −FN weight ({ScoreWith():F4})");
        Check(Math.Abs(ScoreWith(500) - standard.TpWeight) < 1e-12, $"detection on the window's first row: the full TP weight ({ScoreWith(500):F4})");
        Check(ScoreWith(509) > 0 && ScoreWith(509) < 0.3, $"detection on its last row: a small reward ({ScoreWith(509):F4})");
        Check(ScoreWith(502, 507) == ScoreWith(502), $"two detections in a window: only the earliest counts ({ScoreWith(502, 507):F4})");
        Check(Math.Abs(ScoreWith(300) - (-standard.FnWeight - standard.FpWeight)) < 1e-12, $"detection before the first window: the full FP weight ({ScoreWith(300):F4})");
        Check(ScoreWith(510) > ScoreWith(530) && ScoreWith(530) > ScoreWith(900), $"detections after a window cost more the further they are ({ScoreWith(510):F4}, {ScoreWith(530):F4}, {ScoreWith(900):F4})");
        Check(ScoreWith(100) == ScoreWith(), $"a detection in the probationary period is not scored ({ScoreWith(100):F4})");

        var nullScores = corpus.Files.Select(ReferenceDetectors.Null).ToArray();
        var perfectScores = corpus.Files.Select(ReferenceDetectors.Perfect).ToArray();
        foreach (var profile in corpus.Profiles)
        {
            var nullOutcome = NabEvaluation.Evaluate(corpus, nullScores, profile);
            var perfectOutcome = NabEvaluation.Evaluate(corpus, perfectScores, profile);
            Check(Math.Abs(nullOutcome.Normalized) < 1e-9 && Math.Abs(perfectOutcome.Normalized - 100) < 1e-9,
                $"{profile.Name}: NAB's null detector (0.5 everywhere) scores {nullOutcome.Normalized:F1} (raw {nullOutcome.Raw:F2} = windows × −FN weight), the perfect detector {perfectOutcome.Normalized:F1}");
        }

        // The code that produced NAB's published results, at NAB's threshold for it: every file's score and counts.
        var published = corpus.Files.Select(f => ReferenceDetectors.WindowedGaussian(f, symmetric: false)).ToArray();
        var atPublished = NabEvaluation.Evaluate(corpus, published, standard, PublishedResults.WindowedGaussianStandardThreshold);
        var matched = 0;
        var worst = 0.0;
        foreach (var expected in PublishedResults.WindowedGaussianStandard)
        {
            var mine = atPublished.Files.FirstOrDefault(f => f.File.RelativePath == expected.File);
            if (mine is null)
            {
                continue;
            }

            var difference = Math.Abs(mine.Score.Score - expected.Score);
            worst = Math.Max(worst, difference);
            if (difference < 1e-9 && mine.Score.Tp == expected.Tp && mine.Score.Tn == expected.Tn && mine.Score.Fp == expected.Fp && mine.Score.Fn == expected.Fn)
            {
                matched++;
            }
            else
            {
                report.Line($"  {expected.File}: NAB {expected.Score:R} (TP {expected.Tp}, TN {expected.Tn}, FP {expected.Fp}, FN {expected.Fn}), here {mine.Score.Score:R} (TP {mine.Score.Tp}, TN {mine.Score.Tn}, FP {mine.Score.Fp}, FN {mine.Score.Fn})");
            }
        }

        Check(matched == PublishedResults.WindowedGaussianStandard.Count,
            $"windowedGaussian as it produced NAB's published results, at NAB's threshold 1.0: {matched} of {PublishedResults.WindowedGaussianStandard.Count} files give NAB's published score and TP/TN/FP/FN counts (results/windowedGaussian/windowedGaussian_standard_scores.csv; largest difference {worst:G3})");

        // The detector's code in NAB v1.1, its threshold optimised over these files: the figure the data's README quotes.
        var current = corpus.Files.Select(f => ReferenceDetectors.WindowedGaussian(f, symmetric: true)).ToArray();
        var optimised = NabEvaluation.Evaluate(corpus, current, standard);
        Check(Math.Abs(optimised.Normalized - PublishedResults.WindowedGaussianStandard35Files) < 0.05,
            $"windowedGaussian as NAB v1.1's code has it, its threshold optimised over these files: {optimised.Normalized:F2} (threshold {optimised.Threshold:R}); the data's README gives {PublishedResults.WindowedGaussianStandard35Files:F1}");
        report.Line($"");
        return failures;
    }

    private static NabFile Synthetic(int rows, (int Start, int End) window)
    {
        var start = new DateTime(2020, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        var timestamps = new DateTime[rows];
        for (var i = 0; i < rows; i++)
        {
            timestamps[i] = start.AddMinutes(5 * i);
        }

        return new NabFile("synthetic/window.csv", timestamps, new double[rows], [new LabelWindow(timestamps[window.Start], timestamps[window.End])]);
    }
}
