namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// A rule, rule file, expression or template Gantry refuses, with where: <see cref="Line"/> and
/// <see cref="Column"/> (1-based) in the YAML document, or only <see cref="Column"/> in a lone expression.
/// The message starts with the position, e.g. <c>line 7, column 15: unexpected "(" …</c>.
/// </summary>
internal sealed class AlertRuleException : Exception
{
    public AlertRuleException(string problem, int? line, int? column)
        : base(Position(line, column) + problem)
    {
        Problem = problem;
        Line = line;
        Column = column;
    }

    /// <summary>What is wrong, without the position.</summary>
    public string Problem { get; }

    /// <summary>1-based line in the YAML document; null for a lone expression.</summary>
    public int? Line { get; }

    /// <summary>1-based column (in the line, or in the lone expression).</summary>
    public int? Column { get; }

    private static string Position(int? line, int? column) => (line, column) switch
    {
        ({ } l, { } c) => $"line {l}, column {c}: ",
        ({ } l, null) => $"line {l}: ",
        (null, { } c) => $"column {c}: ",
        _ => "",
    };
}
