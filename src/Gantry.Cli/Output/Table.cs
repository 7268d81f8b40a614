using System.Text;

namespace Gantry.Cli.Output;

/// <summary>One column of a <see cref="Table"/>.</summary>
/// <param name="Header">Upper-case title.</param>
/// <param name="MaxWidth">Longer cells are cut with an ellipsis.</param>
/// <param name="Flexible">Takes what is left of the table width (at most one column, usually the last).</param>
/// <param name="AlignRight">Numbers read better right-aligned.</param>
internal sealed record Column(string Header, int MaxWidth = 24, bool Flexible = false, bool AlignRight = false);

/// <summary>
/// A fixed-width text table: columns as wide as their widest cell (within their maximum), two spaces
/// between columns, the flexible column cut so a row fits the width. No trailing spaces.
/// </summary>
internal sealed class Table(params Column[] columns)
{
    private const string Gap = "  ";
    private readonly List<string[]> _rows = [];

    public int RowCount => _rows.Count;

    public void AddRow(params string[] cells)
    {
        ArgumentNullException.ThrowIfNull(cells);
        if (cells.Length != columns.Length)
        {
            throw new ArgumentException($"expected {columns.Length} cells, got {cells.Length}", nameof(cells));
        }

        _rows.Add(cells);
    }

    public void Write(TextWriter writer, int width)
    {
        ArgumentNullException.ThrowIfNull(writer);
        var widths = new int[columns.Length];
        var fixedTotal = Gap.Length * (columns.Length - 1);
        var flexible = -1;
        for (var c = 0; c < columns.Length; c++)
        {
            var natural = columns[c].Header.Length;
            foreach (var row in _rows)
            {
                natural = Math.Max(natural, row[c].Length);
            }

            if (columns[c].Flexible)
            {
                flexible = c;
                widths[c] = natural;
            }
            else
            {
                widths[c] = Math.Max(columns[c].Header.Length, Math.Min(natural, columns[c].MaxWidth));
                fixedTotal += widths[c];
            }
        }

        if (flexible >= 0)
        {
            // The flexible column never gets narrower than its header, even when that overflows the width.
            widths[flexible] = Math.Max(columns[flexible].Header.Length, Math.Min(widths[flexible], width - fixedTotal));
        }

        var line = new StringBuilder(width);
        WriteRow(writer, line, widths, Array.ConvertAll(columns, static c => c.Header));
        foreach (var row in _rows)
        {
            WriteRow(writer, line, widths, row);
        }
    }

    private void WriteRow(TextWriter writer, StringBuilder line, int[] widths, string[] cells)
    {
        line.Clear();
        for (var c = 0; c < cells.Length; c++)
        {
            if (c > 0)
            {
                line.Append(Gap);
            }

            var cell = Fit(cells[c], widths[c]);
            var padding = widths[c] - cell.Length;
            if (columns[c].AlignRight)
            {
                line.Append(' ', padding).Append(cell);
            }
            else
            {
                line.Append(cell).Append(' ', padding);
            }
        }

        var length = line.Length;
        while (length > 0 && line[length - 1] == ' ')
        {
            length--;
        }

        line.Length = length;
        writer.Write(line.Append('\n'));
    }

    /// <summary>Cuts a cell to a width with a trailing ellipsis.</summary>
    internal static string Fit(string cell, int width) =>
        cell.Length <= width ? cell : width <= 1 ? cell[..width] : string.Concat(cell.AsSpan(0, width - 1), "…");
}
