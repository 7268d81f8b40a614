namespace Gantry.Server.Alerts.Rules;

/// <summary>Where a rule group came from.</summary>
internal enum RuleOrigin
{
    /// <summary>Gantry's default rules (<see cref="BuiltInRules"/>), each switchable off.</summary>
    BuiltIn,

    /// <summary>The server's <c>--rules FILE</c>, reloaded when it changes.</summary>
    File,

    /// <summary>Added through the API or <c>gantry alerts rules add</c>, kept in the store.</summary>
    Api,
}

/// <summary>A named group of alerting rules, as in a Prometheus rule file.</summary>
/// <param name="Name">Unique among the server's groups.</param>
/// <param name="Interval">The group's <c>interval</c> when the file gave one; Gantry evaluates every group at the server's <c>--alert-interval</c>.</param>
/// <param name="Rules">The alerting rules, in file order.</param>
/// <param name="Origin">Where the group came from.</param>
internal sealed record RuleGroup(string Name, TimeSpan? Interval, IReadOnlyList<AlertRule> Rules, RuleOrigin Origin);

/// <summary>One alerting rule (<c>alert</c>, <c>expr</c>, <c>for</c>, <c>keep_firing_for</c>, <c>labels</c>, <c>annotations</c>).</summary>
internal sealed record AlertRule
{
    /// <summary>The alert's name (<c>alertname</c>), a valid Prometheus metric name.</summary>
    public required string Name { get; init; }

    /// <summary>The expression as written.</summary>
    public required string ExprText { get; init; }

    /// <summary>The parsed expression.</summary>
    public required AlertExpr Expr { get; init; }

    /// <summary>How long a result must persist before the alert fires (pending until then).</summary>
    public TimeSpan For { get; init; }

    /// <summary>How long a firing alert keeps firing after its result is gone.</summary>
    public TimeSpan KeepFiringFor { get; init; }

    /// <summary>Labels added to every alert of the rule (templates allowed).</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>Annotations (templates with <c>{{ $labels.x }}</c> and <c>{{ $value }}</c>).</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();
}
