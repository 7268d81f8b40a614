namespace Gantry.Telemetry.Power;

/// <summary>
/// Reads one GPU's energy counter and power draw now, outside the sampling loop: the agent's job
/// energy meter reads a job's GPUs when its attempt starts and when it ends. Thread-safe; a call
/// does one or two driver calls and never waits for a sample.
/// </summary>
public interface IGpuEnergyReader
{
    /// <summary>
    /// The GPU's readings now; null when the GPU cannot be read at all (no driver, no such index,
    /// the GPU fell off the bus). A reading the GPU does not offer is null within the result.
    /// </summary>
    GpuEnergyReading? ReadEnergy(int gpuIndex);
}

/// <summary>One GPU's energy counter (joules since the driver loaded) and power draw (watts).</summary>
/// <param name="EnergyJoules">NVML's total-energy counter in joules; null where the GPU does not offer it.</param>
/// <param name="PowerWatts">The power draw; null where the GPU does not offer it.</param>
public readonly record struct GpuEnergyReading(double? EnergyJoules, double? PowerWatts);
