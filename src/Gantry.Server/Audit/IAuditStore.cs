using Gantry.Core.Protocol;

namespace Gantry.Server.Audit;

/// <summary>
/// Where audit records live: a table of the state store (SQLite or PostgreSQL). Calls are synchronous
/// and may be slow or fail while the store is unreachable; <see cref="AuditWriter"/> makes the calls off
/// the requests' path and retries.
/// </summary>
/// <remarks>
/// Appends are not fenced by the leader lease: a record says what a server answered, which stays true
/// whether or not that server still leads.
/// </remarks>
internal interface IAuditStore
{
    /// <summary>Stores <paramref name="records"/> in one transaction, in order; all or none (the exception propagates).</summary>
    void AppendAudit(IReadOnlyList<AuditRecord> records);

    /// <summary>The records that match <paramref name="query"/>, newest first.</summary>
    IReadOnlyList<AuditEntry> ReadAudit(AuditQuery query);

    /// <summary>Deletes up to <paramref name="max"/> of the oldest records made before <paramref name="cutoff"/>; returns how many went.</summary>
    int PurgeAuditBefore(DateTimeOffset cutoff, int max);
}

/// <summary>One change to record (its id is given by the store).</summary>
internal sealed record AuditRecord(DateTimeOffset Time, string Actor, string? Role, string? Address, string Action, string? Target, int Status);

/// <summary>A filter on the audit log: each criterion given must hold; ids below <see cref="Before"/>; at most <see cref="Limit"/> records.</summary>
internal sealed record AuditQuery(DateTimeOffset? Since, string? Actor, string? Action, long? Before, int Limit);
