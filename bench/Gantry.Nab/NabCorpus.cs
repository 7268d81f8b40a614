using System.Globalization;
using System.Text.Json;

namespace Gantry.Nab;

/// <summary>One labelled anomaly window: the timestamps of its first and last rows.</summary>
internal readonly record struct LabelWindow(DateTime Start, DateTime End);

/// <summary>One NAB data file: its rows in stream order and its labelled windows.</summary>
/// <param name="RelativePath">The path below <c>data/</c>, e.g. <c>realKnownCause/nyc_taxi.csv</c>: NAB's key for the file.</param>
/// <param name="Timestamps">Each row's timestamp (no time zone; read as UTC).</param>
/// <param name="Values">Each row's value.</param>
/// <param name="Windows">The labelled windows, in time order.</param>
internal sealed record NabFile(string RelativePath, DateTime[] Timestamps, double[] Values, IReadOnlyList<LabelWindow> Windows)
{
    /// <summary>The folder the file is in: NAB's category (<c>realKnownCause</c>).</summary>
    public string Category => RelativePath[..RelativePath.IndexOf('/', StringComparison.Ordinal)];
}

/// <summary>A scoring profile's weights (<c>config/profiles.json</c>; its <c>tnWeight</c> is not used by NAB's scoring).</summary>
internal sealed record Profile(string Name, double TpWeight, double FpWeight, double FnWeight);

/// <summary>
/// The NAB corpus as the folder <c>../shared/data/nab</c> holds it: <c>data/&lt;category&gt;/*.csv</c>,
/// <c>labels/combined_windows.json</c> and <c>config/profiles.json</c>.
/// </summary>
internal sealed class NabCorpus
{
    private NabCorpus(IReadOnlyList<NabFile> files, IReadOnlyList<Profile> profiles)
    {
        Files = files;
        Profiles = profiles;
    }

    /// <summary>Every labelled file, ordered by path.</summary>
    public IReadOnlyList<NabFile> Files { get; }

    /// <summary>The profiles in NAB's order: standard, reward_low_FP_rate, reward_low_FN_rate.</summary>
    public IReadOnlyList<Profile> Profiles { get; }

    /// <summary>Reads the corpus below <paramref name="root"/>; throws <see cref="InvalidDataException"/> naming the file and line of what is wrong.</summary>
    public static NabCorpus Load(string root)
    {
        var labelsPath = Path.Combine(root, "labels", "combined_windows.json");
        var profilesPath = Path.Combine(root, "config", "profiles.json");
        using var labels = JsonDocument.Parse(File.ReadAllBytes(labelsPath));
        var files = new List<NabFile>();
        foreach (var entry in labels.RootElement.EnumerateObject().OrderBy(e => e.Name, StringComparer.Ordinal))
        {
            var windows = new List<LabelWindow>();
            foreach (var window in entry.Value.EnumerateArray())
            {
                windows.Add(new LabelWindow(ParseLabelTime(window[0].GetString(), labelsPath), ParseLabelTime(window[1].GetString(), labelsPath)));
            }

            var (timestamps, values) = ReadSeries(Path.Combine(root, "data", entry.Name));
            files.Add(new NabFile(entry.Name, timestamps, values, windows));
        }

        using var profilesJson = JsonDocument.Parse(File.ReadAllBytes(profilesPath));
        var profiles = new List<Profile>();
        foreach (var name in (string[])["standard", "reward_low_FP_rate", "reward_low_FN_rate"])
        {
            var costs = profilesJson.RootElement.GetProperty(name).GetProperty("CostMatrix");
            profiles.Add(new Profile(name, costs.GetProperty("tpWeight").GetDouble(), costs.GetProperty("fpWeight").GetDouble(), costs.GetProperty("fnWeight").GetDouble()));
        }

        return new NabCorpus(files, profiles);
    }

    /// <summary>Reads a <c>timestamp,value</c> file as NAB writes them.</summary>
    public static (DateTime[] Timestamps, double[] Values) ReadSeries(string path)
    {
        var timestamps = new List<DateTime>();
        var values = new List<double>();
        using var reader = new StreamReader(path);
        var header = reader.ReadLine();
        if (header != "timestamp,value")
        {
            throw new InvalidDataException($"{path}:1: expected the header 'timestamp,value', got '{header}'");
        }

        var line = 1;
        while (reader.ReadLine() is { } text)
        {
            line++;
            if (text.Length == 0)
            {
                continue;
            }

            var comma = text.IndexOf(',', StringComparison.Ordinal);
            if (comma < 0
                || !DateTime.TryParseExact(text.AsSpan(0, comma), "yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var timestamp)
                || !double.TryParse(text.AsSpan(comma + 1), NumberStyles.Float, CultureInfo.InvariantCulture, out var value))
            {
                throw new InvalidDataException($"{path}:{line}: expected 'YYYY-MM-DD HH:MM:SS,number', got '{text}'");
            }

            timestamps.Add(timestamp);
            values.Add(value);
        }

        return ([.. timestamps], [.. values]);
    }

    private static DateTime ParseLabelTime(string? text, string path) =>
        DateTime.TryParseExact(text, "yyyy-MM-dd HH:mm:ss.ffffff", CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal, out var time)
            ? time
            : throw new InvalidDataException($"{path}: expected a window end such as '2014-04-10 07:15:00.000000', got '{text}'");
}
