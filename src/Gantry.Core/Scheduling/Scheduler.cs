namespace Gantry.Core.Scheduling;

/// <summary>
/// Placement as a pure function of cluster state: filter nodes (schedulable, selector, free
/// resources, GPU model and memory), then place with best-fit GPU packing, higher priority first and
/// first-come within a priority, with backfill and reservations so a large job cannot starve.
/// </summary>
/// <remarks>
/// <para>
/// Jobs are taken by priority (highest first), then <see cref="PendingJob.Sequence"/>, then id; with
/// <see cref="SchedulerPolicy.FairShare"/>, jobs of one priority go by their account's recent GPU use first
/// (less first), and a job whose account would hold more GPUs than its <see cref="AccountShare.MaxGpus"/>
/// waits (docs/fair-share.md). Each goes
/// to the feasible node that leaves the fewest free matching GPUs, then the fewest free CPUs, then has
/// the lowest id (ordinal); CPU-only jobs therefore go to nodes with the fewest free GPUs first. Within a
/// node, a multi-GPU job gets a set whose GPUs all have NVLink to each other if one is free, else a set
/// connected through NVLink, else any; lowest indexes first.
/// </para>
/// <para>
/// A job that does not fit waits, and jobs behind it are still placed (backfill), unless it has waited
/// <see cref="SchedulerPolicy.ReservationAfter"/>: then it reserves the unreserved node that could hold it
/// and is closest to fitting, and nothing behind it is placed there in this pass. The same input always
/// gives the same output. Cost is about O(jobs × log nodes) for the usual few distinct selectors and GPU
/// filters; GPUs beyond the 64th (by index) of one node are not scheduled.
/// </para>
/// </remarks>
public static class Scheduler
{
    /// <summary>Decides which pending jobs run where. Never places two jobs on one GPU.</summary>
    public static SchedulingResult Schedule(SchedulingInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        return SchedulingPass.Run(input);
    }
}
