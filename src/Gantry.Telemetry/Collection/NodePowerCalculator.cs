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
        if (power is { Meters.Count: > 0 })
        {
            double meters = 0;
            foreach (var m in power.Meters)
            {
                meters += m.Watts;
            }

            return WithEnvelope(meters, "power_meter", envelopeWatts);
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

        var raplSeen = false;
        if (power is not null && previous?.Power is { } before && elapsedSeconds > 0)
        {
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
                        watts += (domain.EnergyJoules - old.EnergyJoules) / elapsedSeconds;
                        raplSeen = true;
                        break;
                    }
                }
            }
        }

        if (!gpuSeen && !raplSeen)
        {
            return null;
        }

        var source = (gpuSeen, raplSeen) switch
        {
            (true, true) => "gpu+rapl",
            (true, false) => "gpu",
            _ => "rapl",
        };
        return WithEnvelope(watts, source, envelopeWatts);
    }

    private static NodePowerSample WithEnvelope(double watts, string source, double? envelope) =>
        new(watts, source, envelope, envelope is { } e ? watts > e : null);
}
