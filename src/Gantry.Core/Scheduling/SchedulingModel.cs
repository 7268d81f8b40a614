using Gantry.Core.Jobs;

namespace Gantry.Core.Scheduling;

/// <summary>One node as the scheduler sees it: what it has, what is free, whether it takes work.</summary>
public sealed class SchedulingNode
{
    /// <summary>The node id.</summary>
    public required string Id { get; init; }

    /// <summary>Ready and not draining: only such nodes get new jobs.</summary>
    public required bool Schedulable { get; init; }

    /// <summary>The node's labels, matched against a job's selector.</summary>
    public IReadOnlyDictionary<string, string> Labels { get; init; } = new Dictionary<string, string>();

    /// <summary>CPU cores the node has.</summary>
    public required int CpuCores { get; init; }

    /// <summary>CPU cores not reserved by live attempts.</summary>
    public required int FreeCpus { get; init; }

    /// <summary>Host memory the node has.</summary>
    public required long MemoryBytes { get; init; }

    /// <summary>Host memory not reserved by live attempts.</summary>
    public required long FreeMemoryBytes { get; init; }

    /// <summary>Every GPU of the node, busy or free.</summary>
    public required IReadOnlyList<SchedulingGpu> Gpus { get; init; }

    /// <summary>
    /// The node's measured power per busy GPU (a running average of its heartbeats); null while unmeasured.
    /// Read only with <see cref="SchedulerPolicy.PreferEfficient"/>.
    /// </summary>
    public double? WattsPerBusyGpu { get; init; }

    /// <summary>
    /// The node's carbon location (its <c>zone</c>, or the server's one location); null when it has none.
    /// Read only for jobs with a <see cref="PendingJob.Pin"/>.
    /// </summary>
    public string? Location { get; init; }

    /// <summary>The container runtimes its agent found (docs/containers-jobs.md); read only for jobs with a <see cref="PendingJob.Runtime"/>.</summary>
    public IReadOnlyList<Protocol.ContainerRuntime> ContainerRuntimes { get; init; } = [];
}

/// <summary>One GPU: its identity, size, whether a live attempt holds it, and which GPUs of the same node it has NVLink to.</summary>
public sealed record SchedulingGpu(int Index, string Model, long MemoryBytes, bool Free, IReadOnlyList<int> NvLinkPeers);

/// <summary>
/// A job waiting for placement. <paramref name="Sequence"/> orders jobs of equal priority (first come, first served).
/// <paramref name="Pin"/>, when set, narrows the nodes its selector allows to one location for a while.
/// <paramref name="Account"/> is whose share and limits the job counts against (its owner); null or empty is
/// the shared <see cref="AccountShare.Default"/> account. <paramref name="Runtime"/>, for a container job, narrows
/// the nodes to those whose agent has that container runtime. <paramref name="PreferNode"/> (a restarting service's
/// last node) is taken when the job still fits there, before the best fit elsewhere.
/// </summary>
public sealed record PendingJob(
    long Id,
    int Priority,
    long Sequence,
    ResourceRequest Resources,
    IReadOnlyDictionary<string, string> Selector,
    DateTimeOffset QueuedAt,
    LocationPin? Pin = null,
    string? Account = null,
    Protocol.ContainerRuntime? Runtime = null,
    string? PreferNode = null);

/// <summary>
/// An account (a person) as a pass sees it: its recent use of GPUs, decayed with a half-life
/// (<paramref name="UsageGpuHours"/>, read only with <see cref="SchedulerPolicy.FairShare"/>), the GPUs its
/// live attempts hold now, and at most how many it may hold (<paramref name="MaxGpus"/>; null for no limit).
/// </summary>
public sealed record AccountShare(string Account, double UsageGpuHours, int RunningGpus, int? MaxGpus = null)
{
    /// <summary>The account of jobs that name none.</summary>
    public const string Default = "";

    /// <summary>How an account is written in reasons: its name, or "default" for <see cref="Default"/>.</summary>
    public static string DisplayName(string? account) => string.IsNullOrEmpty(account) ? "default" : account;

    /// <summary>
    /// The reason of a job that its account's <see cref="MaxGpus"/> holds back: "held by limit: alice uses 8 of
    /// 8 GPUs allowed", or "held by limit: alice may use 4 GPUs, the job asks for 8" when the job alone is over it.
    /// </summary>
    public static string LimitReason(string? account, int held, int max, int asked) => asked > max
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"held by limit: {DisplayName(account)} may use {max} GPU{(max == 1 ? "" : "s")}, the job asks for {asked}")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"held by limit: {DisplayName(account)} uses {held} of {max} GPU{(max == 1 ? "" : "s")} allowed");
}

/// <summary>
/// Where a job planned for cleaner electricity must run: only on nodes whose <see cref="SchedulingNode.Location"/>
/// is <paramref name="Location"/> before <paramref name="Until"/> (its latest start, deadline − expected runtime),
/// on any node its selector allows from then on, so that the pin never costs the deadline.
/// </summary>
public sealed record LocationPin(string Location, DateTimeOffset Until);

/// <summary>Knobs of the scheduling policy.</summary>
public sealed record SchedulerPolicy
{
    /// <summary>
    /// How long a job may wait while smaller jobs backfill around it before it gets a reservation:
    /// from then on, no job behind it may take resources on the node reserved for it.
    /// </summary>
    public TimeSpan ReservationAfter { get; init; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Among nodes that fit a job equally (same free GPUs and CPUs left), prefer the lower
    /// <see cref="SchedulingNode.WattsPerBusyGpu"/> (unmeasured nodes last) instead of the lower node id.
    /// </summary>
    public bool PreferEfficient { get; init; }

    /// <summary>
    /// Within one priority, jobs of accounts with less recent GPU use (<see cref="AccountShare.UsageGpuHours"/>)
    /// go first, first come first served among accounts that used the same; across priorities, priority wins.
    /// </summary>
    public bool FairShare { get; init; }
}

/// <summary>Everything one scheduling pass looks at.</summary>
public sealed record SchedulingInput(
    IReadOnlyList<SchedulingNode> Nodes,
    IReadOnlyList<PendingJob> Pending,
    DateTimeOffset Now,
    SchedulerPolicy Policy)
{
    /// <summary>
    /// The accounts with recent use, live attempts or a limit (an account not listed has used nothing, holds
    /// nothing and has no limit). Read for <see cref="SchedulerPolicy.FairShare"/> and for limits.
    /// </summary>
    public IReadOnlyList<AccountShare> Accounts { get; init; } = [];
}

/// <summary>
/// A decision: run job <paramref name="JobId"/> on <paramref name="NodeId"/> with these GPUs, cores and memory.
/// <paramref name="Efficiency"/> is set when <see cref="SchedulerPolicy.PreferEfficient"/> ranked this node above
/// another that fit the job equally.
/// </summary>
public sealed record Placement(long JobId, string NodeId, IReadOnlyList<int> Gpus, int Cpus, long MemoryBytes, EfficiencyComparison? Efficiency = null);

/// <summary>
/// Why the efficiency preference chose a node: its measured power per busy GPU against the next node that
/// fit the job as well. Kept as numbers (the pass formats nothing); <see cref="ToString"/> gives the reason's
/// words, e.g. "212 W per busy GPU vs 265 W on n1".
/// </summary>
public sealed record EfficiencyComparison(double WattsPerBusyGpu, string OtherNodeId, double? OtherWattsPerBusyGpu)
{
    /// <inheritdoc/>
    public override string ToString() => OtherWattsPerBusyGpu is { } other
        ? string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{WattsPerBusyGpu:0} W per busy GPU vs {other:0} W on {OtherNodeId}")
        : string.Create(System.Globalization.CultureInfo.InvariantCulture, $"{WattsPerBusyGpu:0} W per busy GPU; {OtherNodeId} not measured yet");
}

/// <summary>A node held for a starving job: nothing queued behind it is placed there.</summary>
public sealed record Reservation(long JobId, string NodeId);

/// <summary>A job left pending by this pass, and why (shown to people as the job's reason).</summary>
public sealed record WaitingJob(long JobId, string Reason);

/// <summary>The outcome of one pass.</summary>
public sealed record SchedulingResult(
    IReadOnlyList<Placement> Placements,
    IReadOnlyList<Reservation> Reservations,
    IReadOnlyList<WaitingJob> Waiting);
