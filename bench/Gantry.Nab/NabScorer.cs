namespace Gantry.Nab;

/// <summary>
/// One row as NAB's sweeper sees it: the detector's score, the row's weight if it were a detection
/// (<see cref="SweepScore"/>) and the window it is in.
/// </summary>
/// <param name="AnomalyScore">The detector's score for the row.</param>
/// <param name="SweepScore">What a detection here adds: inside a window the scaled sigmoid times the TP
/// weight (divided by its value at the window's first row), outside it the scaled sigmoid of the distance
/// past the previous window times the FP weight (negative).</param>
/// <param name="Window">The corpus-wide id of the window the row is in; <see cref="NabScorer.NoWindow"/>
/// outside every window, <see cref="NabScorer.Probationary"/> in the probationary period.</param>
internal readonly record struct SweepRow(double AnomalyScore, double SweepScore, int Window);

/// <summary>The score of a set of rows when every row at or above <see cref="Threshold"/> is a detection.</summary>
internal readonly record struct ThresholdScore(double Threshold, double Score, int Tp, int Tn, int Fp, int Fn);

/// <summary>
/// NAB's scoring, ported from NAB v1.1 (<c>nab/sweeper.py</c>, <c>nab/optimizer.py</c>,
/// <c>nab/runner.py</c>; github.com/numenta/NAB, MIT). Each row gets a sweep score from its position
/// relative to the labelled windows; one threshold per profile is chosen over the whole corpus as the one
/// with the highest total; only the earliest detection in a window counts, every detection outside a
/// window costs; rows in the probationary period count for nothing. Where NAB's code does something
/// surprising (the <c>+ 1</c> in the in-window position, comparisons of timestamps) this does the same.
/// </summary>
internal static class NabScorer
{
    /// <summary>Window id of a row outside every window.</summary>
    public const int NoWindow = -1;

    /// <summary>Window id of a row in the probationary period.</summary>
    public const int Probationary = -2;

    /// <summary>NAB's probationary share of each file.</summary>
    public const double ProbationPercent = 0.15;

    /// <summary>NAB's first threshold: above every score, so nothing is detected and every window is missed.</summary>
    public const double NoDetectionThreshold = 1.1;

    /// <summary>
    /// Rows NAB does not score at the start of a file: 15 % of them, at most 750
    /// (<c>min(floor(0.15 * rows), 0.15 * 5000)</c>).
    /// </summary>
    public static int ProbationaryLength(int rows) => (int)Math.Min(Math.Floor(ProbationPercent * rows), ProbationPercent * 5000);

    /// <summary>
    /// NAB's scaled sigmoid of a relative position: 2·σ(−5x) − 1, and −1 from 3 on. −1 is a window's first
    /// row (0.9866), 0 its last (0); positive positions are past a window (towards −1).
    /// </summary>
    public static double ScaledSigmoid(double relativePosition) =>
        relativePosition >= 3.0 ? -1.0 : (2 * (1 / (1 + Math.Exp(5 * relativePosition)))) - 1.0;

    /// <summary>
    /// <c>Sweeper.calcSweepScore</c>: every row of <paramref name="file"/> with its score, sweep score and
    /// window (ids from <paramref name="firstWindowId"/> on, in the file's order).
    /// </summary>
    public static SweepRow[] Sweep(NabFile file, ReadOnlySpan<double> scores, Profile profile, int firstWindowId)
    {
        ArgumentNullException.ThrowIfNull(file);
        ArgumentNullException.ThrowIfNull(profile);
        if (scores.Length != file.Timestamps.Length)
        {
            throw new ArgumentException($"{file.RelativePath}: {scores.Length} scores for {file.Timestamps.Length} rows", nameof(scores));
        }

        var timestamps = file.Timestamps;
        var rows = new SweepRow[timestamps.Length];
        var maxTp = ScaledSigmoid(-1.0);
        var probation = ProbationaryLength(timestamps.Length);
        var next = 0;
        var current = -1;
        var currentRight = 0;
        var currentWidth = 0.0;
        var previousRight = -1;
        var previousWidth = 0.0;
        for (var i = 0; i < timestamps.Length; i++)
        {
            // Entering a window: its first row has the start's timestamp. Its right edge is the first row
            // anywhere in the file with the end's timestamp (Python's list.index).
            if (next < file.Windows.Count && timestamps[i] == file.Windows[next].Start)
            {
                current = next++;
                currentRight = Array.IndexOf(timestamps, file.Windows[current].End);
                currentWidth = currentRight - Array.IndexOf(timestamps, file.Windows[current].Start) + 1;
            }

            double weighted;
            if (current >= 0)
            {
                var position = -(currentRight - i + 1) / currentWidth;
                weighted = ScaledSigmoid(position) * profile.TpWeight / maxTp;
            }
            else
            {
                var position = previousRight < 0 ? 3.0 : Math.Abs(previousRight - i) / (previousWidth - 1);
                weighted = ScaledSigmoid(position) * profile.FpWeight;
            }

            var window = i < probation ? Probationary : current >= 0 ? firstWindowId + current : NoWindow;
            rows[i] = new SweepRow(scores[i], weighted, window);

            if (current >= 0 && timestamps[i] == file.Windows[current].End)
            {
                previousRight = i;
                previousWidth = currentWidth;
                current = -1;
            }
        }

        return rows;
    }

    /// <summary>
    /// <c>Sweeper.calcScoreByThreshold</c>: the score at every distinct anomaly score, highest threshold
    /// first, starting at <see cref="NoDetectionThreshold"/>. Rows of several files may be passed together;
    /// window ids must then be distinct across files.
    /// </summary>
    public static List<ThresholdScore> ScoresByThreshold(IEnumerable<SweepRow> rows, Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var scorable = rows.Where(r => r.Window != Probationary).OrderByDescending(r => r.AnomalyScore).ToArray();

        // The parts summed for each threshold: the false positives, then each window in order of first
        // appearance (a Python dict's order), starting at a miss.
        var windowSlots = new Dictionary<int, int>();
        foreach (var row in scorable)
        {
            if (row.Window >= 0)
            {
                windowSlots.TryAdd(row.Window, windowSlots.Count);
            }
        }

        var windowParts = new double[windowSlots.Count];
        Array.Fill(windowParts, -profile.FnWeight);
        var fpPart = 0.0;
        var tn = scorable.Count(r => r.Window < 0);
        var fn = scorable.Length - tn;
        var tp = 0;
        var fp = 0;
        var result = new List<ThresholdScore>();
        var threshold = NoDetectionThreshold;
        foreach (var row in scorable)
        {
            if (row.AnomalyScore != threshold)
            {
                result.Add(new ThresholdScore(threshold, Sum(fpPart, windowParts), tp, tn, fp, fn));
                threshold = row.AnomalyScore;
            }

            if (row.Window >= 0)
            {
                tp++;
                fn--;
                var slot = windowSlots[row.Window];
                windowParts[slot] = Math.Max(windowParts[slot], row.SweepScore);
            }
            else
            {
                fp++;
                tn--;
                fpPart += row.SweepScore;
            }
        }

        result.Add(new ThresholdScore(threshold, Sum(fpPart, windowParts), tp, tn, fp, fn));
        return result;
    }

    /// <summary>
    /// <c>nab/optimizer.py</c>: the threshold with the highest total over all rows given; of equal totals the
    /// highest threshold (Python's stable sort keeps the sweep's order).
    /// </summary>
    public static ThresholdScore Optimize(IEnumerable<SweepRow> rows, Profile profile)
    {
        var best = default(ThresholdScore);
        var first = true;
        foreach (var candidate in ScoresByThreshold(rows, profile))
        {
            if (first || candidate.Score > best.Score)
            {
                best = candidate;
                first = false;
            }
        }

        return best;
    }

    /// <summary>
    /// <c>Sweeper.scoreDataSet</c>: the score of one file's rows at <paramref name="threshold"/>, every row
    /// scoring at or above it a detection (the row NAB picks from the sweep).
    /// </summary>
    public static ThresholdScore ScoreAt(ReadOnlySpan<SweepRow> rows, double threshold, Profile profile)
    {
        ArgumentNullException.ThrowIfNull(profile);
        var windows = new Dictionary<int, double>();
        var fpPart = 0.0;
        int tp = 0, tn = 0, fp = 0, fn = 0;
        foreach (var row in rows)
        {
            if (row.Window == Probationary)
            {
                continue;
            }

            var detected = row.AnomalyScore >= threshold;
            if (row.Window >= 0)
            {
                var part = windows.TryGetValue(row.Window, out var p) ? p : -profile.FnWeight;
                windows[row.Window] = detected ? Math.Max(part, row.SweepScore) : part;
                if (detected)
                {
                    tp++;
                }
                else
                {
                    fn++;
                }
            }
            else if (detected)
            {
                fp++;
                fpPart += row.SweepScore;
            }
            else
            {
                tn++;
            }
        }

        var score = fpPart;
        foreach (var part in windows.Values)
        {
            score += part;
        }

        return new ThresholdScore(threshold, score, tp, tn, fp, fn);
    }

    /// <summary><c>Runner.normalize</c>: 100 × (raw − null) / (perfect − null).</summary>
    public static double Normalize(double raw, double nullScore, double perfect) => 100 * (raw - nullScore) / (perfect - nullScore);

    private static double Sum(double fpPart, double[] windowParts)
    {
        var sum = fpPart;
        foreach (var part in windowParts)
        {
            sum += part;
        }

        return sum;
    }
}
