using System.Text.Json;
using Gantry.Agent.Configuration;
using Gantry.Agent.Sampling;
using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Health;
using Gantry.Telemetry.Nvml;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Health;

/// <summary>
/// Reads the NVIDIA driver's XID lines from the kernel log (<c>--kernel-log</c>, <c>/dev/kmsg</c>) into
/// the <see cref="XidLog"/> the NVML collector feeds too, so that an XID both report is counted once
/// and one NVML cannot deliver (79, 119, 120) is seen at all. It runs only when the GPUs come from
/// NVML (the log maps the kernel's bus ids to NVML's indexes) and starts after the first sample (when
/// that map is known). A log the agent may not read is said once in its log and in <c>/status</c>
/// (<see cref="StatusJson"/>), and tried again every minute.
/// </summary>
internal sealed class KernelLogWorker(
    XidLog xids,
    CollectorSet collectors,
    SnapshotPublisher publisher,
    AgentOptions options,
    TimeProvider time,
    ILoggerFactory loggers) : BackgroundService
{
    private static readonly byte[] NotRead = "null"u8.ToArray();

    private volatile KernelXidReader? _reader;

    /// <summary>True when this agent reads a kernel log (NVML GPUs, Linux, not <c>--kernel-log off</c>).</summary>
    public bool Enabled => options.KernelLog is not null && collectors.Gpus is NvmlCollector && OperatingSystem.IsLinux();

    /// <summary>Why the kernel log is not read, for the heartbeat; null while it is (or before the first try, or when disabled).</summary>
    public string? Problem => _reader?.Status is { State: KernelLogState.PermissionDenied or KernelLogState.Unavailable, Message: var message } ? message : null;

    /// <summary>
    /// The reader's state as <c>/status</c> shows it: <c>{"path":"/dev/kmsg","state":"permissionDenied","message":"…"}</c>
    /// (no message while it reads), or <c>null</c> when this agent reads no kernel log.
    /// </summary>
    public byte[] StatusJson
    {
        get
        {
            if (!Enabled)
            {
                return NotRead;
            }

            var status = _reader?.Status ?? new KernelLogStatus(KernelLogState.NotStarted, null);
            using var buffer = new MemoryStream(256);
            using (var writer = new Utf8JsonWriter(buffer))
            {
                writer.WriteStartObject();
                writer.WriteString("path"u8, options.KernelLog);
                writer.WriteString("state"u8, JsonNamingPolicy.CamelCase.ConvertName(status.State.ToString()));
                if (status.Message is { } message)
                {
                    writer.WriteString("message"u8, message);
                }

                writer.WriteEndObject();
            }

            return buffer.ToArray();
        }
    }

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        if (!Enabled)
        {
            return;
        }

        try
        {
            // NVML's first reading tells the XID log which bus id each GPU index has.
            await publisher.FirstAsync(stoppingToken).ConfigureAwait(false);
            using var reader = new KernelXidReader(new KernelXidReaderOptions { Path = options.KernelLog! }, loggers.CreateLogger<KernelXidReader>(), time);
            _reader = reader;
            await reader.FollowAsync(
                xid => xids.Observe(XidSource.KernelLog, gpu: null, xid.PciBusId, xid.Xid, xid.ObservedAt, xid.Text),
                stoppingToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The agent is stopping.
        }
    }
}
