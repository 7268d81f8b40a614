namespace Gantry.Core.Protocol;

/// <summary>
/// <c>GET /api/v1/fair-share</c>: every account with recent GPU use, live attempts or pending jobs, its
/// decayed GPU-hours, the GPUs it holds and its limits (docs/fair-share.md).
/// </summary>
public sealed record FairShareInfo
{
    /// <summary>Whether jobs of one priority are ordered by their account's usage (<c>--fair-share-half-life</c> not off).</summary>
    public required bool Enabled { get; init; }

    /// <summary>The half-life of usage in seconds; null when fair share is off.</summary>
    public double? HalfLifeSeconds { get; init; }

    /// <summary>The accounts, by name.</summary>
    public required IReadOnlyList<AccountShareInfo> Accounts { get; init; }
}

/// <summary>One account of a <see cref="FairShareInfo"/>.</summary>
public sealed record AccountShareInfo
{
    /// <summary>The account (a person); the empty string is the default account of jobs without one.</summary>
    public required string Account { get; init; }

    /// <summary>GPU-hours used, each decayed by its age with the half-life (0 when fair share is off).</summary>
    public required double UsageGpuHours { get; init; }

    /// <summary>GPUs its live (assigned or running) attempts hold now.</summary>
    public required int RunningGpus { get; init; }

    /// <summary>Its pending jobs, held ones and unstarted array tasks included.</summary>
    public required long PendingJobs { get; init; }

    /// <summary>At most this many GPUs at once (<c>--max-gpus</c>); null for no limit.</summary>
    public int? MaxGpus { get; init; }

    /// <summary>At most this many pending jobs (<c>--max-pending</c>); null for no limit.</summary>
    public int? MaxPending { get; init; }
}
