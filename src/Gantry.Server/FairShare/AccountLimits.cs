namespace Gantry.Server.FairShare;

/// <summary>
/// What one account (a person) may hold: GPUs held by its live attempts at once (<paramref name="MaxGpus"/>:
/// a job that would go past it waits) and pending jobs (<paramref name="MaxPending"/>: a submission that
/// would go past it is refused). Null for no limit.
/// </summary>
internal sealed record AccountLimits(int? MaxGpus, int? MaxPending);

/// <summary>
/// Where per-account limits come from: the people feature's tokens (<c>--max-gpus</c>, <c>--max-pending</c>).
/// Called under the job queue's lock, once per account per scheduling pass and once per submission, so it
/// must answer from memory, without I/O, and never call back into the job queue.
/// </summary>
internal interface IAccountLimits
{
    /// <summary>The limits of <paramref name="account"/> (<see cref="Core.Scheduling.AccountShare.Default"/> for jobs without one); null for none.</summary>
    AccountLimits? For(string account);
}

/// <summary>No account has a limit: the default until tokens carry them.</summary>
internal sealed class NoAccountLimits : IAccountLimits
{
    public static readonly NoAccountLimits Instance = new();

    public AccountLimits? For(string account) => null;
}
