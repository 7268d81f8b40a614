using System.Text.Json;
using System.Text.Json.Serialization;
using Gantry.Core.Protocol;
using Gantry.Server.Storage;

namespace Gantry.Server.Health;

/// <summary>
/// A GPU's level conditions in one report: what stays true (or keeps its count) until something
/// changes on the GPU, as opposed to XIDs, which happen once. A value type: one per GPU and heartbeat
/// is kept without allocating.
/// </summary>
internal readonly record struct Conditions(
    long EccUncorrected,
    bool RemapPending,
    bool RemapFailure,
    bool RetiredPending,
    bool Lost,
    GpuRecoveryNeed Recovery,
    bool Thermal,
    bool Power,
    int NvLinksDown)
{
    public static Conditions Of(GpuHealthReport report) => new(
        report.EccUncorrectedVolatile ?? 0,
        report.RemappedRowsPending == true,
        report.RemappedRowsFailure == true,
        report.RetiredPagesPending == true,
        report.Lost,
        report.RecoveryAction ?? GpuRecoveryNeed.None,
        report.ThermalSlowdown,
        report.PowerSlowdown,
        report.NvLinksDown ?? 0);

    /// <summary>True when nothing is wrong.</summary>
    public bool Clear => this == default;

    /// <summary>
    /// What a person acknowledged (<paramref name="acked"/>) that is still so in these conditions: a
    /// condition that went away is no longer acknowledged, so that its return counts. Null when none is.
    /// </summary>
    public Conditions? StillAcknowledged(Conditions acked)
    {
        var kept = new Conditions(
            Math.Min(acked.EccUncorrected, EccUncorrected),
            acked.RemapPending && RemapPending,
            acked.RemapFailure && RemapFailure,
            acked.RetiredPending && RetiredPending,
            acked.Lost && Lost,
            acked.Recovery == Recovery ? acked.Recovery : GpuRecoveryNeed.None,
            acked.Thermal && Thermal,
            acked.Power && Power,
            Math.Min(acked.NvLinksDown, NvLinksDown));
        return kept.Clear ? null : kept;
    }
}

/// <summary>A cordon or drain automation wanted and the fleet breaker held back; it waits for a person.</summary>
internal sealed record HeldAction(XidAction Action, string Cause, string Evidence, DateTimeOffset Since);

/// <summary>One GPU's health as the server keeps it. Immutable: a change builds a new one, applied once stored.</summary>
internal sealed record GpuHealth
{
    /// <summary>A GPU nothing was ever decided about.</summary>
    public static GpuHealth Healthy { get; } = new();

    public GpuHealthState State { get; init; }

    public string? Cause { get; init; }

    public DateTimeOffset? Since { get; init; }

    public HealthRecovery? Until { get; init; }

    /// <summary>Set by a person: automation leaves it as it is.</summary>
    public bool Manual { get; init; }

    public HeldAction? Held { get; init; }

    /// <summary>The agent's last reset time (its clock) when the GPU was cordoned: a later one is the reset.</summary>
    public DateTimeOffset? ResetBefore { get; init; }

    /// <summary>When the agent's report first showed a reset after the cordon.</summary>
    public DateTimeOffset? ResetSeenAt { get; init; }

    /// <summary>Clean since: after a reset for a cordoned GPU, after its condition for a degraded one.</summary>
    public DateTimeOffset? CleanSince { get; init; }

    /// <summary>The conditions a person uncordoned it with: they do not cordon it again while they last.</summary>
    public Conditions? Acked { get; init; }

    /// <summary>True when the automation took it out of service (a person's cordon does not count against the breaker).</summary>
    public bool AutoOut => State == GpuHealthState.Cordoned && !Manual;

    /// <summary>Nothing to remember: no row in the store.</summary>
    public bool IsPlain => State == GpuHealthState.Healthy && Held is null && Acked is null;

    /// <summary>What the API shows; null for a plain healthy GPU.</summary>
    public GpuHealthInfo? Info => IsPlain ? null : new GpuHealthInfo
    {
        State = State,
        Cause = Cause,
        Since = Since,
        Until = Until,
        Manual = Manual,
        Held = Held is { } held ? $"{XidPolicy.Name(held.Action)}: {held.Cause}" : null,
        CleanSince = State == GpuHealthState.Cordoned ? CleanSince : null,
    };

    public HealthRow ToRow(string nodeId, int gpu) => new(
        nodeId,
        gpu,
        State,
        Cause,
        Since,
        Until,
        Manual,
        Held is null && ResetBefore is null && ResetSeenAt is null && CleanSince is null && Acked is null
            ? null
            : JsonSerializer.Serialize(new HealthDetail { Held = Held, ResetBefore = ResetBefore, ResetSeenAt = ResetSeenAt, CleanSince = CleanSince, Acked = Acked }, HealthJson.Default.HealthDetail));

    public static GpuHealth FromRow(HealthRow row)
    {
        var detail = row.Detail is { } json ? JsonSerializer.Deserialize(json, HealthJson.Default.HealthDetail) : null;
        return new GpuHealth
        {
            State = row.State,
            Cause = row.Cause,
            Since = row.Since,
            Until = row.Until,
            Manual = row.Manual,
            Held = detail?.Held,
            ResetBefore = detail?.ResetBefore,
            ResetSeenAt = detail?.ResetSeenAt,
            CleanSince = detail?.CleanSince,
            Acked = detail?.Acked,
        };
    }
}

/// <summary>A node drained for a reboot-class fault: why, since when, from which GPU, and the boot it happened in.</summary>
internal sealed record NodeDrain(string Cause, DateTimeOffset Since, int Gpu, string? BootId)
{
    public HealthRow ToRow(string nodeId) => new(
        nodeId,
        NodeRowGpu,
        GpuHealthState.Cordoned,
        Cause,
        Since,
        HealthRecovery.Reboot,
        false,
        JsonSerializer.Serialize(new HealthDetail { Gpu = Gpu, BootId = BootId }, HealthJson.Default.HealthDetail));

    /// <summary>The <see cref="HealthRow.Gpu"/> of the node's own row.</summary>
    public const int NodeRowGpu = -1;

    public static NodeDrain FromRow(HealthRow row)
    {
        var detail = row.Detail is { } json ? JsonSerializer.Deserialize(json, HealthJson.Default.HealthDetail) : null;
        return new NodeDrain(row.Cause ?? "drained for a reboot-class fault", row.Since ?? DateTimeOffset.UnixEpoch, detail?.Gpu ?? 0, detail?.BootId);
    }
}

/// <summary>What a health row keeps beside its columns, as JSON in its <c>detail</c> column.</summary>
internal sealed record HealthDetail
{
    public HeldAction? Held { get; init; }

    public DateTimeOffset? ResetBefore { get; init; }

    public DateTimeOffset? ResetSeenAt { get; init; }

    public DateTimeOffset? CleanSince { get; init; }

    public Conditions? Acked { get; init; }

    /// <summary>The node row's: the GPU whose fault drained it.</summary>
    public int? Gpu { get; init; }

    /// <summary>The node row's: the boot id when it was drained; another one is the reboot.</summary>
    public string? BootId { get; init; }
}

/// <summary>JSON of <see cref="HealthDetail"/>.</summary>
[JsonSourceGenerationOptions(JsonSerializerDefaults.Web, UseStringEnumConverter = true, DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull)]
[JsonSerializable(typeof(HealthDetail))]
internal sealed partial class HealthJson : JsonSerializerContext;
