using System.Runtime.InteropServices;
using System.Text;
using Gantry.Telemetry.Health;
using Gantry.Telemetry.Tests.Nvml;
using Gantry.Testing;
using Microsoft.Extensions.Logging;

namespace Gantry.Telemetry.Tests.Health;

/// <summary>
/// The reader against a regular file and a FIFO standing in for <c>/dev/kmsg</c>, against the
/// machine's own <c>/dev/kmsg</c> (read only), and against scripted kernel answers for what a
/// file cannot produce: records overwritten before they were read, and a refused open.
/// </summary>
public sealed class KernelXidReaderTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("gantry-kmsg-").FullName;
    private readonly FakeTimeProvider _time = new();
    private readonly ListLogger<KernelXidReader> _logger = new();

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private KernelXidReader Reader(string path, KernelLogStart start) =>
        new(new KernelXidReaderOptions { Path = path, Start = start }, _logger, _time);

    private string WriteLog(string text)
    {
        var path = Path.Combine(_directory, "kmsg");
        File.WriteAllText(path, text);
        return path;
    }

    private static List<KernelXid> Poll(KernelXidReader reader)
    {
        var xids = new List<KernelXid>();
        reader.Poll(xids);
        return xids;
    }

    [Fact]
    public void Poll_RegularFileFromBeginning_EveryXidWithItsRecord()
    {
        using var reader = Reader(WriteLog(KmsgFixture.Log), KernelLogStart.Beginning);

        var xids = Poll(reader);

        Assert.Equal(KernelLogState.Following, reader.Status.State);
        Assert.Equal(KmsgFixture.XidCount, xids.Count);
        Assert.Equal([79UL, 154, 119, 120, 31, 95, 38, 14, 51, 48, 13, 63], xids.Select(x => x.Xid));
        Assert.Equal(1202UL, xids[0].Sequence);
        Assert.Equal(1843308201UL, xids[0].TimestampMicroseconds);
        Assert.Equal(_time.GetUtcNow(), xids[0].ObservedAt);
        Assert.Equal(2220UL, reader.LastSequence);
        Assert.Empty(Poll(reader));
    }

    [Fact]
    public void Poll_StartAtEnd_OnlyWhatIsLoggedAfterOpening()
    {
        var path = WriteLog(KmsgFixture.Log);
        using var reader = Reader(path, KernelLogStart.End);

        Assert.Empty(Poll(reader));
        File.AppendAllText(path, "4,3000,4000000000,-;NVRM: Xid (PCI:0000:3b:00): 79, pid='<unknown>', name=<unknown>, GPU has fallen off the bus.\n");
        var xids = Poll(reader);

        Assert.Equal(3000UL, Assert.Single(xids).Sequence);
    }

    [Fact]
    public void Poll_StartAfterSequence_SkipsWhatWasHandledBefore()
    {
        using var reader = Reader(WriteLog(KmsgFixture.Log), KernelLogStart.After(2217));

        var xids = Poll(reader);

        Assert.Equal([13UL, 63], xids.Select(x => x.Xid));
    }

    [Fact]
    public void Poll_RecordArrivesInPieces_ReadOnceWhole()
    {
        var path = WriteLog("");
        using var reader = Reader(path, KernelLogStart.Beginning);
        const string Record = "4,10,20,-;NVRM: Xid (PCI:0000:61:00): 119, pid=1, name=x, Timeout\n";

        File.AppendAllText(path, Record[..30]);
        Assert.Empty(Poll(reader));
        File.AppendAllText(path, Record[30..]);

        Assert.Equal(119UL, Assert.Single(Poll(reader)).Xid);
    }

    [Fact]
    public void Poll_LineLongerThanAnyRecord_SkippedAndReadingGoesOn()
    {
        var text = "4,1,1,-;" + new string('a', 40_000) + "\n4,2,2,-;NVRM: Xid (PCI:0000:61:00): 119, Timeout\n";
        using var reader = Reader(WriteLog(text), KernelLogStart.Beginning);

        Assert.Equal(2UL, Assert.Single(Poll(reader)).Sequence);
    }

    [Fact]
    public void Poll_FifoStandingInForKmsg_ReadsWhatTheWriterSends()
    {
        var path = Path.Combine(_directory, "kmsg.fifo");
        Assert.Equal(0, NativeMethods.mkfifo(path, Convert.ToUInt32("600", 8)));
        using var reader = Reader(path, KernelLogStart.End);

        // Opened before any writer: a non-blocking open returns, and there is nothing to read.
        Assert.Empty(Poll(reader));
        Assert.Equal(KernelLogState.Following, reader.Status.State);

        using (var writer = new FileStream(path, FileMode.Open, FileAccess.Write))
        {
            writer.Write(Encoding.UTF8.GetBytes(KmsgFixture.Log));
            writer.Flush();
            Assert.Equal(KmsgFixture.XidCount, Poll(reader).Count);

            // Writer still there, nothing new: EAGAIN, not an error.
            Assert.Empty(Poll(reader));
            writer.Write("4,5000,1,-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n"u8);
            writer.Flush();
            Assert.Equal(5000UL, Assert.Single(Poll(reader)).Sequence);
        }

        Assert.Empty(Poll(reader));
        Assert.Equal(KernelLogState.Following, reader.Status.State);
    }

    [Fact]
    public void Poll_RecordsOverwrittenBeforeRead_CountedLoggedAndReadingGoesOn()
    {
        var kernel = new ScriptedKernelLog(
            "4,100,1,-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n",
            ScriptedKernelLog.Overwritten,
            "4,250,2,-;NVRM: Xid (PCI:0000:61:00): 119, pid=1, name=x, Timeout\n");
        using var reader = new KernelXidReader(new KernelXidReaderOptions(), _logger, _time, kernel.Open);

        var xids = Poll(reader);

        Assert.Equal([79UL, 119], xids.Select(x => x.Xid));
        Assert.Equal(1, reader.OverwrittenCount);
        Assert.Equal(KernelLogState.Following, reader.Status.State);
        Assert.Single(_logger.Entries, e => e.Id.Id == 1303 && e.Level == LogLevel.Warning);
        Assert.True(kernel.SoughtToEnd);
    }

    [Fact]
    public void Poll_NoPermission_StatusSaysWhyAndItIsLoggedOnce()
    {
        var opens = 0;
        KernelLogHandle? Refuse(string path, out int errno)
        {
            opens++;
            errno = 1; // EPERM, as /dev/kmsg answers without CAP_SYSLOG under dmesg_restrict
            return null;
        }

        using var reader = new KernelXidReader(new KernelXidReaderOptions(), _logger, _time, Refuse);
        for (var i = 0; i < 3; i++)
        {
            Assert.Empty(Poll(reader));
            _time.Advance(TimeSpan.FromSeconds(61));
            Assert.Empty(Poll(reader));
        }

        Assert.Equal(KernelLogState.PermissionDenied, reader.Status.State);
        Assert.Contains("/dev/kmsg", reader.Status.Message, StringComparison.Ordinal);
        Assert.Contains("CAP_SYSLOG", reader.Status.Message, StringComparison.Ordinal);
        Assert.Contains("79, 119, 120", reader.Status.Message, StringComparison.Ordinal);
        // Retried once a minute, not at every poll, and said once.
        Assert.Equal(4, opens);
        Assert.Single(_logger.Entries, e => e.Level >= LogLevel.Warning);
        Assert.Equal(1301, _logger.Entries.Single(e => e.Level >= LogLevel.Warning).Id.Id);
    }

    [Fact]
    public void Poll_RegularFileModeZero_PermissionDeniedUnlessTheUserBypassesIt()
    {
        if (OperatingSystem.IsWindows())
        {
            // The kernel log is a Linux reader's; these tests run where the agent does.
            return;
        }

        var path = WriteLog(KmsgFixture.Log);
        File.SetUnixFileMode(path, UnixFileMode.None);
        using var reader = Reader(path, KernelLogStart.Beginning);

        var xids = Poll(reader);

        // Root (CAP_DAC_OVERRIDE) reads it anyway; anyone else gets EACCES.
        if (Environment.UserName == "root")
        {
            Assert.Equal(KernelLogState.Following, reader.Status.State);
            Assert.Equal(KmsgFixture.XidCount, xids.Count);
        }
        else
        {
            Assert.Equal(KernelLogState.PermissionDenied, reader.Status.State);
            Assert.Empty(xids);
        }
    }

    [Fact]
    public void Poll_MissingFile_UnavailableSaidOnce()
    {
        using var reader = Reader(Path.Combine(_directory, "absent"), KernelLogStart.End);

        Poll(reader);
        _time.Advance(TimeSpan.FromMinutes(2));
        Poll(reader);

        Assert.Equal(KernelLogState.Unavailable, reader.Status.State);
        Assert.Contains("errno 2", reader.Status.Message, StringComparison.Ordinal);
        Assert.Single(_logger.Entries, e => e.Id.Id == 1302);
    }

    [Fact]
    public void Poll_ReadFails_ReopenedLaterAndGoesOnAfterTheLastRecord()
    {
        var kernel = new ScriptedKernelLog(
            "4,1,1,-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n",
            ScriptedKernelLog.Failure,
            "4,1,1,-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n",
            "4,2,2,-;NVRM: Xid (PCI:0000:3b:00): 48, DBE\n");
        using var reader = new KernelXidReader(new KernelXidReaderOptions { Start = KernelLogStart.Beginning }, _logger, _time, kernel.Open);

        Assert.Single(Poll(reader));
        Assert.Equal(KernelLogState.Unavailable, reader.Status.State);
        _time.Advance(TimeSpan.FromSeconds(61));
        var xids = Poll(reader);

        // The new descriptor starts at the oldest record again; record 1 is not counted twice.
        Assert.Equal(48UL, Assert.Single(xids).Xid);
        Assert.Equal(KernelLogState.Following, reader.Status.State);
        Assert.Equal(2, kernel.Opens);
    }

    [Fact]
    public void Poll_ThisMachinesKmsg_OneRecordPerReadParsed()
    {
        if (!File.Exists("/dev/kmsg"))
        {
            Assert.False(string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase), "/dev/kmsg is missing on a CI machine");
            return;
        }

        using var reader = Reader("/dev/kmsg", KernelLogStart.Beginning);

        Poll(reader);

        // Readable here or not, the reader must say which; when it reads, the kernel has logged something since boot.
        Assert.NotEqual(KernelLogState.NotStarted, reader.Status.State);
        if (reader.Status.State == KernelLogState.Following)
        {
            Assert.NotNull(reader.LastSequence);
        }
    }

    [Fact]
    public async Task FollowAsync_XidsArrive_HandedOverEachPoll()
    {
        var path = WriteLog("");
        using var reader = Reader(path, KernelLogStart.End);
        var seen = new List<KernelXid>();
        using var stop = new CancellationTokenSource();
        var follow = reader.FollowAsync(xid => { lock (seen) { seen.Add(xid); } }, stop.Token);

        File.AppendAllText(path, "4,7,7,-;NVRM: Xid (PCI:0000:3b:00): 79, GPU has fallen off the bus.\n");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (true)
        {
            _time.Advance(TimeSpan.FromMilliseconds(500));
            lock (seen)
            {
                if (seen.Count > 0 || DateTime.UtcNow > deadline)
                {
                    break;
                }
            }

            await Task.Delay(10);
        }

        await stop.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => follow);
        Assert.Equal(79UL, Assert.Single(seen).Xid);
    }

    /// <summary>A kernel log that answers from a script: records, overwritten records, a failing read.</summary>
    private sealed class ScriptedKernelLog(params string[] answers)
    {
        public const string Overwritten = "<EPIPE>";
        public const string Failure = "<EIO>";

        private readonly string[] _answers = answers;
        private int _next;

        public int Opens { get; private set; }

        public bool SoughtToEnd { get; private set; }

        public KernelLogHandle? Open(string path, out int errno)
        {
            errno = 0;
            Opens++;
            return new Handle(this);
        }

        private sealed class Handle(ScriptedKernelLog log) : KernelLogHandle
        {
            public override int Read(Span<byte> buffer, out int errno)
            {
                errno = 0;
                if (log._next == log._answers.Length)
                {
                    errno = Errno.Again;
                    return -1;
                }

                var answer = log._answers[log._next++];
                switch (answer)
                {
                    case Overwritten:
                        errno = Errno.Pipe;
                        return -1;
                    case Failure:
                        errno = 5;
                        return -1;
                    default:
                        return Encoding.UTF8.GetBytes(answer, buffer);
                }
            }

            public override void SeekToEnd() => log.SoughtToEnd = true;

            protected override void Dispose(bool disposing)
            {
            }
        }
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int mkfifo([MarshalAs(UnmanagedType.LPUTF8Str)] string path, uint mode);
    }
}
