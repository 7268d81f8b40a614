using Gantry.Agent.Configuration;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Health;
using Gantry.Telemetry.Model;

namespace Gantry.Agent.Health;

/// <summary>
/// What a heartbeat says about the node's GPUs (<see cref="NodeHealthReport"/>): each GPU's counters
/// and flags from the latest sample, the XIDs the server has not acknowledged, and what only a
/// comparison over time shows: when the GPU was last reset (its volatile ECC counters or energy
/// counter went back down, it came back after being lost, a pending remap or retirement or the
/// driver's recovery action cleared) and which NVLink links that were up went down. Not
/// thread-safe: one caller, the heartbeat loop, which sees every sample it sends.
/// </summary>
internal sealed class GpuHealthReporter(XidLog xids, AgentOptions options, KernelLogWorker? kernelLog)
{
    // Clock-event reason bits (nvml.h): software and hardware thermal slowdown; hardware slowdown
    // and power brake. The software power cap (0x4) is how a busy GPU normally runs.
    private const ulong ThermalBits = 0x20 | 0x40;
    private const ulong PowerBits = 0x8 | 0x80;

    private readonly Dictionary<int, Tracked> _gpus = [];
    private readonly string? _bootId = ReadBootId(options.ProcPath);
    private NodeSnapshot? _seen;

    /// <summary>The host's boot id, read once at start; null where there is none to read.</summary>
    public string? BootId => _bootId;

    /// <summary>
    /// The report for <paramref name="latest"/> (null before the first sample: no GPUs, only what the
    /// agent knows of itself) and the sequence number of the last XID in it: pass it to
    /// <see cref="Acknowledge"/> once the server answered the heartbeat that carried it.
    /// </summary>
    public (NodeHealthReport Report, long Through) Build(NodeSnapshot? latest)
    {
        if (latest is not null && !ReferenceEquals(latest, _seen))
        {
            Observe(latest);
            _seen = latest;
        }

        var pending = xids.Unacknowledged();
        var gpus = new List<GpuHealthReport>(latest?.Gpus.Gpus.Count ?? 0);
        if (latest is not null)
        {
            foreach (var gpu in latest.Gpus.Gpus)
            {
                gpus.Add(Report(gpu, XidsOf(pending, gpu.Index)));
            }
        }

        // An XID of a GPU the latest sample does not list (it fell off the bus between samples) still goes.
        foreach (var xid in pending)
        {
            if (!gpus.Exists(g => g.Index == xid.Gpu))
            {
                gpus.Add(new GpuHealthReport { Index = xid.Gpu, Xids = XidsOf(pending, xid.Gpu) });
            }
        }

        var report = new NodeHealthReport
        {
            BootId = _bootId,
            KernelLog = kernelLog?.Problem,
            Gpus = gpus,
        };
        return (report, pending.Count == 0 ? 0 : pending[^1].Sequence);
    }

    /// <summary>The server has the XIDs up to <paramref name="through"/>: they are not sent again.</summary>
    public void Acknowledge(long through)
    {
        if (through > 0)
        {
            xids.Acknowledge(through);
        }
    }

    private static List<XidEvent> XidsOf(IReadOnlyList<LoggedXid> pending, int gpu)
    {
        var events = new List<XidEvent>();
        foreach (var xid in pending)
        {
            if (xid.Gpu == gpu)
            {
                events.Add(new XidEvent
                {
                    Xid = (long)Math.Min(xid.Xid, long.MaxValue),
                    At = xid.At,
                    Source = xid.Source == XidSource.KernelLog ? XidEventSource.KernelLog : XidEventSource.Nvml,
                    Text = xid.Text,
                });
            }
        }

        return events;
    }

    private GpuHealthReport Report(GpuSample gpu, List<XidEvent> events)
    {
        var tracked = _gpus.GetValueOrDefault(gpu.Index);
        long? crc = null;
        foreach (var link in gpu.NvLinks)
        {
            if (link.CrcFlitErrors is { } flit)
            {
                crc = (crc ?? 0) + Clamp(flit);
            }

            if (link.CrcDataErrors is { } data)
            {
                crc = (crc ?? 0) + Clamp(data);
            }
        }

        var reasons = gpu.ClockEventReasons ?? 0;
        return new GpuHealthReport
        {
            Index = gpu.Index,
            Xids = events,
            Lost = gpu.Lost,
            EccCorrectedVolatile = gpu.EccCorrectedVolatile is { } corrected ? Clamp(corrected) : null,
            EccUncorrectedVolatile = gpu.EccUncorrectedVolatile is { } uncorrected ? Clamp(uncorrected) : null,
            RemappedRowsPending = gpu.RemappedRowsPending,
            RemappedRowsFailure = gpu.RemappedRowsFailure,
            RetiredPagesPending = gpu.RetiredPagesPending,
            RecoveryAction = gpu.RecoveryAction is { } action ? Need(action) : null,
            ThermalSlowdown = (reasons & ThermalBits) != 0,
            PowerSlowdown = (reasons & PowerBits) != 0,
            NvLinksDown = gpu.Lost ? null : tracked?.LinksDown(gpu.NvLinks),
            NvLinkCrcErrors = crc,
            PcieReplays = gpu.PcieReplays is { } replays ? Clamp(replays) : null,
            ResetAt = tracked?.ResetAt,
        };
    }

    /// <summary>NVML's recovery action as the protocol names it; a value a newer driver added is <see cref="GpuRecoveryNeed.Other"/>.</summary>
    internal static GpuRecoveryNeed Need(GpuRecoveryAction action) => action switch
    {
        GpuRecoveryAction.None => GpuRecoveryNeed.None,
        GpuRecoveryAction.GpuReset => GpuRecoveryNeed.GpuReset,
        GpuRecoveryAction.NodeReboot => GpuRecoveryNeed.NodeReboot,
        GpuRecoveryAction.DrainP2P => GpuRecoveryNeed.DrainP2P,
        GpuRecoveryAction.DrainAndReset => GpuRecoveryNeed.DrainAndReset,
        GpuRecoveryAction.GpuResetBus => GpuRecoveryNeed.GpuResetBus,
        _ => GpuRecoveryNeed.Other,
    };

    private void Observe(NodeSnapshot snapshot)
    {
        foreach (var gpu in snapshot.Gpus.Gpus)
        {
            if (!_gpus.TryGetValue(gpu.Index, out var tracked) || (gpu.Uuid.Length > 0 && tracked.Uuid.Length > 0 && gpu.Uuid != tracked.Uuid))
            {
                // A GPU first seen, or another one at this index: nothing to compare with yet.
                tracked = new Tracked(gpu.Uuid);
                _gpus[gpu.Index] = tracked;
            }

            tracked.Observe(gpu, snapshot.Timestamp);
        }
    }

    private static long Clamp(ulong value) => (long)Math.Min(value, long.MaxValue);

    private static string? ReadBootId(string procPath)
    {
        try
        {
            var text = File.ReadAllText(Path.Combine(procPath, "sys", "kernel", "random", "boot_id")).Trim();
            return text.Length is > 0 and <= 64 ? text : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>One GPU's readings as last seen, to compare the next sample with.</summary>
    private sealed class Tracked(string uuid)
    {
        private readonly HashSet<int> _linksUp = [];
        private bool _seen;
        private bool _lost;
        private ulong? _eccCorrected;
        private ulong? _eccUncorrected;
        private double? _energy;
        private bool? _remapPending;
        private bool? _retiredPending;
        private GpuRecoveryAction? _recovery;

        public string Uuid { get; private set; } = uuid;

        public DateTimeOffset? ResetAt { get; private set; }

        public void Observe(GpuSample gpu, DateTimeOffset at)
        {
            if (gpu.Uuid.Length > 0)
            {
                Uuid = gpu.Uuid;
            }

            if (gpu.Lost)
            {
                // A lost GPU reports only its identity: keep what it read before, to compare once it is back.
                _lost = true;
                _seen = true;
                return;
            }

            if (_seen && (_lost
                || Lower(gpu.EccCorrectedVolatile, _eccCorrected)
                || Lower(gpu.EccUncorrectedVolatile, _eccUncorrected)
                || (gpu.EnergyJoules is { } energy && _energy is { } before && energy < before)
                || (_remapPending == true && gpu.RemappedRowsPending == false)
                || (_retiredPending == true && gpu.RetiredPagesPending == false)
                || (_recovery is { } recovery && recovery != GpuRecoveryAction.None && gpu.RecoveryAction == GpuRecoveryAction.None)))
            {
                ResetAt = at;
            }

            _seen = true;
            _lost = false;
            _eccCorrected = gpu.EccCorrectedVolatile ?? _eccCorrected;
            _eccUncorrected = gpu.EccUncorrectedVolatile ?? _eccUncorrected;
            _energy = gpu.EnergyJoules ?? _energy;
            _remapPending = gpu.RemappedRowsPending ?? _remapPending;
            _retiredPending = gpu.RetiredPagesPending ?? _retiredPending;
            _recovery = gpu.RecoveryAction ?? _recovery;
            foreach (var link in gpu.NvLinks)
            {
                if (link.Active)
                {
                    _linksUp.Add(link.Link);
                }
            }
        }

        /// <summary>Links seen up earlier in this run that are down in <paramref name="links"/>.</summary>
        public int LinksDown(IReadOnlyList<NvLinkSample> links)
        {
            var down = 0;
            foreach (var link in links)
            {
                if (!link.Active && _linksUp.Contains(link.Link))
                {
                    down++;
                }
            }

            return down;
        }

        private static bool Lower(ulong? now, ulong? before) => now is { } n && before is { } b && n < b;
    }
}
