using Gantry.Core.Protocol;

namespace Gantry.Server.Auth;

/// <summary>
/// The person a token belongs to, as a request's caller: what the token may do (<see cref="Role"/>), who
/// its jobs run as (<see cref="UnixUser"/>, <see cref="AllowRoot"/>) and the limits stored for fair share.
/// The admin token from <c>&lt;data-dir&gt;/admin.token</c> is the person <c>admin</c> (<see cref="Builtin"/>).
/// </summary>
internal sealed record Person
{
    /// <summary>The built-in admin token's person.</summary>
    public const string AdminName = "admin";

    public required string Name { get; init; }

    public required Role Role { get; init; }

    public string? UnixUser { get; init; }

    public bool AllowRoot { get; init; }

    /// <summary>The most GPUs the person's jobs may hold at once; null for no limit.</summary>
    public int? MaxGpus { get; init; }

    /// <summary>The most jobs the person may have pending; null for no limit.</summary>
    public int? MaxPending { get; init; }

    /// <summary>When the token was made; null for the built-in admin token.</summary>
    public DateTimeOffset? CreatedAt { get; init; }

    public DateTimeOffset? ExpiresAt { get; init; }

    public DateTimeOffset? RevokedAt { get; init; }

    /// <summary>The admin token written at first start: role admin, allowed root, never revoked.</summary>
    public bool Builtin { get; init; }

    public static Person Admin { get; } = new() { Name = AdminName, Role = Role.Admin, AllowRoot = true, Builtin = true };

    /// <summary><c>active</c>, <c>expired</c> or <c>revoked</c> at <paramref name="now"/>.</summary>
    public string Status(DateTimeOffset now) =>
        RevokedAt is not null ? "revoked" : ExpiresAt is { } expires && expires <= now ? "expired" : "active";

    public TokenInfo ToInfo(DateTimeOffset now) => new()
    {
        Name = Name,
        Role = Role,
        UnixUser = UnixUser,
        AllowRoot = AllowRoot,
        MaxGpus = MaxGpus,
        MaxPending = MaxPending,
        CreatedAt = CreatedAt,
        ExpiresAt = ExpiresAt,
        RevokedAt = RevokedAt,
        Status = Status(now),
        Builtin = Builtin,
    };
}
