using Gantry.Core.Protocol;
using Gantry.Server.Carbon;
using Gantry.Server.Energy;
using Gantry.Server.Storage;

namespace Gantry.Server.Jobs;

/// <summary>
/// Job energy: the live attempt of each job holds its latest figures (<see cref="AttemptRow.Energy"/>),
/// advanced by every heartbeat that carries them and by the attempt's ended event. They reach the
/// store every <c>--energy-write-interval</c> (<see cref="FlushEnergy"/>, only the attempts that
/// changed) and with the attempt's end, never per heartbeat.
/// </summary>
internal sealed partial class JobQueue
{
    private static readonly Dictionary<string, string> NoLabels = [];

    // Jobs whose live attempt's figures changed since the last flush. Guarded by _lock.
    private readonly HashSet<long> _energyDirty = [];

    /// <summary>Where CO2e intensities come from (the carbon feature); nothing is counted without a source.</summary>
    public ICarbonIntensity Carbon { get; set; } = new NoCarbonIntensity();

    /// <summary>
    /// Takes a heartbeat's energy figures: each live attempt of <paramref name="nodeId"/> named (with
    /// its epoch) gets them; figures for anything else (stale, ended, another node's) are ignored.
    /// </summary>
    public void ObserveEnergy(string nodeId, IReadOnlyList<AttemptEnergyReport> reports)
    {
        ArgumentNullException.ThrowIfNull(reports);
        if (reports.Count == 0)
        {
            return;
        }

        lock (_lock)
        {
            var location = LocationOf(nodeId);
            foreach (var report in reports)
            {
                if (_live.TryGetValue(report.JobId, out var job) && job.Current is { } current && current.Number == report.Attempt
                    && current.Epoch == report.Epoch && current.NodeId == nodeId)
                {
                    job.Current = WithEnergy(current, report, location);
                    _energyDirty.Add(job.Id);
                }
            }
        }
    }

    /// <summary>Writes the live figures that changed since the last call to the store, in one unit of work; returns how many.</summary>
    public int FlushEnergy()
    {
        lock (_lock)
        {
            if (_energyDirty.Count == 0)
            {
                return 0;
            }

            var rows = new List<AttemptRow>(_energyDirty.Count);
            foreach (var id in _energyDirty)
            {
                if (_live.TryGetValue(id, out var job) && job.Current is { Energy: not null } current)
                {
                    rows.Add(current);
                }
            }

            _energyDirty.Clear();
            if (rows.Count > 0)
            {
                _store.Write(w =>
                {
                    foreach (var row in rows)
                    {
                        w.UpdateAttemptEnergy(row);
                    }
                });
            }

            return rows.Count;
        }
    }

    /// <summary>The attempt with <paramref name="report"/>'s figures, when the report is the attempt's.</summary>
    private AttemptRow WithEnergy(AttemptRow attempt, AttemptEnergyReport report, string? location)
    {
        if (report.JobId != attempt.JobId || report.Attempt != attempt.Number || report.Epoch != attempt.Epoch)
        {
            return attempt;
        }

        var carbon = Carbon;
        var energy = AttemptEnergy.Advance(attempt.Energy, report, location is null ? static _ => null : time => carbon.IntensityAt(location, time));
        return ReferenceEquals(energy, attempt.Energy) ? attempt : attempt with { Energy = energy };
    }

    /// <summary>The carbon location of a node (null without a carbon source or a location). Called under _lock (node registry after the queue, as elsewhere).</summary>
    private string? LocationOf(string nodeId) =>
        Carbon.Configured ? Carbon.LocationOf(_nodes.LabelsOf(nodeId) ?? NoLabels) : null;

    /// <summary>A job read from the store with its live attempt's figures as they are in memory now (they reach the store only periodically).</summary>
    private JobInfo WithLiveEnergy(JobInfo info)
    {
        if (!_live.TryGetValue(info.Id, out var job) || job.Current is not { Energy: { } energy } current)
        {
            return info;
        }

        var attempts = new AttemptInfo[info.Attempts.Count];
        var changed = false;
        for (var i = 0; i < attempts.Length; i++)
        {
            attempts[i] = info.Attempts[i];
            if (attempts[i].Attempt == current.Number && attempts[i].Epoch == current.Epoch)
            {
                attempts[i] = JobEnergyViews.With(attempts[i], energy);
                changed = true;
            }
        }

        return changed ? JobEnergyViews.Totals(info with { Attempts = attempts }) : info;
    }
}

/// <summary>How jobs and attempts show their energy on the API.</summary>
internal static class JobEnergyViews
{
    /// <summary>The attempt with these figures.</summary>
    public static AttemptInfo With(AttemptInfo attempt, AttemptEnergy? energy) => energy is null ? attempt : attempt with
    {
        EnergyJoules = energy.TotalJoules,
        GpuEnergyJoules = energy.GpuJoules,
        CpuEnergyJoules = energy.CpuJoules,
        AverageGpuPowerWatts = energy.AverageGpuWatts,
        PeakGpuPowerWatts = energy.PeakGpuWatts,
        Co2Grams = energy.Co2Grams,
        EnergyEstimated = energy.Estimated,
        EnergySimulated = energy.Simulated ? true : null,
    };

    /// <summary>
    /// The job with its attempts' sums: energy and CO2e added up, the peak the highest, the average
    /// GPU power over the time measured (each attempt's GPU energy over its average is its time).
    /// Unchanged when no attempt was measured.
    /// </summary>
    public static JobInfo Totals(JobInfo job)
    {
        double energy = 0, gpu = 0, gpuSeconds = 0;
        double? cpu = null, co2 = null, peak = null;
        var measured = false;
        var estimated = false;
        var simulated = false;
        foreach (var a in job.Attempts)
        {
            if (a.EnergyJoules is not { } total)
            {
                continue;
            }

            measured = true;
            energy += total;
            gpu += a.GpuEnergyJoules ?? 0;
            if (a.GpuEnergyJoules is { } g && a.AverageGpuPowerWatts is { } w && w > 0)
            {
                gpuSeconds += g / w;
            }

            cpu = a.CpuEnergyJoules is { } c ? (cpu ?? 0) + c : cpu;
            co2 = a.Co2Grams is { } grams ? (co2 ?? 0) + grams : co2;
            peak = a.PeakGpuPowerWatts is { } p && (peak is null || p > peak) ? p : peak;
            estimated |= a.EnergyEstimated == true;
            simulated |= a.EnergySimulated == true;
        }

        return !measured ? job : job with
        {
            EnergyJoules = energy,
            GpuEnergyJoules = gpu,
            CpuEnergyJoules = cpu,
            AverageGpuPowerWatts = gpuSeconds > 0 ? gpu / gpuSeconds : null,
            PeakGpuPowerWatts = peak,
            Co2Grams = co2,
            EnergyEstimated = estimated,
            EnergySimulated = simulated ? true : null,
        };
    }
}
