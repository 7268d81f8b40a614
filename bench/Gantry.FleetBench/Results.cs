using System.Globalization;

namespace Gantry.FleetBench;

/// <summary>
/// The run's figures as <c>phase.key=value</c> lines, in the order they were found: bench/fleet.sh
/// reads them into its table. Numbers are invariant-culture, without thousands separators.
/// </summary>
internal sealed class Results
{
    private readonly List<string> _lines = [];
    private readonly Lock _lock = new();

    public void Add(string phase, string key, double value, string format) => Add(phase, key, value.ToString(format, CultureInfo.InvariantCulture));

    public void Add(string phase, string key, long value) => Add(phase, key, value.ToString(CultureInfo.InvariantCulture));

    public void Add(string phase, string key, string value)
    {
        var line = $"{phase}.{key}={value.ReplaceLineEndings(" ")}";
        lock (_lock)
        {
            _lines.Add(line);
        }

        Console.Error.WriteLine($"  {line}");
    }

    public async Task WriteAsync(string? path, CancellationToken cancellationToken)
    {
        string[] lines;
        lock (_lock)
        {
            lines = [.. _lines];
        }

        if (path is null)
        {
            foreach (var line in lines)
            {
                Console.WriteLine(line);
            }

            return;
        }

        await File.WriteAllLinesAsync(path, lines, cancellationToken).ConfigureAwait(false);
    }
}
