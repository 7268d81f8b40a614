using Gantry.Server.Alerts.Rules;

namespace Gantry.Server.Alerts.Evaluation;

/// <summary>One sample of an instant vector: a series' labels (<c>__name__</c> included) and its value now.</summary>
internal readonly record struct AlertSample(LabelSet Labels, double Value);

/// <summary>Where an evaluation reads the series of a metric name, as they stand now.</summary>
internal interface IAlertSeriesSource
{
    /// <summary>Every series named <paramref name="metric"/> (labels include <c>__name__</c>); empty when none.</summary>
    IReadOnlyList<AlertSample> Series(string metric);

    /// <summary>
    /// The series named <paramref name="metric"/> whose value <paramref name="value"/> and whose labels
    /// <paramref name="labels"/> keep (either null: all); a source may filter as it builds them, the value first.
    /// </summary>
    IReadOnlyList<AlertSample> Series(string metric, Func<double, bool>? value, Func<LabelSet, bool>? labels) =>
        [.. Series(metric).Where(s => (value is null || value(s.Value)) && (labels is null || labels(s.Labels)))];
}

/// <summary>Evaluates an <see cref="AlertExpr"/> to an instant vector, with PromQL's semantics for the subset.</summary>
internal static class ExprEvaluator
{
    public static List<AlertSample> Evaluate(AlertExpr expr, IAlertSeriesSource source) => expr switch
    {
        SelectorExpr selector => Select(selector, source, null),
        CompareExpr { Inner: SelectorExpr selector } compare => Select(selector, source, compare),
        CompareExpr compare => Compare(compare, source),
        AggregateExpr aggregate => Aggregate(aggregate, source),
        AbsentExpr absent => Absent(absent, source),
        _ => throw new ArgumentException($"unknown expression {expr.GetType().Name}", nameof(expr)),
    };

    // The selector's matchers, and a comparison with a number right on it, are handed to the source as
    // one filter: it keeps only the samples that pass as it builds them.
    private static List<AlertSample> Select(SelectorExpr selector, IAlertSeriesSource source, CompareExpr? compare)
    {
        var kept = source.Series(
            selector.Metric,
            compare is null ? null : value => Holds(value, compare.Op, compare.Threshold),
            selector.Matchers.Count == 0 ? null : labels => Matches(selector, labels));
        return kept as List<AlertSample> ?? [.. kept];
    }

    private static bool Matches(SelectorExpr selector, LabelSet labels)
    {
        foreach (var matcher in selector.Matchers)
        {
            if (!matcher.Matches(labels.Get(matcher.Name)))
            {
                return false;
            }
        }

        return true;
    }

    // A comparison with a scalar filters and keeps the samples' labels (the metric name too, as
    // Prometheus does; an alert drops it anyway).
    private static List<AlertSample> Compare(CompareExpr compare, IAlertSeriesSource source)
    {
        var inner = Evaluate(compare.Inner, source);
        inner.RemoveAll(s => !Holds(s.Value, compare.Op, compare.Threshold));
        return inner;
    }

    public static bool Holds(double value, CompareOp op, double threshold) => op switch
    {
        CompareOp.Greater => value > threshold,
        CompareOp.GreaterOrEqual => value >= threshold,
        CompareOp.Less => value < threshold,
        CompareOp.LessOrEqual => value <= threshold,
        CompareOp.Equal => value == threshold,
        _ => value != threshold,
    };

    private static List<AlertSample> Aggregate(AggregateExpr aggregate, IAlertSeriesSource source)
    {
        var groups = new Dictionary<LabelSet, (double Value, int Count)>();
        var order = new List<LabelSet>();
        foreach (var sample in Evaluate(aggregate.Inner, source))
        {
            var key = sample.Labels.Keep(aggregate.By);
            if (!groups.TryGetValue(key, out var acc))
            {
                order.Add(key);
                groups[key] = (sample.Value, 1);
                continue;
            }

            // As Prometheus: min and max replace a NaN with any number; sum and avg add.
            var value = aggregate.Op switch
            {
                AggregateOp.Min => acc.Value > sample.Value || double.IsNaN(acc.Value) ? sample.Value : acc.Value,
                AggregateOp.Max => acc.Value < sample.Value || double.IsNaN(acc.Value) ? sample.Value : acc.Value,
                _ => acc.Value + sample.Value,
            };
            groups[key] = (value, acc.Count + 1);
        }

        var result = new List<AlertSample>(order.Count);
        foreach (var key in order)
        {
            var (value, count) = groups[key];
            result.Add(new AlertSample(key, aggregate.Op == AggregateOp.Avg ? value / count : value));
        }

        return result;
    }

    // absent(sel): 1 with the selector's equality matchers as labels when it selects nothing.
    private static List<AlertSample> Absent(AbsentExpr absent, IAlertSeriesSource source)
    {
        if (Select(absent.Selector, source, null).Count > 0)
        {
            return [];
        }

        var labels = new List<KeyValuePair<string, string>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var repeated = new HashSet<string>(StringComparer.Ordinal);
        foreach (var matcher in absent.Selector.Matchers)
        {
            if (!seen.Add(matcher.Name))
            {
                repeated.Add(matcher.Name);
            }
        }

        foreach (var matcher in absent.Selector.Matchers)
        {
            if (matcher.Op == MatchOp.Equal && !repeated.Contains(matcher.Name) && matcher.Name != LabelSet.MetricName)
            {
                labels.Add(new(matcher.Name, matcher.Value));
            }
        }

        return [new AlertSample(LabelSet.Of(labels), 1)];
    }
}
