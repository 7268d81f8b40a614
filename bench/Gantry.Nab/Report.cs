using System.Globalization;

namespace Gantry.Nab;

/// <summary>Writes the results as Markdown tables (what docs/anomalies.md quotes), invariant culture, <c>\n</c> line ends.</summary>
internal sealed class Report(TextWriter output)
{
    private const string NoAnomalyCategory = "artificialNoAnomaly";

    public void Line(string text) => output.Write(text + "\n");

    /// <summary>Six significant digits, or all of them where six would round a threshold just below 1 up to 1.</summary>
    private static string Threshold(double value) =>
        value.ToString(value is < 1 and >= 0.9999995 ? "R" : "G6", CultureInfo.InvariantCulture);

    public void Line(FormattableString text) => Line(text.ToString(CultureInfo.InvariantCulture));

    /// <summary>The profile table, the category table and the detections on the files without anomalies.</summary>
    public void Results(string detector, NabCorpus corpus, IReadOnlyList<ProfileOutcome> outcomes)
    {
        ArgumentNullException.ThrowIfNull(corpus);
        ArgumentNullException.ThrowIfNull(outcomes);
        var windows = corpus.Files.Sum(f => f.Windows.Count);
        var rows = corpus.Files.Sum(f => f.Values.Length);
        Line($"");
        Line($"## NAB score of '{detector}': {corpus.Files.Count} files, {rows:N0} rows, {windows} windows");
        Line($"");
        Line($"| profile | threshold | raw score | null | perfect | windows detected | false positives | score |");
        Line($"| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var outcome in outcomes)
        {
            var detected = outcome.Files.Sum(f => f.WindowsDetected);
            var falsePositives = outcome.Files.Sum(f => f.Score.Fp);
            Line($"| {outcome.Profile.Name} | {Threshold(outcome.Threshold)} | {outcome.Raw:F2} | {outcome.NullRaw:F2} | {outcome.Perfect:F2} | {detected} of {windows} | {falsePositives} | **{outcome.Normalized:F1}** |");
        }

        Line($"");
        Line($"Per category, at each profile's corpus threshold (normalised over the category's own windows; detections and false positives under the standard profile):");
        Line($"");
        Line($"| category | files | windows | detected | false positives | {string.Join(" | ", outcomes.Select(o => o.Profile.Name))} |");
        Line($"| --- | ---: | ---: | ---: | ---: | {string.Join(" | ", outcomes.Select(_ => "---:"))} |");
        var standard = outcomes[0];
        foreach (var category in corpus.Files.Select(f => f.Category).Distinct())
        {
            var files = standard.Files.Where(f => f.File.Category == category).ToArray();
            var scores = outcomes.Select(o => o.CategoryNormalized(category)).Select(s => double.IsNaN(s) ? "n/a" : s.ToString("F1", CultureInfo.InvariantCulture));
            Line($"| {category} | {files.Length} | {files.Sum(f => f.File.Windows.Count)} | {files.Sum(f => f.WindowsDetected)} | {files.Sum(f => f.Score.Fp)} | {string.Join(" | ", scores)} |");
        }

        Line($"| all | {corpus.Files.Count} | {windows} | {standard.Files.Sum(f => f.WindowsDetected)} | {standard.Files.Sum(f => f.Score.Fp)} | {string.Join(" | ", outcomes.Select(o => o.Normalized.ToString("F1", CultureInfo.InvariantCulture)))} |");

        var quiet = standard.Files.Where(f => f.File.Category == NoAnomalyCategory).ToArray();
        Line($"");
        Line($"Detections on the {quiet.Length} {NoAnomalyCategory} files (rows at or above the standard threshold {Threshold(standard.Threshold)}): {quiet.Sum(f => f.Detections)} after the probationary period, {quiet.Sum(f => f.DetectionsInProbation)} inside it.");
        foreach (var file in quiet.Where(f => f.Detections + f.DetectionsInProbation > 0))
        {
            Line($"  {file.File.RelativePath}: {file.Detections} scored, {file.DetectionsInProbation} in probation");
        }

        Line($"");
        Line($"Per file (standard profile):");
        Line($"");
        Line($"| file | windows | detected | false positives | score | null |");
        Line($"| --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var file in standard.Files)
        {
            Line($"| {file.File.RelativePath} | {file.File.Windows.Count} | {file.WindowsDetected} | {file.Score.Fp} | {file.Score.Score:F3} | {file.NullScore:F1} |");
        }
    }
}
