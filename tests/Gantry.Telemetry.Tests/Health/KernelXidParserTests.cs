using System.Text;
using Gantry.Telemetry.Health;

namespace Gantry.Telemetry.Tests.Health;

public sealed class KernelXidParserTests
{
    private static List<(KmsgRecord Record, KernelXid? Xid)> ParseFixture()
    {
        var parsed = new List<(KmsgRecord, KernelXid?)>();
        foreach (var line in KmsgFixture.Log.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            if (KmsgRecord.TryParse(Encoding.UTF8.GetBytes(line), out var record))
            {
                parsed.Add((record, KernelXidParser.TryParse(record.Message, out var xid) ? xid : null));
            }
        }

        return parsed;
    }

    [Fact]
    public void TryParse_Fixture_EveryRecordReadDictionaryLinesSkipped()
    {
        var parsed = ParseFixture();

        Assert.Equal(16, parsed.Count);
        Assert.Equal(KmsgFixture.XidCount, parsed.Count(p => p.Xid is not null));
        Assert.Equal(1200UL, parsed[0].Record.Sequence);
        Assert.Equal(1843300001UL, parsed[0].Record.TimestampMicroseconds);
        Assert.Equal(6, parsed[0].Record.Level);
        Assert.StartsWith("pci 0000:3b:00.0:", parsed[0].Record.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_FellOffTheBusWithUnknownProcess_NoPidNoName()
    {
        var xid = ParseFixture().Single(p => p.Record.Sequence == 1202).Xid;

        Assert.Equal(new KernelXid(79, "00000000:3B:00.0", null, null, "GPU has fallen off the bus."), xid);
    }

    [Fact]
    public void TryParse_GspTimeout_PidNameAndText()
    {
        var xid = ParseFixture().Single(p => p.Record.Sequence == 2210).Xid!;

        Assert.Equal(119UL, xid.Xid);
        Assert.Equal("00000000:61:00.0", xid.PciBusId);
        Assert.Equal(123417, xid.Pid);
        Assert.Equal("nv-hostengine", xid.ProcessName);
        Assert.StartsWith("Timeout after 6s of waiting for RPC response from GPU0 GSP!", xid.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void TryParse_NameWithColonsAndBrackets_NonZeroDomain()
    {
        var xid = ParseFixture().Single(p => p.Record.Sequence == 2211).Xid!;

        Assert.Equal(120UL, xid.Xid);
        Assert.Equal("00000004:01:00.0", xid.PciBusId);
        Assert.Equal("nvc:[driver]", xid.ProcessName);
        Assert.Equal("GSP task timeout @ pc:0x5f4e2c, task: 1", xid.Text);
    }

    [Theory]
    [InlineData(1204UL, 154UL, "00000000:3B:00.0", null, null, "GPU recovery action changed from 0x0 (None) to 0x2 (Node Reboot Required)")]
    [InlineData(2212UL, 31UL, "00000000:B7:00.0", 2297, "python3", "Ch 00000008, intr 10000000. MMU Fault: ENGINE GRAPHICS GPCCLIENT_T1_0 faulted @ 0x7f3a_1c000000. Fault is of type FAULT_PDE ACCESS_TYPE_VIRT_READ")]
    [InlineData(2213UL, 95UL, "00000000:01:00.0", 7062, null, "Uncontained: LTC TAG (0x2,0x0). RST: Yes, D-RST: No")]
    [InlineData(2214UL, 38UL, "00000000:01:00.0", 1659, null, "")]
    [InlineData(2215UL, 14UL, "00000000:03:00.0", null, null, "Channel 00000001")]
    [InlineData(2216UL, 51UL, "00000000:0D:00.0", null, null, "BAD_TSG encountered on runlist: 0 with error code: 4")]
    [InlineData(2217UL, 48UL, "00000000:18:00.0", 9876, "torchrun", "An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 6, subpartition 0.")]
    [InlineData(2219UL, 13UL, "00000000:3B:00.0", null, null, "Graphics SM Warp Exception on (GPC 0, TPC 0, SM 0):\tIllegal Instruction Encoding")]
    [InlineData(2220UL, 63UL, "00000000:C1:00.0", 1896, "\\bin\\job", "Row Remapper: New row marked for remapping, reset gpu to activate.")]
    public void TryParse_FixtureLine_Fields(ulong sequence, ulong number, string busId, int? pid, string? name, string text)
    {
        var xid = ParseFixture().Single(p => p.Record.Sequence == sequence).Xid;

        Assert.Equal(new KernelXid(number, busId, pid, name, text), xid);
    }

    [Theory]
    [InlineData(1200UL)]
    [InlineData(1201UL)]
    [InlineData(1203UL)]
    [InlineData(2218UL)]
    public void TryParse_LinesThatAreNotGpuXids_NoXid(ulong sequence) =>
        Assert.Null(ParseFixture().Single(p => p.Record.Sequence == sequence).Xid);

    [Theory]
    [InlineData("NVRM: Xid (PCI:0000:66:00): abc, pid=2280636")]
    [InlineData("NVRM: Xid (PCI:0000:66:00) 79, missing colon")]
    [InlineData("NVRM: Xid (PCI:0000:66:00: 79, unclosed")]
    [InlineData("NVRM: Xid (PCI:0000:66:00): 79x, trailing letters")]
    [InlineData("NVRM: Xid error: xyz, invalid data")]
    public void TryParse_MalformedXidLine_False(string message) => Assert.False(KernelXidParser.TryParse(message, out _));

    [Fact]
    public void TryParse_UnreadableBusId_XidKeptWithoutBusId()
    {
        Assert.True(KernelXidParser.TryParse("NVRM: Xid (PCI:zz:00): 79, GPU has fallen off the bus.", out var xid));
        Assert.Equal(79UL, xid.Xid);
        Assert.Null(xid.PciBusId);
    }

    [Theory]
    [InlineData("")]
    [InlineData(" SUBSYSTEM=pci")]
    [InlineData("no header here")]
    [InlineData("4,12;too few fields")]
    [InlineData("4,x,12,-;not a number")]
    [InlineData("4,1,2;no flag")]
    public void KmsgRecordTryParse_NotARecord_False(string line) =>
        Assert.False(KmsgRecord.TryParse(Encoding.UTF8.GetBytes(line), out _));

    [Theory]
    [InlineData("0000:3b:00", "00000000:3B:00.0")]
    [InlineData("PCI:0000:3b:00", "00000000:3B:00.0")]
    [InlineData("00000000:3B:00.0", "00000000:3B:00.0")]
    [InlineData("0000:3B:00.0", "00000000:3B:00.0")]
    [InlineData("3b:00.0", "00000000:3B:00.0")]
    [InlineData("0018:01:00", "00000018:01:00.0")]
    [InlineData("0000:10:1c", "00000000:10:1C.0")]
    [InlineData("0000:05:00.1", "00000000:05:00.1")]
    public void Normalize_CommonSpellings_NvmlForm(string text, string expected) => Assert.Equal(expected, PciBusId.Normalize(text));

    [Theory]
    [InlineData("")]
    [InlineData("3b:00")]
    [InlineData("0000:3b:20")]
    [InlineData("0000:3b:00.8")]
    [InlineData("0000:13b:00")]
    [InlineData("123456789:3b:00")]
    [InlineData("GPU-6a3f8d2e")]
    public void Normalize_NotAPciAddress_Null(string text) => Assert.Null(PciBusId.Normalize(text));
}
