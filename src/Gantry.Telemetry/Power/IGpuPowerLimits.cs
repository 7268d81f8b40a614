namespace Gantry.Telemetry.Power;

/// <summary>
/// A GPU's power-limit facts in watts: the management limit now and the range the driver accepts
/// (<c>nvmlDeviceGetPowerManagementLimitConstraints</c>); a figure that could not be read is null and
/// <see cref="Error"/> says why.
/// </summary>
internal readonly record struct GpuPowerLimitRange(double? LimitWatts, double? MinWatts, double? MaxWatts, string? Error);

/// <summary>
/// Reads and sets GPUs' power limits, for the agent's power caps: NVML on real GPUs
/// (<c>nvmlDeviceSetPowerManagementLimit</c>, which needs root), the simulator for
/// <c>--simulate-gpus</c> (whose limits are simulated and say so). Calls are synchronous, short and
/// safe from any thread; they never throw for a refusal: <see cref="Set"/> answers it in words.
/// </summary>
internal interface IGpuPowerLimits
{
    /// <summary>True when the GPUs, and so their limits, are simulated.</summary>
    bool Simulated { get; }

    /// <summary>The GPU's limit now and the range it accepts.</summary>
    GpuPowerLimitRange Read(int gpu);

    /// <summary>Sets the GPU's power limit to <paramref name="watts"/>; null when done, else why not (naming the NVML error).</summary>
    string? Set(int gpu, double watts);
}
