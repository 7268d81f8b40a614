using System.Text;

namespace Gantry.Cli.Output;

/// <summary>One column of a <see cref="Table"/>.</summary>
/// <param name="Header">Upper-case title.</param>
/// <param name="MaxWidth">Longer cells are cut with an ellipsis.</param>
/// <param name="MinWidth">
/// When a row does not fit, the column may be cut down to this width (never below its header); 0 keeps it whole.
/// </param>
/// <param name="Flexible">Free text (labels, reasons): no maximum, and cut first when a row does not fit.</param>
/// <param name="AlignRight">Numbers read better right-aligned.</param>
internal sealed record Column(string Header, int MaxWidth = 24, int MinWidth = 0, bool Flexible = false, bool AlignRight = false);

/// <summary>
/// A fixed-width text table: columns as wide as their widest cell (within their maximum), two spaces
/// between columns, no trailing spaces. When a row would be wider than the table may be, the flexible
/// column is cut first, then the widest of the columns that may shrink, one character at a time.
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
        var widths = Widths(width);
        var line = new StringBuilder(width);
        WriteRow(writer, line, widths, Array.ConvertAll(columns, static c => c.Header));
        foreach (var row in _rows)
        {
            WriteRow(writer, line, widths, row);
        }
    }

    private int[] Widths(int width)
    {
        var widths = new int[columns.Length];
        var total = Gap.Length * (columns.Length - 1);
        for (var c = 0; c < columns.Length; c++)
        {
            var natural = columns[c].Header.Length;
            foreach (var row in _rows)
            {
                natural = Math.Max(natural, row[c].Length);
            }

            widths[c] = columns[c].Flexible ? natural : Math.Max(columns[c].Header.Length, Math.Min(natural, columns[c].MaxWidth));
            total += widths[c];
        }

        var overflow = total - width;
        for (var c = 0; c < columns.Length && overflow > 0; c++)
        {
            if (columns[c].Flexible)
            {
                var cut = Math.Min(overflow, widths[c] - Math.Max(columns[c].Header.Length, columns[c].MinWidth));
                if (cut > 0)
                {
                    widths[c] -= cut;
                    overflow -= cut;
                }
            }
        }

        while (overflow > 0)
        {
            // Cut the widest column that may still shrink; when none may, the row stays wider than asked.
            var widest = -1;
            for (var c = 0; c < columns.Length; c++)
            {
                var floor = Math.Max(columns[c].Header.Length, columns[c].MinWidth);
                if (!columns[c].Flexible && columns[c].MinWidth > 0 && widths[c] > floor && (widest < 0 || widths[c] > widths[widest]))
                {
                    widest = c;
                }
            }

            if (widest < 0)
            {
                break;
            }

            widths[widest]--;
            overflow--;
        }

        return widths;
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
