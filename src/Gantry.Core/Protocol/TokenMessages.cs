using System.Text.Json.Serialization;

namespace Gantry.Core.Protocol;

/// <summary>
/// What a person's API token may do; each role may do everything the ones before it may.
/// <see cref="Viewer"/> reads; <see cref="User"/> also submits jobs and cancels its own;
/// <see cref="Operator"/> also drains and cordons nodes, manages alert rules and silences, and cancels
/// anyone's jobs; <see cref="Admin"/> also manages tokens (docs/people.md).
/// </summary>
[JsonConverter(typeof(CamelCaseEnumConverter<Role>))]
public enum Role
{
    /// <summary>Reads: lists, shows, logs, telemetry, metrics.</summary>
    Viewer,

    /// <summary>Submits jobs and cancels its own.</summary>
    User,

    /// <summary>Drains, cordons, power caps, alert rules and silences; cancels anyone's jobs.</summary>
    Operator,

    /// <summary>Everything, tokens included.</summary>
    Admin,
}

/// <summary>Role names as the API writes them.</summary>
public static class Roles
{
    /// <summary>The wire name (<c>viewer</c>, <c>user</c>, <c>operator</c>, <c>admin</c>).</summary>
    public static string Name(this Role role) => CamelCaseEnumConverter<Role>.Name(role);

    /// <summary>Every role's name, lowest first: <c>viewer|user|operator|admin</c>.</summary>
    public static string Names { get; } = string.Join('|', Enum.GetValues<Role>().Select(static r => r.Name()));

    /// <summary>Reads a role name (any letter case); false for anything else.</summary>
    public static bool TryParse(string? text, out Role role)
    {
        foreach (var candidate in Enum.GetValues<Role>())
        {
            if (string.Equals(candidate.Name(), text, StringComparison.OrdinalIgnoreCase))
            {
                role = candidate;
                return true;
            }
        }

        role = default;
        return false;
    }
}

/// <summary><c>POST /api/v1/tokens</c>: a token for one person.</summary>
public sealed record CreateTokenRequest
{
    /// <summary>The person's name: 1–64 of <c>a-z 0-9 . _ -</c>, starting with a letter or digit; unique among tokens in use.</summary>
    public required string Name { get; init; }

    /// <summary>What the token may do.</summary>
    public required Role Role { get; init; }

    /// <summary>The Unix user the person's jobs run as on an agent running as root; null runs them as the agent's user would allow (never root without <see cref="AllowRoot"/>).</summary>
    public string? UnixUser { get; init; }

    /// <summary>The person's jobs may run as root.</summary>
    public bool AllowRoot { get; init; }

    /// <summary>How long the token is valid from now, in seconds; null for no expiry.</summary>
    public double? ExpiresInSeconds { get; init; }

    /// <summary>The most GPUs the person's jobs may hold at once; null for no limit (stored; enforced by fair share).</summary>
    public int? MaxGpus { get; init; }

    /// <summary>The most jobs the person may have pending; null for no limit (stored; enforced by fair share).</summary>
    public int? MaxPending { get; init; }
}

/// <summary>A person's token as <c>GET /api/v1/tokens</c> shows it (never the secret).</summary>
public sealed record TokenInfo
{
    /// <summary>The person's name.</summary>
    public required string Name { get; init; }

    /// <summary>What the token may do.</summary>
    public required Role Role { get; init; }

    /// <summary>The Unix user the person's jobs run as; null for none.</summary>
    public string? UnixUser { get; init; }

    /// <summary>The person's jobs may run as root.</summary>
    public bool AllowRoot { get; init; }

    /// <summary>The most GPUs at once; null for no limit.</summary>
    public int? MaxGpus { get; init; }

    /// <summary>The most pending jobs; null for no limit.</summary>
    public int? MaxPending { get; init; }

    /// <summary>When it was made; null for the admin token from the data dir.</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    /// <summary>When it stops working; null for never.</summary>
    public DateTimeOffset? ExpiresAt { get; init; }

    /// <summary>When it was revoked; null while it is not.</summary>
    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary><c>active</c>, <c>expired</c> or <c>revoked</c>.</summary>
    public required string Status { get; init; }

    /// <summary>True for the admin token written to <c>&lt;data-dir&gt;/admin.token</c> at first start (it cannot be revoked).</summary>
    public bool Builtin { get; init; }
}

/// <summary>The answer to <c>POST /api/v1/tokens</c>: the secret, shown this once, and the token's details.</summary>
public sealed record CreateTokenResponse
{
    /// <summary>The bearer token. Only its hash is stored: it cannot be shown again.</summary>
    public required string Token { get; init; }

    /// <summary>What was stored.</summary>
    public required TokenInfo Info { get; init; }
}

/// <summary><c>GET /api/v1/tokens</c>: every person's token, by name.</summary>
public sealed record TokensResponse
{
    /// <summary>The tokens, by name.</summary>
    public required IReadOnlyList<TokenInfo> Items { get; init; }
}
