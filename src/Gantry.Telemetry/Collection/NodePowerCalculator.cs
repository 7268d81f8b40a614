using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Collection;

/// <summary>
/// The node's power draw: the sum of hardware power meters where the machine has any (they
/// measure the whole node), otherwise GPU power plus CPU package and DRAM power from the RAPL
/// energy counters' change since the previous sample.
/// </summary>
internal static class NodePowerCalculator
{
    public static NodePowerSample? Calculate(NodeSnapshot? previous, PowerSnapshot? power, GpuSnapshot gpus, double elapsedSeconds, double? envelopeWatts)
    {
        var cpuWatts = RaplWatts(previous, power, elapsedSeconds);
        if (power is { Meters.Count: > 0 })
        {
            double meters = 0;
            foreach (var m in power.Meters)
            {
                meters += m.Watts;
            }

            return WithEnvelope(meters, "power_meter", envelopeWatts, cpuWatts);
        }

        double watts = 0;
        var gpuSeen = false;
        foreach (var g in gpus.Gpus)
        {
            if (!g.Lost && g.PowerWatts is { } w)
            {
                watts += w;
                gpuSeen = true;
            }
        }

        if (!gpuSeen && cpuWatts is null)
        {
            return null;
        }

        var source = (gpuSeen, cpuWatts is not null) switch
        {
            (true, true) => "gpu+rapl",
            (true, false) => "gpu",
            _ => "rapl",
        };
        return WithEnvelope(watts + (cpuWatts ?? 0), source, envelopeWatts, cpuWatts);
    }

    /// <summary>CPU package plus DRAM power from the RAPL counters' change since the previous sample; null without both samples.</summary>
    private static double? RaplWatts(NodeSnapshot? previous, PowerSnapshot? power, double elapsedSeconds)
    {
        if (power is null || previous?.Power is not { } before || elapsedSeconds <= 0)
        {
            return null;
        }

        double? watts = null;
        foreach (var domain in power.Rapl)
        {
            if (domain.Domain is not ("package" or "dram"))
            {
                continue;
            }

            foreach (var old in before.Rapl)
            {
                if (old.Zone == domain.Zone && domain.EnergyJoules >= old.EnergyJoules)
                {
                    watts = (watts ?? 0) + ((domain.EnergyJoules - old.EnergyJoules) / elapsedSeconds);
                    break;
                }
            }
        }

        return watts;
    }

    private static NodePowerSample WithEnvelope(double watts, string source, double? envelope, double? cpuWatts) =>
        new(watts, source, envelope, envelope is { } e ? watts > e : null, cpuWatts);
}
