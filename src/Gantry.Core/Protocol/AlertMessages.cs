using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary><c>GET /api/v1/alerts</c>: every alert that is pending or firing now, and those resolved in the last 15 minutes.</summary>
public sealed record AlertsResponse
{
    /// <summary>When the rules were last evaluated; null before the first evaluation.</summary>
    public DateTimeOffset? EvaluatedAt { get; init; }

    /// <summary>The alerts, firing first, then pending, then resolved; newest first within each.</summary>
    public required IReadOnlyList<AlertInfo> Alerts { get; init; }
}

/// <summary>One alert: a rule's result for one label set.</summary>
public sealed record AlertInfo
{
    /// <summary>The rule's name (<c>alertname</c>).</summary>
    public required string Name { get; init; }

    /// <summary>The rule group's name.</summary>
    public required string Group { get; init; }

    /// <summary>pending, firing or resolved.</summary>
    public required AlertState State { get; init; }

    /// <summary>The alert's labels (alertname, the series' labels, the rule's labels).</summary>
    public required IReadOnlyDictionary<string, string> Labels { get; init; }

    /// <summary>The expanded annotations.</summary>
    public required IReadOnlyDictionary<string, string> Annotations { get; init; }

    /// <summary>The expression's value at the last evaluation that had the alert.</summary>
    public required double Value { get; init; }

    /// <summary>When the expression first had this label set (the alert became pending).</summary>
    public required DateTimeOffset ActiveAt { get; init; }

    /// <summary>When it started firing; null while pending.</summary>
    public DateTimeOffset? FiredAt { get; init; }

    /// <summary>When it resolved; null while pending or firing.</summary>
    public DateTimeOffset? ResolvedAt { get; init; }

    /// <summary>The ids of the silences that hold its delivery back; empty when it is delivered.</summary>
    public IReadOnlyList<string> SilencedBy { get; init; } = [];

    /// <summary>A stable id of the alert's label set.</summary>
    public required string Fingerprint { get; init; }
}

/// <summary>An alert's state. Serialized in camelCase.</summary>
[JsonConverter(typeof(CamelCaseEnumConverter<AlertState>))]
public enum AlertState
{
    /// <summary>The expression holds, for less than the rule's <c>for</c>.</summary>
    Pending,

    /// <summary>The expression has held for the rule's <c>for</c> (or it keeps firing for its <c>keep_firing_for</c>).</summary>
    Firing,

    /// <summary>It fired, and no longer does.</summary>
    Resolved,
}

/// <summary><c>GET /api/v1/alerts/rules</c>: every rule group the server evaluates, built-in ones included.</summary>
public sealed record AlertRulesResponse
{
    /// <summary>The groups: built-in, then the rules file's, then those added through the API.</summary>
    public required IReadOnlyList<AlertRuleGroupInfo> Groups { get; init; }

    /// <summary>The rules file (<c>--rules</c>), when one is set.</summary>
    public string? RulesFile { get; init; }

    /// <summary>Why the rules file could not be (re)loaded, with its position; null when it loaded (the last good rules stay in use).</summary>
    public string? RulesFileError { get; init; }
}

/// <summary>One rule group.</summary>
public sealed record AlertRuleGroupInfo
{
    /// <summary>The group's name.</summary>
    public required string Name { get; init; }

    /// <summary>builtIn, file or api.</summary>
    public required string Origin { get; init; }

    /// <summary>The rules.</summary>
    public required IReadOnlyList<AlertRuleInfo> Rules { get; init; }
}

/// <summary>One alerting rule.</summary>
public sealed record AlertRuleInfo
{
    /// <summary>The alert's name.</summary>
    public required string Name { get; init; }

    /// <summary>The expression.</summary>
    public required string Expr { get; init; }

    /// <summary>The rule's <c>for</c> in seconds.</summary>
    public double ForSeconds { get; init; }

    /// <summary>The rule's <c>keep_firing_for</c> in seconds (at least the server's <c>--alert-resolve-after</c>).</summary>
    public double KeepFiringForSeconds { get; init; }

    /// <summary>The rule's labels.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>The rule's annotations (unexpanded templates).</summary>
    public IReadOnlyDictionary<string, string> Annotations { get; init; } = new Dictionary<string, string>();

    /// <summary>False for a built-in rule switched off (<c>--disable-rule</c>); it is listed, not evaluated.</summary>
    public bool Enabled { get; init; } = true;

    /// <summary>Alerts of this rule firing now.</summary>
    public int Firing { get; init; }

    /// <summary>Alerts of this rule pending now.</summary>
    public int Pending { get; init; }
}

/// <summary><c>POST /api/v1/alerts/rules</c>: rule groups in Prometheus' rule-file YAML, added (or replacing groups of the same name added earlier through the API).</summary>
public sealed record AddAlertRulesRequest
{
    /// <summary>The YAML document (<c>groups:</c> …).</summary>
    [JsonRequired]
    public string Yaml { get; set; } = "";
}

/// <summary>The answer to <see cref="AddAlertRulesRequest"/>: the names of the groups added or replaced.</summary>
public sealed record AddAlertRulesResponse
{
    /// <summary>The groups' names.</summary>
    public required IReadOnlyList<string> Groups { get; init; }
}

/// <summary>A silence: alerts whose labels match every matcher are not delivered between its start and end.</summary>
public sealed record SilenceInfo
{
    /// <summary>The silence's id.</summary>
    public required string Id { get; init; }

    /// <summary>The matchers, each <c>name=value</c>, <c>name!=value</c>, <c>name=~regex</c> or <c>name!~regex</c>.</summary>
    public required IReadOnlyList<string> Matchers { get; init; }

    /// <summary>When it starts.</summary>
    public required DateTimeOffset StartsAt { get; init; }

    /// <summary>When it ends.</summary>
    public required DateTimeOffset EndsAt { get; init; }

    /// <summary>Who made it.</summary>
    public required string Author { get; init; }

    /// <summary>Why.</summary>
    public required string Comment { get; init; }

    /// <summary>pending (not started), active or expired.</summary>
    public required string Status { get; init; }
}

/// <summary><c>POST /api/v1/alerts/silences</c>.</summary>
public sealed record CreateSilenceRequest
{
    /// <summary>At least one matcher, each <c>name=value</c>, <c>name!=value</c>, <c>name=~regex</c> or <c>name!~regex</c>; at least one must not match the empty string.</summary>
    [JsonRequired]
    public IReadOnlyList<string> Matchers { get; set; } = [];

    /// <summary>When it starts; default now.</summary>
    public DateTimeOffset? StartsAt { get; set; }

    /// <summary>When it ends; after <see cref="StartsAt"/>.</summary>
    [JsonRequired]
    public DateTimeOffset EndsAt { get; set; }

    /// <summary>Who makes it.</summary>
    [JsonRequired]
    public string Author { get; set; } = "";

    /// <summary>Why.</summary>
    [JsonRequired]
    public string Comment { get; set; } = "";
}

/// <summary><c>GET /api/v1/alerts/silences</c>: silences that are pending or active, and those expired in the last day.</summary>
public sealed record SilencesResponse
{
    /// <summary>The silences, newest first.</summary>
    public required IReadOnlyList<SilenceInfo> Silences { get; init; }
}
