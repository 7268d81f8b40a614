using System.Globalization;
using Gantry.Nab;

// bench/nab.sh runs this: NAB's scoring of Gantry's streaming anomaly detector over ../shared/data/nab,
// after checking the scorer against NAB's published results. --help says more.
string? data = null;
string? write = null;
var detector = "gantry";
var check = true;
for (var i = 0; i < args.Length; i++)
{
    switch (args[i])
    {
        case "--data" when i + 1 < args.Length:
            data = args[++i];
            break;
        case "--detector" when i + 1 < args.Length:
            detector = args[++i];
            break;
        case "--write" when i + 1 < args.Length:
            write = args[++i];
            break;
        case "--no-check":
            check = false;
            break;
        case "-h" or "--help":
            Console.WriteLine("""
                Usage: Gantry.Nab [--data DIR] [--detector gantry|windowedGaussian|null|perfect] [--write DIR] [--no-check]

                Scores a detector on the Numenta Anomaly Benchmark files in DIR (default: ../shared/data/nab from
                the repository root) with NAB v1.1's scoring: sweep scores relative to the labelled windows, the
                probationary period, one threshold per profile optimised over all files, normalised against the
                null and the perfect detector. Prints a Markdown table per profile and per category, and the
                detections on the artificialNoAnomaly files.

                  --detector NAME  gantry (the default): Gantry's streaming detector, one instance per file;
                                   windowedGaussian, null, perfect: NAB's reference detectors
                  --write DIR      also write DIR/<category>/<file>.csv: timestamp,value,anomaly_score
                  --no-check       skip the scorer's checks (its own cases, the null and perfect detectors,
                                   and NAB's published windowedGaussian results)
                """);
            return 0;
        default:
            Console.Error.WriteLine($"Gantry.Nab: unknown argument '{args[i]}'. Run with --help for usage.");
            return 2;
    }
}

data ??= Path.GetFullPath(Path.Combine(FindRepositoryRoot(), "..", "shared", "data", "nab"));
NabCorpus corpus;
try
{
    corpus = NabCorpus.Load(data);
}
catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException or System.Text.Json.JsonException)
{
    Console.Error.WriteLine($"Gantry.Nab: cannot read the NAB corpus in {data}: {ex.Message}");
    return 2;
}

var report = new Report(Console.Out);
if (check)
{
    var failures = SelfCheck.Run(corpus, report);
    if (failures > 0)
    {
        Console.Error.WriteLine($"Gantry.Nab: {failures} scorer check(s) failed");
        return 1;
    }
}

Func<NabFile, double[]>? run = detector switch
{
    "gantry" => GantryDetector.Run,
    "windowedGaussian" => f => ReferenceDetectors.WindowedGaussian(f, symmetric: true),
    "null" => ReferenceDetectors.Null,
    "perfect" => ReferenceDetectors.Perfect,
    _ => null,
};
if (run is null)
{
    Console.Error.WriteLine($"Gantry.Nab: unknown detector '{detector}': expected gantry, windowedGaussian, null or perfect");
    return 2;
}

var scores = corpus.Files.Select(run).ToArray();
if (write is not null)
{
    for (var i = 0; i < corpus.Files.Count; i++)
    {
        var file = corpus.Files[i];
        var path = Path.Combine(write, file.RelativePath);
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        using var output = new StreamWriter(path) { NewLine = "\n" };
        output.WriteLine("timestamp,value,anomaly_score");
        for (var row = 0; row < scores[i].Length; row++)
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{file.Timestamps[row]:yyyy-MM-dd HH:mm:ss},{file.Values[row]:R},{scores[i][row]:R}"));
        }
    }
}

report.Results(detector, corpus, corpus.Profiles.Select(p => NabEvaluation.Evaluate(corpus, scores, p)).ToArray());
return 0;

static string FindRepositoryRoot()
{
    var directory = new DirectoryInfo(AppContext.BaseDirectory);
    while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Gantry.slnx")))
    {
        directory = directory.Parent;
    }

    return directory?.FullName ?? Directory.GetCurrentDirectory();
}
