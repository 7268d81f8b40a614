namespace Gantry.Cli.Output;

/// <summary>The <c>show</c> view: <c>Key:  value</c> lines with the values aligned.</summary>
internal sealed class KeyValueWriter
{
    private readonly List<(string Key, string Value)> _pairs = [];

    public KeyValueWriter Add(string key, string? value)
    {
        _pairs.Add((key, string.IsNullOrEmpty(value) ? "-" : value));
        return this;
    }

    /// <summary>Adds the line only when there is a value (for what most records lack, such as a deadline).</summary>
    public KeyValueWriter AddIfPresent(string key, string? value) =>
        string.IsNullOrEmpty(value) ? this : Add(key, value);

    public void Write(TextWriter writer)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var width = 0;
        foreach (var (key, _) in _pairs)
        {
            width = Math.Max(width, key.Length + 1);
        }

        foreach (var (key, value) in _pairs)
        {
            writer.Write((key + ":").PadRight(width + 2));
            writer.Write(value);
            writer.Write('\n');
        }
    }
}
