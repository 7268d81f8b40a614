namespace Gantry.Telemetry.Simulation;

/// <summary>
/// SplitMix64: a tiny, fast generator whose sequence is fixed by its seed on every runtime
/// version (unlike <see cref="Random"/>, whose seeded algorithm is an implementation detail).
/// Not for anything secret; it only drives simulated readings.
/// </summary>
internal struct SimulationRandom(ulong seed)
{
    private ulong _state = seed;

    /// <summary>Next value in [0, 1).</summary>
    public double NextDouble()
    {
        _state += 0x9E3779B97F4A7C15UL;
        var z = _state;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        // The top 53 bits fill a double's mantissa exactly.
        return (z >> 11) * (1.0 / (1UL << 53));
    }

    /// <summary>Next value in [<paramref name="min"/>, <paramref name="max"/>).</summary>
    public double Next(double min, double max) => min + ((max - min) * NextDouble());
}
