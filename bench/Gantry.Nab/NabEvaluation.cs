namespace Gantry.Nab;

/// <summary>One file's result under one profile at the corpus threshold.</summary>
/// <param name="File">The file.</param>
/// <param name="Score">Its score and row counts, as NAB's <c>*_scores.csv</c> rows give them.</param>
/// <param name="NullScore">The null detector's score for the file (the file's share of the baseline).</param>
/// <param name="WindowsDetected">Windows with at least one detection after the probationary period.</param>
/// <param name="Detections">Rows at or above the threshold after the probationary period (NAB's TP + FP rows).</param>
/// <param name="DetectionsInProbation">Rows at or above the threshold inside the probationary period (not scored).</param>
internal sealed record FileOutcome(NabFile File, ThresholdScore Score, double NullScore, int WindowsDetected, int Detections, int DetectionsInProbation);

/// <summary>A detector's result under one profile: the corpus threshold, the raw total and its normalisation.</summary>
internal sealed record ProfileOutcome(Profile Profile, double Threshold, double Raw, double NullRaw, double Perfect, IReadOnlyList<FileOutcome> Files)
{
    /// <summary>100 × (raw − null) / (perfect − null): 0 for the null detector, 100 for the perfect one.</summary>
    public double Normalized => NabScorer.Normalize(Raw, NullRaw, Perfect);

    /// <summary>The normalised score of the files of one category, at the corpus threshold; NaN for a category without windows.</summary>
    public double CategoryNormalized(string category)
    {
        double raw = 0, nullRaw = 0, perfect = 0;
        foreach (var file in Files)
        {
            if (file.File.Category == category)
            {
                raw += file.Score.Score;
                nullRaw += file.NullScore;
                perfect += file.File.Windows.Count * Profile.TpWeight;
            }
        }

        return perfect - nullRaw == 0 ? double.NaN : NabScorer.Normalize(raw, nullRaw, perfect);
    }
}

/// <summary>Scores a detector's output over the corpus as NAB's runner does: optimise, score, normalise.</summary>
internal static class NabEvaluation
{
    /// <summary>
    /// The outcome of <paramref name="scores"/> (one array per file of <paramref name="corpus"/>, in its
    /// order) under <paramref name="profile"/>: at <paramref name="threshold"/> when given, else at the
    /// threshold NAB's optimiser picks over all the files.
    /// </summary>
    public static ProfileOutcome Evaluate(NabCorpus corpus, IReadOnlyList<double[]> scores, Profile profile, double? threshold = null)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(scores);
        var sweeps = Sweep(corpus, scores, profile);
        var chosen = threshold ?? NabScorer.Optimize(sweeps.SelectMany(s => s), profile).Threshold;

        // The null detector (the same score on every row) at its own optimised threshold: NAB's baseline.
        var nullScores = corpus.Files.Select(ReferenceDetectors.Null).ToArray();
        var nullSweeps = Sweep(corpus, nullScores, profile);
        var nullThreshold = NabScorer.Optimize(nullSweeps.SelectMany(s => s), profile).Threshold;

        var files = new List<FileOutcome>(corpus.Files.Count);
        double raw = 0, nullRaw = 0;
        for (var i = 0; i < corpus.Files.Count; i++)
        {
            var score = NabScorer.ScoreAt(sweeps[i], chosen, profile);
            var nullScore = NabScorer.ScoreAt(nullSweeps[i], nullThreshold, profile).Score;
            var detectedWindows = new HashSet<int>();
            int detections = 0, inProbation = 0;
            foreach (var row in sweeps[i])
            {
                if (row.AnomalyScore < chosen)
                {
                    continue;
                }

                if (row.Window == NabScorer.Probationary)
                {
                    inProbation++;
                    continue;
                }

                detections++;
                if (row.Window >= 0)
                {
                    detectedWindows.Add(row.Window);
                }
            }

            files.Add(new FileOutcome(corpus.Files[i], score, nullScore, detectedWindows.Count, detections, inProbation));
            raw += score.Score;
            nullRaw += nullScore;
        }

        var perfect = corpus.Files.Sum(f => f.Windows.Count) * profile.TpWeight;
        return new ProfileOutcome(profile, chosen, raw, nullRaw, perfect, files);
    }

    private static SweepRow[][] Sweep(NabCorpus corpus, IReadOnlyList<double[]> scores, Profile profile)
    {
        var sweeps = new SweepRow[corpus.Files.Count][];
        var windowId = 0;
        for (var i = 0; i < sweeps.Length; i++)
        {
            sweeps[i] = NabScorer.Sweep(corpus.Files[i], scores[i], profile, windowId);
            windowId += corpus.Files[i].Windows.Count;
        }

        return sweeps;
    }
}
