namespace Gantry.Telemetry.Tests.Health;

/// <summary>
/// Kernel log records as <c>/dev/kmsg</c> gives them, modelled on XID lines from real machines
/// (bug reports, operators' notes): the forms with and without a process, <c>'&lt;unknown&gt;'</c>,
/// names with colons, the old form without <c>PCI:</c>, a non-zero PCI domain (Grace boards), a
/// newer header with an extra field, a dictionary after a record, escapes, and lines that look
/// alike but are not GPU XIDs.
/// </summary>
internal static class KmsgFixture
{
    public const string Log =
        "6,1200,1843300001,-;pci 0000:3b:00.0: [10de:2335] type 00 class 0x030200\n" +
        " SUBSYSTEM=pci\n" +
        " DEVICE=+pci:0000:3b:00.0\n" +
        "6,1201,1843308145,-;NVRM: GPU at PCI:0000:3b:00: GPU-6a3f8d2e-1b7c-4f0e-9d2a-5c8e7b1a0f34\n" +
        "4,1202,1843308201,-;NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n" +
        "4,1203,1843308260,-;NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.\n" +
        "4,1204,1843308301,-;NVRM: Xid (PCI:0000:3b:00): 154, GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)\n" +
        "4,2210,3947590120,-;NVRM: Xid (PCI:0000:61:00): 119, pid=123417, name=nv-hostengine, Timeout after 6s of waiting for RPC response from GPU0 GSP! Expected function 10 (FREE) (0xc0000005 0x0).\n" +
        "4,2211,3947600554,-;NVRM: Xid (PCI:0004:01:00): 120, pid=1582259, name=nvc:[driver], GSP task timeout @ pc:0x5f4e2c, task: 1\n" +
        "4,2212,3951000002,-;NVRM: Xid (PCI:0000:b7:00): 31, pid=2297, name=python3, Ch 00000008, intr 10000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f3a_1c000000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ\n" +
        "4,2213,3952000000,-;NVRM: Xid (PCI:0000:01:00): 95, pid=7062, Uncontained: LTC TAG (0x2,0x0). RST: Yes, D-RST: No\n" +
        "4,2214,3953000000,-;NVRM: Xid (PCI:0000:01:00): 38, pid=1659,\n" +
        "4,2215,3954000000,-;NVRM: Xid (0000:03:00): 14, Channel 00000001\n" +
        "4,2216,3955000000,-;NVRM: Xid (PCI:0000:0d:00): 51, BAD_TSG encountered on runlist: 0 with error code: 4\n" +
        "4,2217,3956000000,-,caller=T4521;NVRM: Xid (PCI:0000:18:00): 48, pid=9876, name=torchrun, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.\n" +
        "6,2218,3957000000,-;nvidia-nvswitch3: SXid (PCI:0000:4e:00.0): 12028, Non-fatal, Link 32 egress non-posted PRIV error (First)\n" +
        "4,2219,3958000000,-;NVRM: Xid (PCI:0000:3b:00): 13, Graphics SM Warp Exception on (GPC 0, TPC 0, SM 0):\\x09Illegal Instruction Encoding\n" +
        "3,2220,3959000000,c;NVRM: Xid (PCI:0000:c1:00): 63, pid=1896, name=\\x5cbin\\x5cjob, Row Remapper: New row marked for remapping, reset gpu to activate.\n";

    /// <summary>How many XIDs <see cref="Log"/> holds (every <c>NVRM: Xid</c> line).</summary>
    public const int XidCount = 12;
}
