namespace Gantry.Cli;

/// <summary>
/// What a client command touches outside itself: its input and output streams, the environment and the clock.
/// The real one is the process's, resolved on first use; tests pass readers, writers and a dictionary.
/// </summary>
internal sealed class CliContext
{
    private readonly Func<TextWriter> _output;
    private readonly Func<TextWriter> _error;
    private readonly Func<TextReader> _input;
    private readonly Func<int> _tableWidth;
    private int _width;

    public CliContext(TextWriter output, TextWriter error, Func<string, string?> getEnvironmentVariable, TimeProvider timeProvider, int tableWidth = 80, TextReader? input = null)
        : this(() => output, () => error, () => input ?? TextReader.Null, getEnvironmentVariable, timeProvider, () => tableWidth)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(error);
    }

    private CliContext(Func<TextWriter> output, Func<TextWriter> error, Func<TextReader> input, Func<string, string?> getEnvironmentVariable, TimeProvider timeProvider, Func<int> tableWidth)
    {
        ArgumentNullException.ThrowIfNull(getEnvironmentVariable);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _output = output;
        _error = error;
        _input = input;
        _tableWidth = tableWidth;
        GetEnvironmentVariable = getEnvironmentVariable;
        TimeProvider = timeProvider;
    }

    /// <summary>Where results go (stdout).</summary>
    public TextWriter Output => _output();

    /// <summary>Where errors and progress go (stderr).</summary>
    public TextWriter Error => _error();

    /// <summary>What a command reads when given <c>-</c> for a file (stdin).</summary>
    public TextReader Input => _input();

    /// <summary>Reads an environment variable; null when unset.</summary>
    public Func<string, string?> GetEnvironmentVariable { get; }

    /// <summary>The clock for ages ("3s ago") and wait back-off.</summary>
    public TimeProvider TimeProvider { get; }

    /// <summary>How wide tables may be: 80 columns, or the terminal's width when it is wider.</summary>
    public int TableWidth => _width > 0 ? _width : _width = _tableWidth();

    /// <summary>The process's console, environment and clock; nothing is touched until a command runs.</summary>
    public static CliContext FromProcess() =>
        new(static () => Console.Out, static () => Console.Error, static () => Console.In, Environment.GetEnvironmentVariable, TimeProvider.System, TerminalWidth);

    private static int TerminalWidth()
    {
        if (Console.IsOutputRedirected)
        {
            return 80;
        }

        try
        {
            return Math.Max(80, Console.WindowWidth);
        }
        catch (IOException)
        {
            // No terminal after all (a detached session): keep 80 columns.
            return 80;
        }
    }
}
