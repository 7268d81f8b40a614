using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;

namespace Gantry.Telemetry.Procfs;

/// <summary>
/// Reads every interface's counters from <c>/proc/net/dev</c> and whether it is up from
/// <c>/sys/class/net/&lt;if&gt;/operstate</c> (<c>up</c> is up; <c>lo</c> reports
/// <c>unknown</c> and so is not). Up is null when the interface has no operstate file.
/// </summary>
public sealed class NetworkCollector : ICollector<IReadOnlyList<NetworkSample>>
{
    private readonly string _netDevPath;
    private readonly string _classNetPath;

    public NetworkCollector(HostPaths paths)
    {
        ArgumentNullException.ThrowIfNull(paths);
        _netDevPath = Path.Combine(paths.Proc, "net", "dev");
        _classNetPath = Path.Combine(paths.Sys, "class", "net");
    }

    public string Name => "network";

    public ValueTask<IReadOnlyList<NetworkSample>> CollectAsync(CancellationToken cancellationToken)
    {
        var counters = Parse(File.ReadAllText(_netDevPath));
        var samples = new List<NetworkSample>(counters.Count);
        foreach (var c in counters)
        {
            var operState = KernelFile.TryReadLine(KernelFile.TryReadText, Path.Combine(_classNetPath, c.Interface, "operstate"));
            bool? up = operState is null ? null : operState == "up";
            samples.Add(new NetworkSample(
                c.Interface,
                c.ReceiveBytes,
                c.TransmitBytes,
                c.ReceivePackets,
                c.TransmitPackets,
                c.ReceiveErrors,
                c.TransmitErrors,
                c.ReceiveDrops,
                c.TransmitDrops,
                up));
        }

        return ValueTask.FromResult<IReadOnlyList<NetworkSample>>(samples);
    }

    /// <summary>All sixteen columns of one <c>/proc/net/dev</c> line.</summary>
    internal readonly record struct InterfaceCounters(
        string Interface,
        ulong ReceiveBytes,
        ulong ReceivePackets,
        ulong ReceiveErrors,
        ulong ReceiveDrops,
        ulong ReceiveFifo,
        ulong ReceiveFrame,
        ulong ReceiveCompressed,
        ulong ReceiveMulticast,
        ulong TransmitBytes,
        ulong TransmitPackets,
        ulong TransmitErrors,
        ulong TransmitDrops,
        ulong TransmitFifo,
        ulong TransmitCollisions,
        ulong TransmitCarrier,
        ulong TransmitCompressed);

    internal static IReadOnlyList<InterfaceCounters> Parse(string netDev)
    {
        var interfaces = new List<InterfaceCounters>();
        Span<ulong> c = stackalloc ulong[16];
        foreach (var line in netDev.AsSpan().EnumerateLines())
        {
            // Two header lines, then:
            //     lo:    3293      31    0    0    0     0          0         0     3293  …
            // Old kernels glue a wide byte count to the colon ("eth0:123456789"), so split on
            // the colon rather than on blanks. The header lines have "|" and no colon.
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var name = line[..colon].Trim();
            var fields = new FieldReader(line[(colon + 1)..]);
            var complete = !name.IsEmpty;
            for (var i = 0; complete && i < c.Length; i++)
            {
                complete = fields.TryNextUInt64(out c[i]);
            }

            if (complete)
            {
                interfaces.Add(new InterfaceCounters(
                    name.ToString(), c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10], c[11], c[12], c[13], c[14], c[15]));
            }
        }

        return interfaces;
    }
}
