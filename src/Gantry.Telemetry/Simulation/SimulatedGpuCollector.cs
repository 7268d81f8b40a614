using System.Globalization;
using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Power;

namespace Gantry.Telemetry.Simulation;

/// <summary>
/// Invents <c>N</c> H100 SXM GPUs for demos and for machines without GPUs
/// (<c>--simulate-gpus N</c>, never on by default). Every sample says it is simulated: the
/// snapshot's status is <c>simulated</c>, each GPU has <see cref="GpuSample.Simulated"/> set, a
/// name starting "Simulated" and a UUID starting <c>GPU-sim-</c>.
/// </summary>
/// <remarks>
/// The readings move in fixed one-second steps of the injected clock: utilization is a bounded
/// random walk through idle, normal and busy phases; memory and power follow it; temperature lags
/// power; the energy counter integrates power over each step, so it only grows and its delta over
/// an interval is the sum of the powers of the steps in it. The same seed and the same clock give
/// the same readings, however often the collector is called (a pause longer than an hour, such
/// as a suspended machine, is folded into one step at the readings it started with).
/// </remarks>
public sealed class SimulatedGpuCollector : ICollector<GpuSnapshot>, IGpuPowerLimits, IGpuEnergyReader
{
    /// <summary>The most GPUs one node may simulate.</summary>
    public const int MaxCount = 64;

    internal const string GpuName = "Simulated NVIDIA H100 80GB HBM3";
    internal const ulong MemoryTotalBytes = 81_559UL * 1024 * 1024;
    internal const double IdlePowerWatts = 70;
    internal const double MinPowerWatts = 65;
    internal const double PowerLimitWatts = 700;
    internal const double MinPowerLimitWatts = 200;
    internal const double MinTemperatureCelsius = 30;
    internal const double MaxTemperatureCelsius = 85;
    internal const int NvLinkCount = 18;
    internal const double MaxSmClockHz = 1_980e6;
    private const double IdleSmClockHz = 345e6;
    private const double MemoryClockHz = 2_619e6;
    // NVLink 4: 25 GB/s per link and direction.
    private const double NvLinkBytesPerSecond = 25e9;
    // After a long pause (a suspended laptop, a clock jump) older steps are folded into one.
    private const long MaxCatchUpSteps = 3_600;

    // HGX H100 boards place their eight GPUs on these buses.
    private static readonly string[] HgxBusIds =
        ["00000000:18:00.0", "00000000:2A:00.0", "00000000:3A:00.0", "00000000:5D:00.0",
         "00000000:9A:00.0", "00000000:AB:00.0", "00000000:BA:00.0", "00000000:DB:00.0"];

    /// <summary>The NVSwitches of an HGX board: every GPU's links end on them, so all GPUs are NVLink peers.</summary>
    private static readonly string[] NvSwitchBusIds = ["00000000:C5:00.0", "00000000:C6:00.0", "00000000:C7:00.0", "00000000:C8:00.0"];

    private readonly Lock _gate = new();
    private readonly TimeProvider _timeProvider;
    private readonly long _start;
    private readonly SimulatedGpu[] _gpus;
    private readonly string _message;
    private long _steps;

    /// <summary>Creates the simulator.</summary>
    /// <param name="count">How many GPUs to invent, 0 to <see cref="MaxCount"/>.</param>
    /// <param name="timeProvider">The clock that drives the readings.</param>
    /// <param name="seed">Picks one of many equally plausible histories.</param>
    public SimulatedGpuCollector(int count, TimeProvider timeProvider, int seed = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, MaxCount);
        ArgumentNullException.ThrowIfNull(timeProvider);

        _timeProvider = timeProvider;
        _start = timeProvider.GetTimestamp();
        _gpus = new SimulatedGpu[count];
        for (var i = 0; i < count; i++)
        {
            _gpus[i] = new SimulatedGpu(i, seed);
        }

        _message = string.Create(
            CultureInfo.InvariantCulture,
            $"{count} simulated GPU{(count == 1 ? "" : "s")} (--simulate-gpus); no real GPU is measured");
    }

    /// <inheritdoc />
    public string Name => "simulated-gpus";

    /// <inheritdoc />
    public ValueTask<GpuSnapshot> CollectAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var samples = new GpuSample[_gpus.Length];
        lock (_gate)
        {
            AdvanceTo((long)_timeProvider.GetElapsedTime(_start).TotalSeconds);
            for (var i = 0; i < _gpus.Length; i++)
            {
                samples[i] = _gpus[i].ToSample();
            }
        }

        return ValueTask.FromResult(new GpuSnapshot("simulated", _message, null, null, null, samples));
    }

    /// <summary>
    /// The simulated GPU's energy counter and power now (the simulation advances in whole seconds), so
    /// that a job's energy on simulated GPUs is metered as on real ones, start and end included.
    /// </summary>
    GpuEnergyReading? IGpuEnergyReader.ReadEnergy(int gpuIndex)
    {
        lock (_gate)
        {
            if (gpuIndex < 0 || gpuIndex >= _gpus.Length)
            {
                return null;
            }

            AdvanceTo((long)_timeProvider.GetElapsedTime(_start).TotalSeconds);
            return _gpus[gpuIndex].EnergyReading;
        }
    }

    /// <inheritdoc />
    bool IGpuPowerLimits.Simulated => true;

    /// <inheritdoc />
    GpuPowerLimitRange IGpuPowerLimits.Read(int gpu)
    {
        lock (_gate)
        {
            return gpu >= 0 && gpu < _gpus.Length
                ? new GpuPowerLimitRange(_gpus[gpu].Limit, MinPowerLimitWatts, PowerLimitWatts, null)
                : new GpuPowerLimitRange(null, null, null, string.Create(CultureInfo.InvariantCulture, $"no simulated GPU {gpu}"));
        }
    }

    /// <inheritdoc />
    string? IGpuPowerLimits.Set(int gpu, double watts)
    {
        lock (_gate)
        {
            if (gpu < 0 || gpu >= _gpus.Length)
            {
                return string.Create(CultureInfo.InvariantCulture, $"no simulated GPU {gpu}");
            }

            if (!(watts >= MinPowerLimitWatts && watts <= PowerLimitWatts))
            {
                return string.Create(CultureInfo.InvariantCulture, $"simulated GPU {gpu}: {watts:0.###} W is outside what it accepts ({MinPowerLimitWatts}-{PowerLimitWatts} W)");
            }

            // The simulator holds the limit: its GPU draws no more from the next step on.
            _gpus[gpu].Limit = watts;
            return null;
        }
    }

    private void AdvanceTo(long targetSteps)
    {
        var pending = targetSteps - _steps;
        if (pending <= 0)
        {
            return;
        }

        if (pending > MaxCatchUpSteps)
        {
            var skipped = pending - MaxCatchUpSteps;
            foreach (var gpu in _gpus)
            {
                gpu.Hold(skipped);
            }

            pending = MaxCatchUpSteps;
        }

        for (var s = 0; s < pending; s++)
        {
            foreach (var gpu in _gpus)
            {
                gpu.Step();
            }
        }

        _steps = targetSteps;
    }

    private enum Phase
    {
        Idle,
        Normal,
        Busy,
    }

    /// <summary>One GPU's state between steps. Only touched under the collector's lock.</summary>
    private sealed class SimulatedGpu
    {
        private readonly int _index;
        private readonly string _uuid;
        private readonly string _busId;
        private readonly ulong[] _nvLinkTx = new ulong[NvLinkCount];
        private readonly ulong[] _nvLinkRx = new ulong[NvLinkCount];
        private SimulationRandom _random;
        private Phase _phase;
        private double _phaseTarget;
        private double _phaseSecondsLeft;
        private double _utilization;
        private double _memoryFraction;
        private double _power;
        private double _temperature;
        private double _energy;
        private double _smClock;

        public GpuEnergyReading EnergyReading => new(Math.Round(_energy, 3), Math.Round(_power, 3));

        public SimulatedGpu(int index, int seed)
        {
            _index = index;
            // Obviously not a real UUID: "GPU-sim-" then the index, stable across runs and seeds.
            _uuid = string.Create(CultureInfo.InvariantCulture, $"GPU-sim-0000-4000-8000-{index:x12}");
            _busId = index < HgxBusIds.Length
                ? HgxBusIds[index]
                : string.Create(CultureInfo.InvariantCulture, $"00000000:{0x18 + index:X2}:00.0");
            _random = new SimulationRandom(((ulong)(uint)seed << 32) ^ ((ulong)index * 0x9E3779B97F4A7C15UL));

            StartPhase();
            _utilization = _phaseTarget;
            _memoryFraction = MemoryFractionFor(_utilization);
            _power = PowerFor(_utilization);
            _temperature = TemperatureFor(_power);
            _smClock = ClockFor(_utilization, capped: false);
            // The driver has been loaded for a while: a day or so of energy already counted.
            _energy = _random.Next(2e6, 2e7);
            for (var l = 0; l < NvLinkCount; l++)
            {
                _nvLinkTx[l] = (ulong)_random.Next(1e12, 1e13);
                _nvLinkRx[l] = (ulong)_random.Next(1e12, 1e13);
            }
        }

        private bool Idle => _utilization < 5;

        /// <summary>The power limit set through <see cref="IGpuPowerLimits.Set"/> (the default: the board's).</summary>
        public double Limit { get; set; } = PowerLimitWatts;

        private bool PowerCapped => _power >= Limit * 0.97;

        /// <summary>One second passes.</summary>
        public void Step()
        {
            _phaseSecondsLeft -= 1;
            if (_phaseSecondsLeft <= 0)
            {
                StartPhase();
            }

            var noise = _phase == Phase.Idle ? 1.0 : 6.0;
            _utilization = Math.Clamp(
                _utilization + ((_phaseTarget - _utilization) * 0.2) + _random.Next(-noise, noise), 0, 100);
            _memoryFraction += (MemoryFractionFor(_utilization) - _memoryFraction) * 0.1;
            var powerNoise = _phase == Phase.Idle ? 4.0 : 15.0;
            var powerTarget = PowerFor(_utilization) + _random.Next(-powerNoise, powerNoise);
            _power = Math.Clamp(_power + ((powerTarget - _power) * 0.5), MinPowerWatts, Limit);
            // The die heats and cools slowly: temperature closes 4% of its gap each second.
            _temperature = Math.Clamp(
                _temperature + ((TemperatureFor(_power) - _temperature) * 0.04),
                MinTemperatureCelsius,
                MaxTemperatureCelsius);
            _smClock = ClockFor(_utilization, PowerCapped);
            Hold(1);
        }

        /// <summary>Counters run on at the current readings for <paramref name="seconds"/>.</summary>
        public void Hold(long seconds)
        {
            _energy += _power * seconds;
            var perLink = (NvLinkBytesPerSecond * 0.4 * _utilization / 100) + 1e6;
            for (var l = 0; l < NvLinkCount; l++)
            {
                _nvLinkTx[l] += (ulong)(perLink * seconds * _random.Next(0.9, 1.1));
                _nvLinkRx[l] += (ulong)(perLink * seconds * _random.Next(0.9, 1.1));
            }
        }

        public GpuSample ToSample()
        {
            var used = (ulong)(_memoryFraction * MemoryTotalBytes) & ~(1024UL * 1024 - 1);
            var links = new NvLinkSample[NvLinkCount];
            for (var l = 0; l < NvLinkCount; l++)
            {
                links[l] = new NvLinkSample(l, true, _nvLinkTx[l], _nvLinkRx[l], 0, 0, 0) { RemotePciBusId = NvSwitchBusIds[l % NvSwitchBusIds.Length] };
            }

            ulong reasons = 0;
            if (Idle)
            {
                reasons |= 0x1; // gpu_idle
            }

            if (PowerCapped)
            {
                reasons |= 0x4; // sw_power_cap
            }

            return new GpuSample
            {
                Index = _index,
                Uuid = _uuid,
                Name = GpuName,
                PciBusId = _busId,
                Simulated = true,
                MemoryTotalBytes = MemoryTotalBytes,
                MemoryUsedBytes = used,
                MemoryFreeBytes = MemoryTotalBytes - used,
                UtilizationGpuPercent = Math.Round(_utilization),
                UtilizationMemoryPercent = Math.Round(_utilization * 0.6),
                TemperatureCelsius = Math.Round(_temperature),
                MemoryTemperatureCelsius = Math.Round(_temperature + 4),
                PowerWatts = Math.Round(_power, 3),
                EnergyJoules = Math.Round(_energy, 3),
                PowerLimitWatts = Limit,
                EnforcedPowerLimitWatts = Limit,
                DefaultPowerLimitWatts = PowerLimitWatts,
                MinPowerLimitWatts = MinPowerLimitWatts,
                MaxPowerLimitWatts = PowerLimitWatts,
                SmClockHz = _smClock,
                GraphicsClockHz = _smClock,
                MemoryClockHz = MemoryClockHz,
                MaxSmClockHz = MaxSmClockHz,
                ClockEventReasons = reasons,
                PerformanceState = Idle ? 8 : 0,
                // SXM boards have no fan of their own: NVML reports "not supported".
                FanSpeedPercent = null,
                EccCorrectedVolatile = 0,
                EccUncorrectedVolatile = 0,
                EccCorrectedAggregate = 0,
                EccUncorrectedAggregate = 0,
                // H100 remaps rows instead of retiring pages.
                RemappedRowsCorrectable = 0,
                RemappedRowsUncorrectable = 0,
                RemappedRowsPending = false,
                RemappedRowsFailure = false,
                PcieReplays = 0,
                PcieLinkGeneration = 5,
                PcieLinkWidth = 16,
                NvLinks = links,
                Processes = [],
                MigEnabled = false,
            };
        }

        private void StartPhase()
        {
            var r = _random.NextDouble();
            (_phase, _phaseTarget) = r switch
            {
                < 0.25 => (Phase.Idle, 0.0),
                < 0.55 => (Phase.Busy, _random.Next(92, 100)),
                _ => (Phase.Normal, _random.Next(30, 70)),
            };
            _phaseSecondsLeft = Math.Round(_random.Next(20, 120));
        }

        private static double MemoryFractionFor(double utilization) => 0.08 + (0.85 * utilization / 100);

        private static double PowerFor(double utilization) =>
            IdlePowerWatts + ((PowerLimitWatts - IdlePowerWatts) * utilization / 100);

        private static double TemperatureFor(double power) =>
            MinTemperatureCelsius
            + ((MaxTemperatureCelsius - MinTemperatureCelsius) * Math.Max(0, power - IdlePowerWatts) / (PowerLimitWatts - IdlePowerWatts));

        private double ClockFor(double utilization, bool capped)
        {
            if (utilization < 5)
            {
                return IdleSmClockHz;
            }

            // Boost clocks move in 15 MHz bins; a power cap pulls them down a few bins.
            var drop = capped ? _random.Next(105, 225) : _random.Next(0, 45);
            return Math.Round(((MaxSmClockHz / 1e6) - drop) / 15) * 15 * 1e6;
        }
    }
}
