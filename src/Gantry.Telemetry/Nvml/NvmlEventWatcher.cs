using Gantry.Telemetry.Health;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Nvml;

/// <summary>
/// Hands NVML's XID events to the <see cref="XidLog"/>, which counts them (once, with the kernel
/// log's reports of the same XIDs) and keeps them for the heartbeat. A dedicated background thread
/// (NVML's wait blocks, so it must not sit on a thread-pool thread) waits on one event set that
/// every GPU supporting XID events is registered in, ~500 ms at a time so it notices disposal promptly.
/// </summary>
internal sealed unsafe class NvmlEventWatcher : IDisposable
{
    private const uint WaitMilliseconds = 500;
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(5);

    private readonly ILogger _logger;
    private readonly XidLog _log;
    private readonly TimeProvider _time;
    private readonly nint _set;
    private readonly bool _waitV2;
    private readonly Dictionary<nint, int> _indexByHandle;
    private readonly ManualResetEventSlim _stop = new();
    private readonly Thread _thread;
    private volatile bool _stopping;
    private bool _disposed;

    private NvmlEventWatcher(ILogger logger, XidLog log, TimeProvider time, nint set, Dictionary<nint, int> indexByHandle)
    {
        _logger = logger;
        _log = log;
        _time = time;
        _set = set;
        _indexByHandle = indexByHandle;
        _waitV2 = NvmlLibrary.Has(NvmlFunction.EventSetWaitV2);
        _thread = new Thread(Run) { IsBackground = true, Name = "gantry-nvml-events" };
        _thread.Start();
    }

    /// <summary>
    /// Registers XID critical events on every GPU that supports them and starts the thread;
    /// null (logged) when the driver offers no events.
    /// </summary>
    public static NvmlEventWatcher? Start(IReadOnlyList<(int Index, nint Handle)> gpus, XidLog log, TimeProvider time, ILogger logger)
    {
        if (!NvmlLibrary.Has(NvmlFunction.EventSetCreate) || !NvmlLibrary.Has(NvmlFunction.DeviceRegisterEvents) ||
            !NvmlLibrary.Has(NvmlFunction.DeviceGetSupportedEventTypes) || !NvmlLibrary.Has(NvmlFunction.EventSetFree) ||
            !(NvmlLibrary.Has(NvmlFunction.EventSetWaitV2) || NvmlLibrary.Has(NvmlFunction.EventSetWaitV1)))
        {
            NvmlLog.EventsUnavailable(logger, "the NVML library lacks the event functions");
            return null;
        }

        nint set;
        var result = NvmlNative.EventSetCreate(&set);
        if (result != NvmlReturn.Success)
        {
            NvmlLog.EventsUnavailable(logger, $"nvmlEventSetCreate returned {NvmlErrors.Describe(result)}");
            return null;
        }

        var indexByHandle = new Dictionary<nint, int>();
        foreach (var (index, handle) in gpus)
        {
            ulong supported;
            result = NvmlNative.DeviceGetSupportedEventTypes(handle, &supported);
            if (result == NvmlReturn.Success)
            {
                // Only XID critical errors are counted; other event types would only wake the thread.
                var mask = supported & NvmlConst.EventXidCritical;
                result = mask == 0 ? NvmlReturn.NotSupported : NvmlNative.DeviceRegisterEvents(handle, mask, set);
            }

            if (result == NvmlReturn.Success)
            {
                indexByHandle[handle] = index;
            }
            else
            {
                NvmlLog.EventRegistrationFailed(logger, index, result);
            }
        }

        if (indexByHandle.Count == 0)
        {
            _ = NvmlNative.EventSetFree(set);
            NvmlLog.EventsUnavailable(logger, "no GPU supports XID events");
            return null;
        }

        return new NvmlEventWatcher(logger, log, time, set, indexByHandle);
    }

    private void Run()
    {
        var lastFailure = NvmlReturn.Success;
        try
        {
            while (!_stopping)
            {
                NvmlEventData data = default;
                var result = _waitV2
                    ? NvmlNative.EventSetWaitV2(_set, &data, WaitMilliseconds)
                    : NvmlNative.EventSetWaitV1(_set, &data, WaitMilliseconds);
                if (result == NvmlReturn.Success)
                {
                    lastFailure = NvmlReturn.Success;
                    if ((data.EventType & NvmlConst.EventXidCritical) != 0 && _indexByHandle.TryGetValue(data.Device, out var index))
                    {
                        Count(index, data.EventData);
                    }
                }
                else if (result != NvmlReturn.Timeout)
                {
                    if (result != lastFailure)
                    {
                        NvmlLog.EventWaitFailed(_logger, result);
                        lastFailure = result;
                    }

                    // A failing wait returns at once; pause so the loop does not spin.
                    _stop.Wait(TimeSpan.FromMilliseconds(WaitMilliseconds));
                }
            }
        }
        catch (Exception ex)
        {
            NvmlLog.EventThreadFailed(_logger, ex);
        }
    }

    private void Count(int index, ulong xid)
    {
        _log.Observe(XidSource.Nvml, index, pciBusId: null, xid, _time.GetUtcNow());
        NvmlLog.Xid(_logger, index, xid);
    }

    /// <summary>Stops the thread and frees the event set (left allocated if the thread is stuck in NVML).</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            return;
        }

        _disposed = true;
        _stopping = true;
        _stop.Set();
        if (_thread.Join(StopTimeout))
        {
            _ = NvmlNative.EventSetFree(_set);
            _stop.Dispose();
        }
        else
        {
            NvmlLog.EventThreadStuck(_logger, StopTimeout.TotalSeconds);
        }
    }
}
