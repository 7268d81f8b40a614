namespace Gantry.Core.Protocol;

/// <summary>
/// One change made through the API, as <c>GET /api/v1/audit</c> returns it (a <see cref="Page{T}"/> of
/// them, newest first): who, from where, when, what, to what, and how it ended.
/// </summary>
public sealed record AuditEntry
{
    /// <summary>Rises with every record; <c>cursor</c> pages below it.</summary>
    public required long Id { get; init; }

    /// <summary>When the server answered the request.</summary>
    public required DateTimeOffset Time { get; init; }

    /// <summary>
    /// The caller: the token's person (<c>admin</c> for the admin token), <c>join-token</c> for a node's
    /// registration, <c>unknown</c> when a refused request named nobody the server knows.
    /// </summary>
    public required string Actor { get; init; }

    /// <summary>The caller's role when the token has one (<c>admin</c>); null otherwise.</summary>
    public string? Role { get; init; }

    /// <summary>The remote address the request came from (the proxy's when one forwards it).</summary>
    public string? Address { get; init; }

    /// <summary>What was asked, e.g. <c>job.cancel</c>, <c>node.drain</c>, <c>alert.rule.create</c>.</summary>
    public required string Action { get; init; }

    /// <summary>What it was asked of: a job id, a node id, a rule group's name; null when the request named none.</summary>
    public string? Target { get; init; }

    /// <summary>The HTTP status of the answer.</summary>
    public required int Status { get; init; }

    /// <summary><c>ok</c> (2xx, 3xx), <c>refused</c> (4xx: nothing changed) or <c>failed</c> (5xx).</summary>
    public required string Outcome { get; init; }

    /// <summary>The outcome of an HTTP status: <c>ok</c>, <c>refused</c> or <c>failed</c>.</summary>
    public static string OutcomeOf(int status) => status switch
    {
        < 400 => "ok",
        < 500 => "refused",
        _ => "failed",
    };
}
