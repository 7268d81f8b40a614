using System.Text.RegularExpressions;

namespace Gantry.Server.Alerts.Rules;

/// <summary>
/// An alert rule's <c>expr</c>: the PromQL subset Gantry evaluates (<see cref="PromQlParser"/>). Each node's
/// <see cref="object.ToString"/> writes it back as PromQL that Prometheus parses to the same meaning.
/// </summary>
internal abstract record AlertExpr;

/// <summary>An instant-vector selector: <c>gantry_gpu_temperature_celsius{node="a", gpu!="3"}</c>.</summary>
internal sealed record SelectorExpr(string Metric, IReadOnlyList<LabelMatcher> Matchers) : AlertExpr
{
    /// <summary>Equal metric and matchers, in order (a record would compare the list by reference).</summary>
    public bool Equals(SelectorExpr? other) =>
        other is not null && string.Equals(Metric, other.Metric, StringComparison.Ordinal) && Matchers.SequenceEqual(other.Matchers);

    public override int GetHashCode() => HashCode.Combine(Metric, Matchers.Count);

    public override string ToString() =>
        Matchers.Count == 0 ? Metric : Metric + "{" + string.Join(", ", Matchers) + "}";
}

/// <summary><c>min|max|avg|sum by (labels) (inner)</c>; <see cref="By"/> empty aggregates everything into one sample.</summary>
internal sealed record AggregateExpr(AggregateOp Op, IReadOnlyList<string> By, AlertExpr Inner) : AlertExpr
{
    /// <summary>Equal operation, grouping labels (in order) and argument (a record would compare the list by reference).</summary>
    public bool Equals(AggregateExpr? other) =>
        other is not null && Op == other.Op && By.SequenceEqual(other.By, StringComparer.Ordinal) && Inner.Equals(other.Inner);

    public override int GetHashCode() => HashCode.Combine(Op, By.Count, Inner);

    public override string ToString() =>
        Op.ToString().ToLowerInvariant() + (By.Count == 0 ? "" : " by (" + string.Join(", ", By) + ")") + " (" + Inner + ")";
}

/// <summary><c>inner OP number</c>: keeps the samples for which the comparison holds (PromQL's filter, not <c>bool</c>).</summary>
internal sealed record CompareExpr(AlertExpr Inner, CompareOp Op, double Threshold) : AlertExpr
{
    public override string ToString() => Inner + " " + Symbol(Op) + " " + Number(Threshold);

    /// <summary>PromQL's spelling of <paramref name="op"/>.</summary>
    public static string Symbol(CompareOp op) => op switch
    {
        CompareOp.Greater => ">",
        CompareOp.GreaterOrEqual => ">=",
        CompareOp.Less => "<",
        CompareOp.LessOrEqual => "<=",
        CompareOp.Equal => "==",
        _ => "!=",
    };

    /// <summary>A number as PromQL reads it back exactly (round-trip, <c>Inf</c>, <c>NaN</c>).</summary>
    public static string Number(double value) =>
        double.IsPositiveInfinity(value) ? "+Inf" : double.IsNegativeInfinity(value) ? "-Inf" : double.IsNaN(value) ? "NaN" : value.ToString("R", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary><c>absent(selector)</c>: one sample of value 1 when the selector finds nothing, labelled with its equality matchers.</summary>
internal sealed record AbsentExpr(SelectorExpr Selector) : AlertExpr
{
    public override string ToString() => "absent(" + Selector + ")";
}

/// <summary>The aggregations the subset has.</summary>
internal enum AggregateOp
{
    Min,
    Max,
    Avg,
    Sum,
}

/// <summary>The comparisons the subset has.</summary>
internal enum CompareOp
{
    Greater,
    GreaterOrEqual,
    Less,
    LessOrEqual,
    Equal,
    NotEqual,
}

/// <summary>How a matcher compares a label's value.</summary>
internal enum MatchOp
{
    /// <summary><c>=</c></summary>
    Equal,

    /// <summary><c>!=</c></summary>
    NotEqual,

    /// <summary><c>=~</c>, a regular expression anchored at both ends (as PromQL's).</summary>
    Regex,

    /// <summary><c>!~</c></summary>
    NotRegex,
}

/// <summary>One label matcher of a selector; a missing label matches as the empty string (as in PromQL).</summary>
internal sealed record LabelMatcher
{
    private readonly Regex? _regex;

    public LabelMatcher(string name, MatchOp op, string value)
    {
        Name = name;
        Op = op;
        Value = value;
        if (op is MatchOp.Regex or MatchOp.NotRegex)
        {
            // Throws ArgumentException for a bad pattern (NotSupportedException for a construct the
            // non-backtracking engine lacks); the parser turns either into a positioned error. Anchored at
            // both ends (\z: "$" would also match before a final newline); "." does not match a newline, as
            // in RE2; and matching takes linear time, as RE2's, so no rule or silence can stall an evaluation.
            _regex = new Regex("^(?:" + value + ")\\z", RegexOptions.CultureInvariant | RegexOptions.NonBacktracking);
        }
    }

    public string Name { get; }

    public MatchOp Op { get; }

    public string Value { get; }

    /// <summary>Equal name, operation and value (the compiled pattern follows from them).</summary>
    public bool Equals(LabelMatcher? other) =>
        other is not null && Op == other.Op && string.Equals(Name, other.Name, StringComparison.Ordinal) && string.Equals(Value, other.Value, StringComparison.Ordinal);

    public override int GetHashCode() => HashCode.Combine(Name, Op, Value);

    /// <summary>True when <paramref name="labelValue"/> (the label's value, "" when absent) passes.</summary>
    public bool Matches(string labelValue) => Op switch
    {
        MatchOp.Equal => string.Equals(labelValue, Value, StringComparison.Ordinal),
        MatchOp.NotEqual => !string.Equals(labelValue, Value, StringComparison.Ordinal),
        MatchOp.Regex => _regex!.IsMatch(labelValue),
        _ => !_regex!.IsMatch(labelValue),
    };

    public override string ToString() =>
        Name + (Op switch { MatchOp.Equal => "=", MatchOp.NotEqual => "!=", MatchOp.Regex => "=~", _ => "!~" })
        + "\"" + Value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal) + "\"";
}
