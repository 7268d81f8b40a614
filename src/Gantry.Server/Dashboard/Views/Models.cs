using Gantry.Core.Protocol;

namespace Gantry.Server.Dashboard.Views;

/// <summary>Which top-level section a page belongs to (highlighted in the navigation).</summary>
public enum Section
{
    None,
    Overview,
    Nodes,
    Jobs,
    Alerts,
    Tokens,
    Audit,

    /// <summary>Services (docs/service-health.md).</summary>
    Services,
}

/// <summary>The anti-forgery field every form on a page carries.</summary>
public sealed record Csrf(string FieldName, string Value);

/// <summary>
/// What the page frame needs: title, section, the form token, for live pages the SSE address, and the
/// number of alerts firing (the navigation's count).
/// </summary>
public sealed record PageFrame(string Title, Section Section, Csrf? Csrf, string? LiveUrl = null, bool SignedIn = true, int FiringAlerts = 0)
{
    /// <summary>The signed-in person, shown in the header.</summary>
    public string? UserName { get; init; }

    /// <summary>The signed-in person's role: the header shows it, and pages leave out the forms it may not use.</summary>
    public Gantry.Core.Protocol.Role? UserRole { get; init; }

    /// <summary>True when the signed-in person's role is <paramref name="minimum"/> or above.</summary>
    public bool Can(Gantry.Core.Protocol.Role minimum) => UserRole is { } role && role >= minimum;

    /// <summary>The form token for forms of <paramref name="minimum"/> and above; null (no form) below it.</summary>
    public Csrf? CsrfFor(Gantry.Core.Protocol.Role minimum) => Can(minimum) ? Csrf : null;
}

/// <summary>The overview's figures; null where nothing reports the value.</summary>
public sealed record OverviewStats
{
    public required int NodesTotal { get; init; }
    public required int NodesReady { get; init; }
    public required int NodesSuspect { get; init; }
    public required int NodesDown { get; init; }
    public required int NodesDraining { get; init; }

    /// <summary>Nodes suspended or resuming by power saving (docs/power-saving.md).</summary>
    public int NodesSuspended { get; init; }
    public required int GpusTotal { get; init; }
    public required int GpusBusy { get; init; }
    public required int JobsRunning { get; init; }
    public required int JobsPending { get; init; }
    public required int JobsSucceeded { get; init; }
    public required int JobsFailed { get; init; }
    public double? PowerWatts { get; init; }
    public double? EnergyTodayJoules { get; init; }
    public double? TokensPerJoule { get; init; }
    public double? TokensPerSecond { get; init; }
    public bool AnySimulated { get; init; }
}

/// <summary>One job in a table.</summary>
public sealed record JobRowModel(JobInfo Job, string? NodeName, DateTimeOffset Now);

/// <summary>The node page's history charts, drawn, and the range they cover.</summary>
public sealed record NodeCharts(string Range, IReadOnlyList<DrawnChart> Charts);

/// <summary>One chart as SVG markup, with its caption.</summary>
public sealed record DrawnChart(string Title, string Svg);

/// <summary>A range a history chart can show, as offered by the node page.</summary>
public sealed record ChartRange(string Name, string Label, TimeSpan Span)
{
    /// <summary>The ranges offered, shortest first.</summary>
    public static readonly IReadOnlyList<ChartRange> All =
    [
        new("15m", "15 minutes", TimeSpan.FromMinutes(15)),
        new("1h", "1 hour", TimeSpan.FromHours(1)),
        new("6h", "6 hours", TimeSpan.FromHours(6)),
        new("24h", "24 hours", TimeSpan.FromHours(24)),
        new("7d", "7 days", TimeSpan.FromDays(7)),
        new("30d", "30 days", TimeSpan.FromDays(30)),
    ];

    /// <summary>The default range.</summary>
    public static ChartRange Default => All[1];

    /// <summary>The range named <paramref name="name"/> (<see cref="Default"/> when empty); false with a message for an unknown name.</summary>
    public static bool TryParse(string? name, out ChartRange range, out string? error)
    {
        error = null;
        range = Default;
        if (string.IsNullOrEmpty(name))
        {
            return true;
        }

        foreach (var candidate in All)
        {
            if (string.Equals(candidate.Name, name, StringComparison.Ordinal))
            {
                range = candidate;
                return true;
            }
        }

        error = $"must be one of {string.Join(", ", All.Select(static r => r.Name))}, got '{name}'";
        return false;
    }
}

/// <summary>The submit form's fields as typed (shown again with the error when a submit is refused).</summary>
public sealed record JobForm
{
    public string Command { get; init; } = "";
    public string Name { get; init; } = "";
    public string Gpus { get; init; } = "0";
    public string Priority { get; init; } = "50";
    public string MaxRuntime { get; init; } = "";
    public string Retries { get; init; } = "0";

    // Carbon-aware deferral (docs/carbon.md): a duration from now or a time, and a duration.
    public string Deadline { get; init; } = "";
    public string ExpectedRuntime { get; init; } = "";

    // Container jobs (docs/containers-jobs.md): an image (empty: a process job) and its runtime.
    public string Image { get; init; } = "";
    public string Runtime { get; init; } = "podman";

    /// <summary>What was wrong with the last submit; null when nothing was.</summary>
    public string? Error { get; init; }

    /// <summary>The form field the error is about (its input gets <c>aria-invalid</c>).</summary>
    public string? ErrorField { get; init; }
}
