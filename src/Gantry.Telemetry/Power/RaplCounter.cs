namespace Gantry.Telemetry.Power;

/// <summary>
/// Turns one RAPL zone's raw <c>energy_uj</c> readings into a running total that only grows.
/// The first reading is taken as is (so the exported counter starts equal to the raw value),
/// and each later reading adds its delta; a raw value below the previous one means the
/// counter wrapped at <c>max_energy_range_uj</c>, which is added back. The total is kept in
/// whole microjoules so that no rounding builds up over months of samples.
/// Not thread-safe: its owner serialises updates.
/// </summary>
internal sealed class RaplCounter
{
    private ulong _lastRaw;
    private ulong _totalMicrojoules;
    private bool _started;

    /// <summary>The latest raw reading, or null before the first.</summary>
    public ulong? LastRaw => _started ? _lastRaw : null;

    /// <summary>The running total in joules; 0 before the first reading.</summary>
    public double EnergyJoules => _totalMicrojoules / 1e6;

    /// <summary>Adds one raw reading and returns the running total in joules.</summary>
    /// <param name="rawMicrojoules">The zone's <c>energy_uj</c>.</param>
    /// <param name="maxRangeMicrojoules">The zone's <c>max_energy_range_uj</c>, or null when unknown.</param>
    /// <param name="reset">
    /// True when the counter went backwards and no range is known to correct it with: the
    /// interval is not counted and counting resumes from the new value.
    /// </param>
    public double Update(ulong rawMicrojoules, ulong? maxRangeMicrojoules, out bool reset)
    {
        reset = false;
        if (!_started)
        {
            _started = true;
            _totalMicrojoules = rawMicrojoules;
        }
        else if (rawMicrojoules >= _lastRaw)
        {
            _totalMicrojoules += rawMicrojoules - _lastRaw;
        }
        else if (maxRangeMicrojoules is { } range && range >= _lastRaw)
        {
            // Wrapped: the counter ran from _lastRaw up to the range, then from 0 to raw.
            _totalMicrojoules += range - _lastRaw + rawMicrojoules;
        }
        else
        {
            reset = true;
        }

        _lastRaw = rawMicrojoules;
        return EnergyJoules;
    }
}
