using System.Buffers;
using System.Buffers.Binary;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Health;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Power;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Nvml;

/// <summary>
/// Reads every NVIDIA GPU through NVML. NVML is initialised on the first reading; when the
/// library is missing or initialisation fails the collector reports
/// <see cref="GpuSnapshot.Unavailable"/> with the reason (retrying at most once a minute) and
/// never throws for that. Each reading stands alone: one the GPU or driver does not offer is
/// null, and a GPU that fell off the bus is reported <see cref="GpuSample.Lost"/> while the
/// others carry on. XID errors come from a background thread that waits for NVML's events and
/// hands them to <see cref="Xids"/>, which also takes the kernel log's (counted once either way).
/// </summary>
public sealed class NvmlCollector : ICollector<GpuSnapshot>, IGpuEnergyReader, IGpuPowerLimits, IDisposable
{
    /// <summary>The 8-byte pattern the process buffer is filled with before the call; no pid, memory size or instance id looks like it.</summary>
    private const ulong ProcessSentinel = 0xA5C3_96E1_5A3C_691E;

    private static readonly TimeSpan InitRetryInterval = TimeSpan.FromSeconds(60);

    private readonly ILogger<NvmlCollector> _logger;
    private readonly TimeProvider _timeProvider;
    private readonly Lock _gate = new();
    private readonly Dictionary<int, GpuIdentity> _identities = [];
    private readonly HashSet<int> _lostGpus = [];

    private bool _initialised;
    private bool _disposed;
    private bool _failureLogged;
    private long _lastInitAttempt;
    private GpuSnapshot? _unavailable;
    private string? _driverVersion;
    private string? _cudaVersion;
    private string? _nvmlVersion;
    private NvmlEventWatcher? _events;

    /// <summary>Creates the collector; nothing is loaded until the first reading.</summary>
    /// <param name="libraryPath">The NVML library file (<c>--nvml-library</c>); null for the driver's default.</param>
    /// <param name="logger">Where problems are logged.</param>
    /// <param name="timeProvider">The clock that paces initialisation retries.</param>
    /// <exception cref="InvalidOperationException">Another NVML library path was configured in this process.</exception>
    public NvmlCollector(string? libraryPath, ILogger<NvmlCollector> logger, TimeProvider timeProvider)
        : this(libraryPath, logger, timeProvider, new XidLog())
    {
    }

    /// <summary>Creates the collector with the XID log the agent shares with its kernel-log reader.</summary>
    internal NvmlCollector(string? libraryPath, ILogger<NvmlCollector> logger, TimeProvider timeProvider, XidLog xids)
    {
        ArgumentNullException.ThrowIfNull(logger);
        ArgumentNullException.ThrowIfNull(timeProvider);
        ArgumentNullException.ThrowIfNull(xids);
        _logger = logger;
        _timeProvider = timeProvider;
        Xids = xids;
        NvmlLibrary.Configure(libraryPath);
    }

    /// <summary>Where NVML's XIDs go, and what <see cref="GpuSample.XidErrors"/> is counted from.</summary>
    internal XidLog Xids { get; }

    /// <inheritdoc />
    public string Name => "nvml";

    /// <inheritdoc />
    public ValueTask<GpuSnapshot> CollectAsync(CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();

        // NVML calls are synchronous and the sampler already runs collectors off the
        // caller's thread, so the reading is taken inline. The lock keeps a reading that
        // outlived its timeout from overlapping the next one or disposal.
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_initialised && !TryInitialise())
            {
                return ValueTask.FromResult(_unavailable!);
            }

            return ValueTask.FromResult(ReadAll(cancellationToken));
        }
    }

    /// <inheritdoc />
    /// <remarks>Null until the first sample initialised NVML: the meter then starts from that sample.</remarks>
    public unsafe GpuEnergyReading? ReadEnergy(int gpuIndex)
    {
        lock (_gate)
        {
            if (_disposed || !_initialised || gpuIndex < 0)
            {
                return null;
            }

            nint handle;
            if (NvmlNative.DeviceGetHandleByIndex((uint)gpuIndex, &handle) != NvmlReturn.Success)
            {
                return null;
            }

            ulong energy;
            uint power;
            double? joules = Has(NvmlFunction.DeviceGetTotalEnergyConsumption) && NvmlNative.DeviceGetTotalEnergyConsumption(handle, &energy) == NvmlReturn.Success ? energy / 1000.0 : null;
            double? watts = Has(NvmlFunction.DeviceGetPowerUsage) && NvmlNative.DeviceGetPowerUsage(handle, &power) == NvmlReturn.Success ? power / 1000.0 : null;
            return new GpuEnergyReading(joules, watts);
        }
    }

    bool IGpuPowerLimits.Simulated => false;

    /// <inheritdoc />
    unsafe GpuPowerLimitRange IGpuPowerLimits.Read(int gpu)
    {
        lock (_gate)
        {
            if (PowerHandle(gpu, out var handle) is { } why)
            {
                return new GpuPowerLimitRange(null, null, null, why);
            }

            uint value = 0, second = 0;
            double? limit = null, min = null, max = null;
            string? error = null;
            var result = Has(NvmlFunction.DeviceGetPowerManagementLimit) ? NvmlNative.DeviceGetPowerManagementLimit(handle, &value) : NvmlReturn.FunctionNotFound;
            if (result == NvmlReturn.Success)
            {
                limit = value / 1000.0;
            }
            else
            {
                error = $"nvmlDeviceGetPowerManagementLimit: {NvmlErrors.Describe(result)}";
            }

            result = Has(NvmlFunction.DeviceGetPowerManagementLimitConstraints) ? NvmlNative.DeviceGetPowerManagementLimitConstraints(handle, &value, &second) : NvmlReturn.FunctionNotFound;
            if (result == NvmlReturn.Success)
            {
                (min, max) = (value / 1000.0, second / 1000.0);
            }
            else
            {
                error ??= $"nvmlDeviceGetPowerManagementLimitConstraints: {NvmlErrors.Describe(result)}";
            }

            return new GpuPowerLimitRange(limit, min, max, error);
        }
    }

    /// <inheritdoc />
    string? IGpuPowerLimits.Set(int gpu, double watts)
    {
        lock (_gate)
        {
            if (PowerHandle(gpu, out var handle) is { } why)
            {
                return why;
            }

            if (!Has(NvmlFunction.DeviceSetPowerManagementLimit))
            {
                return $"the NVML library {NvmlLibrary.EffectiveName} lacks nvmlDeviceSetPowerManagementLimit";
            }

            var milliwatts = (uint)Math.Round(watts * 1000);
            var result = NvmlNative.DeviceSetPowerManagementLimit(handle, milliwatts);
            var call = string.Create(CultureInfo.InvariantCulture, $"nvmlDeviceSetPowerManagementLimit({milliwatts / 1000.0:0.###} W) on GPU {gpu}");
            return result switch
            {
                NvmlReturn.Success => null,
                NvmlReturn.NoPermission => $"{call} refused: {NvmlErrors.Describe(result)}: setting a GPU power limit needs root; run the agent as root",
                NvmlReturn.NotSupported => $"{call} refused: {NvmlErrors.Describe(result)}: this GPU does not let its power limit be set",
                NvmlReturn.InvalidArgument => $"{call} refused: {NvmlErrors.Describe(result)}: the limit is outside what the GPU accepts",
                _ => $"{call} failed: {NvmlErrors.Describe(result)}",
            };
        }
    }

    /// <summary>Under the lock: NVML ready and the GPU's handle, or why not.</summary>
    private unsafe string? PowerHandle(int gpu, out nint handle)
    {
        handle = 0;
        if (_disposed)
        {
            return "NVML is shut down";
        }

        if (!_initialised && !TryInitialise())
        {
            return _unavailable?.Message ?? "NVML is not available";
        }

        nint found;
        var result = NvmlNative.DeviceGetHandleByIndex((uint)gpu, &found);
        if (result != NvmlReturn.Success)
        {
            return string.Create(CultureInfo.InvariantCulture, $"GPU {gpu}: nvmlDeviceGetHandleByIndex: {NvmlErrors.Describe(result)}");
        }

        handle = found;
        return null;
    }

    /// <summary>Stops the XID thread, frees the event set and shuts NVML down.</summary>
    public void Dispose()
    {
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _events?.Dispose();
            _events = null;
            if (_initialised)
            {
                _initialised = false;
                var result = NvmlNative.Shutdown();
                if (result != NvmlReturn.Success)
                {
                    NvmlLog.ShutdownFailed(_logger, result);
                }
            }
        }
    }

    private bool TryInitialise()
    {
        var now = _timeProvider.GetTimestamp();
        if (_unavailable is not null && _timeProvider.GetElapsedTime(_lastInitAttempt, now) < InitRetryInterval)
        {
            return false;
        }

        _lastInitAttempt = now;
        var reason = Initialise();
        if (reason is null)
        {
            _initialised = true;
            _unavailable = null;
            _failureLogged = false;
            NvmlLog.Initialised(_logger, NvmlLibrary.EffectiveName, _driverVersion, _cudaVersion, _nvmlVersion);
            return true;
        }

        _unavailable = GpuSnapshot.Unavailable(reason);
        if (_failureLogged)
        {
            NvmlLog.StillUnavailable(_logger, reason);
        }
        else
        {
            NvmlLog.Unavailable(_logger, reason, InitRetryInterval.TotalSeconds);
            _failureLogged = true;
        }

        return false;
    }

    /// <summary>Loads and initialises NVML; returns why not, or null on success.</summary>
    private unsafe string? Initialise()
    {
        var library = NvmlLibrary.EffectiveName;
        if (!NvmlLibrary.TryLoad(out var loadError))
        {
            return string.Equals(library, NvmlLibrary.DefaultName, StringComparison.Ordinal)
                ? $"NVML library {library} not found (no NVIDIA driver?): {loadError}"
                : $"NVML library {library} could not be loaded: {loadError}";
        }

        foreach (var required in (ReadOnlySpan<NvmlFunction>)[NvmlFunction.Init, NvmlFunction.Shutdown, NvmlFunction.DeviceGetCount, NvmlFunction.DeviceGetHandleByIndex])
        {
            if (!NvmlLibrary.Has(required))
            {
                return $"NVML library {library} lacks {required} (driver too old?)";
            }
        }

        var result = NvmlNative.Init();
        if (result != NvmlReturn.Success)
        {
            return $"NVML initialisation failed: {NvmlErrors.Describe(result)}";
        }

        _driverVersion = ReadString(NvmlFunction.SystemGetDriverVersion, 0, NvmlConst.VersionBufferSize);
        _nvmlVersion = ReadString(NvmlFunction.SystemGetNvmlVersion, 0, NvmlConst.VersionBufferSize);
        int cuda;
        _cudaVersion = NvmlLibrary.Has(NvmlFunction.SystemGetCudaDriverVersion) && NvmlNative.SystemGetCudaDriverVersion(&cuda) == NvmlReturn.Success
            ? FormatCudaVersion(cuda)
            : null;

        var gpus = new List<(int, nint)>();
        uint count;
        if (NvmlNative.DeviceGetCount(&count) == NvmlReturn.Success)
        {
            for (var i = 0u; i < count; i++)
            {
                nint handle;
                if (NvmlNative.DeviceGetHandleByIndex(i, &handle) == NvmlReturn.Success)
                {
                    gpus.Add(((int)i, handle));

                    // The kernel log names GPUs by bus id: the XID log needs it before the first event.
                    NvmlPciInfo pci;
                    if (Has(NvmlFunction.DeviceGetPciInfo) && NvmlNative.DeviceGetPciInfo(handle, &pci) == NvmlReturn.Success)
                    {
                        Xids.SetGpu((int)i, DecodeString(pci.BusId, 32));
                    }
                }
            }
        }

        _events = NvmlEventWatcher.Start(gpus, Xids, _timeProvider, _logger);
        return null;
    }

    /// <summary>CUDA's integer version as "major.minor": 12040 → "12.4".</summary>
    internal static string FormatCudaVersion(int version) =>
        string.Create(CultureInfo.InvariantCulture, $"{version / 1000}.{version % 1000 / 10}");

    private unsafe GpuSnapshot ReadAll(CancellationToken cancellationToken)
    {
        uint count;
        var result = NvmlNative.DeviceGetCount(&count);
        if (result != NvmlReturn.Success)
        {
            NvmlLog.DeviceCountFailed(_logger, result);
            return new GpuSnapshot("error", $"nvmlDeviceGetCount failed: {NvmlErrors.Describe(result)}", _driverVersion, _cudaVersion, _nvmlVersion, []);
        }

        var gpus = new GpuSample[count];
        for (var i = 0; i < gpus.Length; i++)
        {
            cancellationToken.ThrowIfCancellationRequested();
            try
            {
                gpus[i] = ReadGpu(i);
            }
            catch (EntryPointNotFoundException ex)
            {
                // Exports are probed at load, so this means a binding slipped past the probe:
                // report the GPU by identity rather than fail every GPU's reading.
                NvmlLog.MissingEntryPoint(_logger, i, ex);
                gpus[i] = Placeholder(i);
            }
        }

        return new GpuSnapshot("ok", null, _driverVersion, _cudaVersion, _nvmlVersion, gpus);
    }

    private unsafe GpuSample ReadGpu(int index)
    {
        nint handle;
        var reader = new Reader();
        if (!reader.Ok(NvmlNative.DeviceGetHandleByIndex((uint)index, &handle)))
        {
            return reader.Lost ? LostSample(index) : Placeholder(index);
        }

        var identity = ReadIdentity(index, handle, ref reader);
        if (reader.Lost || identity is null)
        {
            return reader.Lost ? LostSample(index) : Placeholder(index);
        }

        var memory = ReadMemory(handle, ref reader);

        if (reader.Lost)
        {
            // Identity may have come from the cache: stop at the first call that says so.
            return LostSample(index);
        }

        double? utilGpu = null, utilMem = null;
        NvmlUtilization utilization;
        if (Has(NvmlFunction.DeviceGetUtilizationRates) && reader.Ok(NvmlNative.DeviceGetUtilizationRates(handle, &utilization)))
        {
            (utilGpu, utilMem) = (utilization.Gpu, utilization.Memory);
        }

        uint value;
        var temperature = ReadTemperature(handle, ref reader);
        double? power = Has(NvmlFunction.DeviceGetPowerUsage) && reader.Ok(NvmlNative.DeviceGetPowerUsage(handle, &value)) ? value / 1000.0 : null;
        ulong wide;
        double? energy = Has(NvmlFunction.DeviceGetTotalEnergyConsumption) && reader.Ok(NvmlNative.DeviceGetTotalEnergyConsumption(handle, &wide)) ? wide / 1000.0 : null;
        double? powerLimit = Has(NvmlFunction.DeviceGetPowerManagementLimit) && reader.Ok(NvmlNative.DeviceGetPowerManagementLimit(handle, &value)) ? value / 1000.0 : null;
        double? enforcedLimit = Has(NvmlFunction.DeviceGetEnforcedPowerLimit) && reader.Ok(NvmlNative.DeviceGetEnforcedPowerLimit(handle, &value)) ? value / 1000.0 : null;
        double? defaultLimit = Has(NvmlFunction.DeviceGetPowerManagementDefaultLimit) && reader.Ok(NvmlNative.DeviceGetPowerManagementDefaultLimit(handle, &value)) ? value / 1000.0 : null;
        double? minLimit = null, maxLimit = null;
        uint second;
        if (Has(NvmlFunction.DeviceGetPowerManagementLimitConstraints) && reader.Ok(NvmlNative.DeviceGetPowerManagementLimitConstraints(handle, &value, &second)))
        {
            (minLimit, maxLimit) = (value / 1000.0, second / 1000.0);
        }

        double? smClock = Has(NvmlFunction.DeviceGetClockInfo) && reader.Ok(NvmlNative.DeviceGetClockInfo(handle, NvmlConst.ClockSm, &value)) ? value * 1e6 : null;
        double? memClock = Has(NvmlFunction.DeviceGetClockInfo) && reader.Ok(NvmlNative.DeviceGetClockInfo(handle, NvmlConst.ClockMem, &value)) ? value * 1e6 : null;
        double? graphicsClock = Has(NvmlFunction.DeviceGetClockInfo) && reader.Ok(NvmlNative.DeviceGetClockInfo(handle, NvmlConst.ClockGraphics, &value)) ? value * 1e6 : null;
        double? maxSmClock = Has(NvmlFunction.DeviceGetMaxClockInfo) && reader.Ok(NvmlNative.DeviceGetMaxClockInfo(handle, NvmlConst.ClockSm, &value)) ? value * 1e6 : null;

        // The throttle-reasons name is the older spelling of the same call, deprecated in NVML 13.0;
        // drivers before 535 have only it.
        ulong? reasons = NvmlLibrary.Has(NvmlFunction.DeviceGetCurrentClocksEventReasons)
            ? (reader.Ok(NvmlNative.DeviceGetCurrentClocksEventReasons(handle, &wide)) ? wide : null)
            : (Has(NvmlFunction.DeviceGetCurrentClocksThrottleReasons) && reader.Ok(NvmlNative.DeviceGetCurrentClocksThrottleReasons(handle, &wide)) ? wide : null);

        int pstateRaw;
        int? pstate = Has(NvmlFunction.DeviceGetPerformanceState) && reader.Ok(NvmlNative.DeviceGetPerformanceState(handle, &pstateRaw)) && pstateRaw is >= 0 and < NvmlConst.PStateUnknown ? pstateRaw : null;
        double? fan = Has(NvmlFunction.DeviceGetFanSpeed) && reader.Ok(NvmlNative.DeviceGetFanSpeed(handle, &value)) ? value : null;

        var eccCv = ReadEcc(handle, NvmlConst.EccCorrected, NvmlConst.EccVolatile, ref reader);
        var eccUv = ReadEcc(handle, NvmlConst.EccUncorrected, NvmlConst.EccVolatile, ref reader);
        var eccCa = ReadEcc(handle, NvmlConst.EccCorrected, NvmlConst.EccAggregate, ref reader);
        var eccUa = ReadEcc(handle, NvmlConst.EccUncorrected, NvmlConst.EccAggregate, ref reader);
        var retiredSbe = ReadRetiredPages(handle, NvmlConst.RetiredMultipleSingleBit, ref reader);
        var retiredDbe = ReadRetiredPages(handle, NvmlConst.RetiredDoubleBit, ref reader);
        int retiredPending;
        bool? retiredPagesPending = Has(NvmlFunction.DeviceGetRetiredPagesPendingStatus) && reader.Ok(NvmlNative.DeviceGetRetiredPagesPendingStatus(handle, &retiredPending)) ? retiredPending != 0 : null;

        uint corrRows = 0, uncRows = 0, pending = 0, failure = 0;
        var remapped = Has(NvmlFunction.DeviceGetRemappedRows) && reader.Ok(NvmlNative.DeviceGetRemappedRows(handle, &corrRows, &uncRows, &pending, &failure));

        ulong? pcieReplays = Has(NvmlFunction.DeviceGetPcieReplayCounter) && reader.Ok(NvmlNative.DeviceGetPcieReplayCounter(handle, &value)) ? value : null;
        int? pcieGen = Has(NvmlFunction.DeviceGetCurrPcieLinkGeneration) && reader.Ok(NvmlNative.DeviceGetCurrPcieLinkGeneration(handle, &value)) ? (int)value : null;
        int? pcieWidth = Has(NvmlFunction.DeviceGetCurrPcieLinkWidth) && reader.Ok(NvmlNative.DeviceGetCurrPcieLinkWidth(handle, &value)) ? (int)value : null;

        var (nvLinks, memoryTemperature, recoveryAction) = ReadFields(handle, ref reader);
        var processes = ReadProcesses(handle, ref reader);
        var (migEnabled, migInstances) = ReadMig(handle, ref reader);

        if (reader.Lost)
        {
            return LostSample(index);
        }

        _lostGpus.Remove(index);
        return new GpuSample
        {
            Index = index,
            Uuid = identity.Uuid,
            Name = identity.Name,
            PciBusId = identity.PciBusId,
            MemoryTotalBytes = memory?.Total,
            MemoryUsedBytes = memory?.Used,
            MemoryFreeBytes = memory?.Free,
            MemoryReservedBytes = memory?.Reserved,
            UtilizationGpuPercent = utilGpu,
            UtilizationMemoryPercent = utilMem,
            TemperatureCelsius = temperature,
            MemoryTemperatureCelsius = memoryTemperature,
            PowerWatts = power,
            EnergyJoules = energy,
            PowerLimitWatts = powerLimit,
            EnforcedPowerLimitWatts = enforcedLimit,
            DefaultPowerLimitWatts = defaultLimit,
            MinPowerLimitWatts = minLimit,
            MaxPowerLimitWatts = maxLimit,
            SmClockHz = smClock,
            MemoryClockHz = memClock,
            GraphicsClockHz = graphicsClock,
            MaxSmClockHz = maxSmClock,
            ClockEventReasons = reasons,
            PerformanceState = pstate,
            FanSpeedPercent = fan,
            EccCorrectedVolatile = eccCv,
            EccUncorrectedVolatile = eccUv,
            EccCorrectedAggregate = eccCa,
            EccUncorrectedAggregate = eccUa,
            RetiredPagesSingleBit = retiredSbe,
            RetiredPagesDoubleBit = retiredDbe,
            RetiredPagesPending = retiredPagesPending,
            RemappedRowsCorrectable = remapped ? corrRows : null,
            RemappedRowsUncorrectable = remapped ? uncRows : null,
            RemappedRowsPending = remapped ? pending != 0 : null,
            RemappedRowsFailure = remapped ? failure != 0 : null,
            PcieReplays = pcieReplays,
            PcieLinkGeneration = pcieGen,
            PcieLinkWidth = pcieWidth,
            NvLinks = nvLinks,
            Processes = processes,
            XidErrors = XidCounts(index),
            LastXid = Xids.LastFor(index),
            MigEnabled = migEnabled,
            MigInstances = migInstances,
            RecoveryAction = recoveryAction,
        };
    }

    /// <summary>Name, UUID and PCI bus id, read once per GPU index and then cached.</summary>
    private unsafe GpuIdentity? ReadIdentity(int index, nint handle, ref Reader reader)
    {
        if (_identities.TryGetValue(index, out var cached))
        {
            return cached;
        }

        var name = ReadDeviceString(NvmlFunction.DeviceGetName, handle, ref reader);
        var uuid = ReadDeviceString(NvmlFunction.DeviceGetUuid, handle, ref reader);
        if (name is null || uuid is null)
        {
            return null;
        }

        NvmlPciInfo pci;
        var busId = Has(NvmlFunction.DeviceGetPciInfo) && reader.Ok(NvmlNative.DeviceGetPciInfo(handle, &pci)) ? DecodeString(pci.BusId, 32) : null;
        var identity = new GpuIdentity(uuid, name, busId);
        _identities[index] = identity;
        Xids.SetGpu(index, busId);
        return identity;
    }

    private GpuSample LostSample(int index)
    {
        var identity = _identities.GetValueOrDefault(index);
        if (_lostGpus.Add(index))
        {
            // Logged when the GPU goes, not every sample while it stays gone.
            NvmlLog.GpuLost(_logger, index, identity?.Uuid ?? "unknown UUID");
        }

        return new GpuSample
        {
            Index = index,
            Uuid = identity?.Uuid ?? string.Empty,
            Name = identity?.Name ?? string.Empty,
            PciBusId = identity?.PciBusId,
            Lost = true,
            XidErrors = XidCounts(index),
            LastXid = Xids.LastFor(index),
        };
    }

    /// <summary>A GPU NVML lists but would not identify (not lost): identity only, from the cache if any.</summary>
    private GpuSample Placeholder(int index)
    {
        var identity = _identities.GetValueOrDefault(index);
        return new GpuSample
        {
            Index = index,
            Uuid = identity?.Uuid ?? string.Empty,
            Name = identity?.Name ?? string.Empty,
            PciBusId = identity?.PciBusId,
            XidErrors = XidCounts(index),
            LastXid = Xids.LastFor(index),
        };
    }

    /// <summary>Whether the loaded library exports the function: an old driver lacks newer ones.</summary>
    private static bool Has(NvmlFunction function) => NvmlLibrary.Has(function);

    private IReadOnlyDictionary<ulong, ulong> XidCounts(int index) => Xids.CountsFor(index);

    private static unsafe ulong? ReadEcc(nint handle, int errorType, int counterType, ref Reader reader)
    {
        ulong count;
        return Has(NvmlFunction.DeviceGetTotalEccErrors) && reader.Ok(NvmlNative.DeviceGetTotalEccErrors(handle, errorType, counterType, &count)) ? count : null;
    }

    /// <summary>
    /// One memory reading: v2 where the library exports it (used without the reserved memory,
    /// reserved apart); v1 on drivers without it, or when v2 fails other than by the GPU being
    /// lost (a struct version the driver does not know, a device it does not serve): v1's used
    /// counts the reserved memory, and reserved is unknown. Null when neither answers.
    /// </summary>
    private static unsafe MemoryReading? ReadMemory(nint handle, ref Reader reader)
    {
        if (Has(NvmlFunction.DeviceGetMemoryInfoV2))
        {
            var v2 = new NvmlMemoryV2 { Version = NvmlConst.MemoryV2Version };
            var result = NvmlNative.DeviceGetMemoryInfoV2(handle, &v2);
            if (reader.Ok(result))
            {
                return new MemoryReading(v2.Total, v2.Used, v2.Free, v2.Reserved);
            }

            if (reader.Lost)
            {
                return null;
            }
        }

        NvmlMemory v1;
        return Has(NvmlFunction.DeviceGetMemoryInfo) && reader.Ok(NvmlNative.DeviceGetMemoryInfo(handle, &v1))
            ? new MemoryReading(v1.Total, v1.Used, v1.Free, null)
            : null;
    }

    /// <summary>
    /// The GPU core temperature: <c>nvmlDeviceGetTemperatureV</c> where the library exports it
    /// (the old call is deprecated in NVML 13.0); the old call on drivers without it, or when
    /// the new one fails other than by the GPU being lost.
    /// </summary>
    private static unsafe double? ReadTemperature(nint handle, ref Reader reader)
    {
        if (Has(NvmlFunction.DeviceGetTemperatureV))
        {
            var reading = new NvmlTemperature { Version = NvmlConst.TemperatureV1Version, SensorType = NvmlConst.TemperatureGpu };
            var result = NvmlNative.DeviceGetTemperatureV(handle, &reading);
            if (reader.Ok(result))
            {
                return reading.Temperature;
            }

            if (reader.Lost)
            {
                return null;
            }
        }

        uint value;
        return Has(NvmlFunction.DeviceGetTemperature) && reader.Ok(NvmlNative.DeviceGetTemperature(handle, NvmlConst.TemperatureGpu, &value)) ? value : null;
    }

    /// <summary>
    /// The number of retired pages of one cause. A real buffer is always passed: the documented
    /// size query (a NULL buffer with a zero count) is answered INVALID_ARGUMENT by some drivers.
    /// The buffer grows while NVML answers INSUFFICIENT_SIZE with the count it needs.
    /// </summary>
    private static unsafe uint? ReadRetiredPages(nint handle, int cause, ref Reader reader)
    {
        if (!NvmlLibrary.Has(NvmlFunction.DeviceGetRetiredPages))
        {
            return null;
        }

        const int InitialPages = 64;
        Span<ulong> initial = stackalloc ulong[InitialPages];
        var capacity = (uint)InitialPages;
        var result = NvmlReturn.Unknown;
        uint count = 0;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            ulong[]? rented = capacity > InitialPages ? ArrayPool<ulong>.Shared.Rent((int)capacity) : null;
            try
            {
                var buffer = rented is null ? initial : rented.AsSpan(0, (int)capacity);
                count = capacity;
                fixed (ulong* addresses = buffer)
                {
                    result = NvmlNative.DeviceGetRetiredPages(handle, cause, &count, addresses);
                }
            }
            finally
            {
                if (rented is not null)
                {
                    ArrayPool<ulong>.Shared.Return(rented);
                }
            }

            if (result != NvmlReturn.InsufficientSize)
            {
                return reader.Ok(result) ? count : null;
            }

            // Pages retired between the calls: leave room for a few more.
            capacity = Math.Max(count, capacity) + 16;
        }

        // Still short after growing: the count NVML asked room for is the number of pages.
        return count;
    }

    /// <summary>
    /// NVLink states, their counters, the memory temperature and the GPU recovery action. Every
    /// link up to the header's <c>NVML_NVLINK_MAX_LINKS</c> is asked: a link whose state cannot
    /// be read is left out and the next one is asked, as links need not be numbered without gaps.
    /// </summary>
    private static unsafe (IReadOnlyList<NvLinkSample> Links, double? MemoryTemperature, GpuRecoveryAction? RecoveryAction) ReadFields(nint handle, ref Reader reader)
    {
        Span<int> linkIds = stackalloc int[NvmlConst.MaxNvLinks];
        Span<int> active = stackalloc int[NvmlConst.MaxNvLinks];
        var links = 0;
        if (NvmlLibrary.Has(NvmlFunction.DeviceGetNvLinkState))
        {
            for (var link = 0; link < NvmlConst.MaxNvLinks && !reader.Lost; link++)
            {
                int isActive;
                if (reader.Ok(NvmlNative.DeviceGetNvLinkState(handle, (uint)link, &isActive)))
                {
                    linkIds[links] = link;
                    active[links] = isActive;
                    links++;
                }
            }
        }

        linkIds = linkIds[..links];
        active = active[..links];
        var remotes = RemoteBusIds(handle, linkIds, active, ref reader);
        if (!NvmlLibrary.Has(NvmlFunction.DeviceGetFieldValues))
        {
            return (LinksWithoutCounters(linkIds, active, remotes), null, null);
        }

        // One call: memory temperature, recovery action, then per link TX, RX (KiB), CRC (flit),
        // CRC (data), replay and recovery totals.
        const int DeviceFields = 2;
        const int PerLink = 6;
        ReadOnlySpan<uint> linkFields =
        [
            NvmlConst.FieldNvLinkThroughputDataTx, NvmlConst.FieldNvLinkThroughputDataRx,
            NvmlConst.FieldNvLinkCrcFlitTotal, NvmlConst.FieldNvLinkCrcDataTotal,
            NvmlConst.FieldNvLinkReplayTotal, NvmlConst.FieldNvLinkRecoveryTotal,
        ];
        Span<NvmlFieldValue> fields = stackalloc NvmlFieldValue[DeviceFields + (PerLink * NvmlConst.MaxNvLinks)];
        fields = fields[..(DeviceFields + (PerLink * links))];
        fields.Clear();
        fields[0].FieldId = NvmlConst.FieldMemoryTemperature;
        fields[1].FieldId = NvmlConst.FieldGpuRecoveryAction;
        for (var i = 0; i < links; i++)
        {
            for (var f = 0; f < PerLink; f++)
            {
                ref var field = ref fields[DeviceFields + (i * PerLink) + f];
                field.FieldId = linkFields[f];
                field.ScopeId = (uint)linkIds[i];
            }
        }

        NvmlReturn batch;
        fixed (NvmlFieldValue* values = fields)
        {
            batch = NvmlNative.DeviceGetFieldValues(handle, fields.Length, values);
        }

        if (!reader.Ok(batch))
        {
            return (LinksWithoutCounters(linkIds, active, remotes), null, null);
        }

        // Each value carries its own result: one that says the GPU is lost means the whole GPU
        // is, exactly as when a call returns it.
        foreach (ref readonly var field in fields)
        {
            reader.Note(field.Return);
        }

        double? memoryTemperature = FieldValue(fields[0]) is { } temp ? temp : null;
        GpuRecoveryAction? recoveryAction = FieldCounter(fields[1]) is { } action and <= int.MaxValue ? (GpuRecoveryAction)(int)action : null;
        var samples = new NvLinkSample[links];
        for (var i = 0; i < links; i++)
        {
            var row = fields.Slice(DeviceFields + (i * PerLink), PerLink);
            samples[i] = new NvLinkSample(
                linkIds[i],
                active[i] != 0,
                FieldCounter(row[0]) * 1024,
                FieldCounter(row[1]) * 1024,
                FieldCounter(row[2]),
                FieldCounter(row[4]),
                FieldCounter(row[5]))
            {
                CrcDataErrors = FieldCounter(row[3]),
                RemotePciBusId = remotes?[i],
            };
        }

        return (samples, memoryTemperature, recoveryAction);
    }

    private static NvLinkSample[] LinksWithoutCounters(ReadOnlySpan<int> linkIds, ReadOnlySpan<int> active, string?[]? remotes)
    {
        var samples = new NvLinkSample[linkIds.Length];
        for (var i = 0; i < linkIds.Length; i++)
        {
            samples[i] = new NvLinkSample(linkIds[i], active[i] != 0, null, null, null, null, null) { RemotePciBusId = remotes?[i] };
        }

        return samples;
    }

    /// <summary>
    /// The PCI bus id at the far end of each active link (a peer GPU, or an NVSwitch on HGX boards),
    /// which is how the agent works out which GPUs of the node are NVLink peers. Null where NVML
    /// cannot say; null altogether for a driver without the call.
    /// </summary>
    private static unsafe string?[]? RemoteBusIds(nint handle, ReadOnlySpan<int> linkIds, ReadOnlySpan<int> active, ref Reader reader)
    {
        if (linkIds.IsEmpty || !NvmlLibrary.Has(NvmlFunction.DeviceGetNvLinkRemotePciInfo))
        {
            return null;
        }

        var remotes = new string?[linkIds.Length];
        for (var i = 0; i < linkIds.Length; i++)
        {
            NvmlPciInfo pci;
            if (active[i] != 0 && reader.Ok(NvmlNative.DeviceGetNvLinkRemotePciInfo(handle, (uint)linkIds[i], &pci)))
            {
                remotes[i] = DecodeString(pci.BusId, 32);
            }
        }

        return remotes;
    }

    /// <summary>A field's value as a number, read by its value type; null when NVML had none.</summary>
    private static double? FieldValue(in NvmlFieldValue field)
    {
        if (field.Return != NvmlReturn.Success)
        {
            return null;
        }

        return field.ValueType switch
        {
            0 => field.DoubleValue,
            1 => field.UIntValue,
            // C's unsigned long: 8 bytes on Linux x64, 4 on Windows.
            2 => OperatingSystem.IsWindows() ? field.UIntValue : field.ULongLongValue,
            3 => field.ULongLongValue,
            4 => field.SLongLongValue,
            5 => field.SIntValue,
            6 => field.UShortValue,
            _ => null,
        };
    }

    private static ulong? FieldCounter(in NvmlFieldValue field)
    {
        if (field.Return != NvmlReturn.Success)
        {
            return null;
        }

        return field.ValueType switch
        {
            1 => field.UIntValue,
            2 => OperatingSystem.IsWindows() ? field.UIntValue : field.ULongLongValue,
            3 => field.ULongLongValue,
            4 => field.SLongLongValue >= 0 ? (ulong)field.SLongLongValue : null,
            5 => field.SIntValue >= 0 ? (ulong)field.SIntValue : null,
            6 => field.UShortValue,
            _ => null,
        };
    }

    /// <summary>
    /// Compute processes; null when unsupported. The driver's entry size is measured, not
    /// trusted: the buffer holds every entry at the largest stride seen (so whatever the driver
    /// writes for the count we pass fits), is pre-filled with a sentinel, and the stride is
    /// deduced from how far the entries reached (<see cref="DetectProcessStride"/>). The buffer
    /// grows while NVML answers INSUFFICIENT_SIZE.
    /// </summary>
    private static unsafe GpuProcessSample[]? ReadProcesses(nint handle, ref Reader reader)
    {
        if (!NvmlLibrary.Has(NvmlFunction.DeviceGetComputeRunningProcesses))
        {
            return null;
        }

        // Room for this many entries at first: most GPUs run a handful of processes.
        var capacity = 32u;
        var result = NvmlReturn.Unknown;
        for (var attempt = 0; attempt < 4; attempt++)
        {
            var bytes = (int)capacity * NvmlConst.ProcessInfoStrideMax;
            var rented = ArrayPool<byte>.Shared.Rent(bytes);
            try
            {
                var buffer = rented.AsSpan(0, bytes);
                FillSentinel(buffer);
                var count = capacity;
                fixed (byte* infos = buffer)
                {
                    result = NvmlNative.DeviceGetComputeRunningProcesses(handle, &count, infos);
                }

                if (result == NvmlReturn.Success)
                {
                    // A count beyond what we offered would be a driver fault: read no further than the buffer.
                    count = Math.Min(count, capacity);
                    return ParseProcesses(buffer, (int)count, DetectProcessStride(buffer, (int)count));
                }

                if (result != NvmlReturn.InsufficientSize)
                {
                    break;
                }

                // Processes come and go between the calls: leave room for a few more.
                capacity = Math.Max(count, capacity) + 8;
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }

        _ = reader.Ok(result);
        return null;
    }

    /// <summary>Fills a process buffer with the sentinel the stride is measured against.</summary>
    internal static void FillSentinel(Span<byte> buffer) =>
        MemoryMarshal.Cast<byte, ulong>(buffer).Fill(ProcessSentinel);

    /// <summary>
    /// The entry size the driver wrote: the smallest known stride (16, 24, 32) whose
    /// <paramref name="count"/> entries reach as far as the driver's writes did (the last 8-byte
    /// word that no longer holds the sentinel). Every entry field is 8-byte aligned in all three
    /// layouts, so the last entry ends exactly on a word. When the writes reach beyond
    /// <paramref name="count"/> entries of the largest stride, nothing can be deduced and the
    /// header's 24 bytes are assumed.
    /// </summary>
    internal static int DetectProcessStride(ReadOnlySpan<byte> buffer, int count)
    {
        if (count <= 0)
        {
            return NvmlConst.ProcessInfoStrideV2;
        }

        var words = MemoryMarshal.Cast<byte, ulong>(buffer);
        var last = words.Length - 1;
        while (last >= 0 && words[last] == ProcessSentinel)
        {
            last--;
        }

        var extent = (long)(last + 1) * sizeof(ulong);
        foreach (var stride in (ReadOnlySpan<int>)[NvmlConst.ProcessInfoStrideV1, NvmlConst.ProcessInfoStrideV2, NvmlConst.ProcessInfoStrideMax])
        {
            if ((long)stride * count >= extent)
            {
                return stride;
            }
        }

        return NvmlConst.ProcessInfoStrideV2;
    }

    /// <summary>Reads pid and used memory of each entry at <paramref name="stride"/> bytes apart.</summary>
    internal static GpuProcessSample[] ParseProcesses(ReadOnlySpan<byte> buffer, int count, int stride)
    {
        var samples = new GpuProcessSample[count];
        for (var i = 0; i < samples.Length; i++)
        {
            var entry = buffer.Slice(i * stride, stride);
            var pid = BinaryPrimitives.ReadUInt32LittleEndian(entry[NvmlConst.ProcessInfoPidOffset..]);
            var used = BinaryPrimitives.ReadUInt64LittleEndian(entry[NvmlConst.ProcessInfoUsedMemoryOffset..]);
            samples[i] = new GpuProcessSample(pid, ProcessName(pid), used == NvmlConst.ValueNotAvailable ? null : used);
        }

        return samples;
    }

    /// <summary>The process's command name from <c>/proc/PID/comm</c>; null where that cannot be read.</summary>
    private static string? ProcessName(uint pid)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        try
        {
            return File.ReadAllText(string.Create(CultureInfo.InvariantCulture, $"/proc/{pid}/comm")).TrimEnd('\n');
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>MIG mode and, when enabled, each MIG device's UUID, instance ids and memory.</summary>
    private static unsafe (bool? Enabled, IReadOnlyList<MigInstanceSample> Instances) ReadMig(nint handle, ref Reader reader)
    {
        uint current, pendingMode;
        if (!(Has(NvmlFunction.DeviceGetMigMode) && reader.Ok(NvmlNative.DeviceGetMigMode(handle, &current, &pendingMode))))
        {
            return (null, []);
        }

        if (current == 0)
        {
            return (false, []);
        }

        uint max;
        if (!(Has(NvmlFunction.DeviceGetMaxMigDeviceCount) && reader.Ok(NvmlNative.DeviceGetMaxMigDeviceCount(handle, &max))) ||
            !NvmlLibrary.Has(NvmlFunction.DeviceGetMigDeviceHandleByIndex))
        {
            return (true, []);
        }

        var instances = new List<MigInstanceSample>();
        for (var i = 0u; i < max; i++)
        {
            nint mig;
            if (!reader.Ok(NvmlNative.DeviceGetMigDeviceHandleByIndex(handle, i, &mig)))
            {
                // NOT_FOUND: no MIG device in that slot.
                continue;
            }

            var uuid = ReadDeviceString(NvmlFunction.DeviceGetUuid, mig, ref reader);
            uint gi, ci;
            uint? gpuInstance = Has(NvmlFunction.DeviceGetGpuInstanceId) && reader.Ok(NvmlNative.DeviceGetGpuInstanceId(mig, &gi)) ? gi : null;
            uint? computeInstance = Has(NvmlFunction.DeviceGetComputeInstanceId) && reader.Ok(NvmlNative.DeviceGetComputeInstanceId(mig, &ci)) ? ci : null;
            var memory = ReadMemory(mig, ref reader);
            instances.Add(new MigInstanceSample((int)i, uuid, gpuInstance, computeInstance, memory?.Total, memory?.Used));
        }

        return (true, instances);
    }

    private static unsafe string? ReadString(NvmlFunction function, nint handle, int size)
    {
        if (!NvmlLibrary.Has(function))
        {
            return null;
        }

        var buffer = stackalloc byte[size];
        var result = function switch
        {
            NvmlFunction.SystemGetDriverVersion => NvmlNative.SystemGetDriverVersion(buffer, (uint)size),
            NvmlFunction.SystemGetNvmlVersion => NvmlNative.SystemGetNvmlVersion(buffer, (uint)size),
            NvmlFunction.DeviceGetName => NvmlNative.DeviceGetName(handle, buffer, (uint)size),
            NvmlFunction.DeviceGetUuid => NvmlNative.DeviceGetUuid(handle, buffer, (uint)size),
            _ => throw new ArgumentOutOfRangeException(nameof(function)),
        };
        return result == NvmlReturn.Success ? DecodeString(buffer, size) : null;
    }

    private static unsafe string? ReadDeviceString(NvmlFunction function, nint handle, ref Reader reader)
    {
        if (!NvmlLibrary.Has(function))
        {
            return null;
        }

        var buffer = stackalloc byte[NvmlConst.StringBufferSize];
        var result = function == NvmlFunction.DeviceGetName
            ? NvmlNative.DeviceGetName(handle, buffer, NvmlConst.StringBufferSize)
            : NvmlNative.DeviceGetUuid(handle, buffer, NvmlConst.StringBufferSize);
        return reader.Ok(result) ? DecodeString(buffer, NvmlConst.StringBufferSize) : null;
    }

    private static unsafe string DecodeString(byte* buffer, int size)
    {
        var span = new ReadOnlySpan<byte>(buffer, size);
        var end = span.IndexOf((byte)0);
        return Encoding.UTF8.GetString(end < 0 ? span : span[..end]);
    }

    private sealed record GpuIdentity(string Uuid, string Name, string? PciBusId);

    /// <summary>One memory reading; <see cref="Reserved"/> is null when it came from v1.</summary>
    private readonly record struct MemoryReading(ulong Total, ulong Used, ulong Free, ulong? Reserved);

    /// <summary>
    /// Judges one call's result: success gives the reading; NOT_SUPPORTED, NO_PERMISSION,
    /// FUNCTION_NOT_FOUND and other failures give null; GPU_IS_LOST marks the whole GPU lost.
    /// </summary>
    private struct Reader
    {
        public bool Lost { get; private set; }

        public bool Ok(NvmlReturn result)
        {
            Note(result);
            return result == NvmlReturn.Success;
        }

        /// <summary>Takes note of a result that gives no reading of its own (a field value's).</summary>
        public void Note(NvmlReturn result)
        {
            if (result == NvmlReturn.GpuIsLost)
            {
                Lost = true;
            }
        }
    }
}
