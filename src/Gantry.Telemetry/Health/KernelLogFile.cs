using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Gantry.Telemetry.Health;

/// <summary>
/// An open kernel log: <c>/dev/kmsg</c>, or a regular file or FIFO standing in for it. Reads
/// never block. This is the boundary with the kernel; tests script it to produce what a file
/// cannot (records overwritten before they were read, a refused open).
/// </summary>
internal abstract class KernelLogHandle : IDisposable
{
    /// <summary>
    /// Reads what is there: the byte count (<c>/dev/kmsg</c> gives one whole record a call), 0 at
    /// the end of a file or a FIFO without a writer, or -1 with <paramref name="errno"/> set
    /// (<see cref="Errno.Again"/> when nothing is there yet, <see cref="Errno.Pipe"/> when records
    /// were overwritten before they were read).
    /// </summary>
    public abstract int Read(Span<byte> buffer, out int errno);

    /// <summary>Moves past everything logged so far; a FIFO, which cannot seek, has no past to skip.</summary>
    public abstract void SeekToEnd();

    /// <inheritdoc />
    public void Dispose()
    {
        Dispose(disposing: true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Closes the file.</summary>
    protected abstract void Dispose(bool disposing);
}

/// <summary>Opens a kernel log; null with <paramref name="errno"/> set when it cannot.</summary>
internal delegate KernelLogHandle? KernelLogOpener(string path, out int errno);

/// <summary>The Linux <c>errno</c> values the reader tells apart (the same on x86-64 and arm64).</summary>
internal static class Errno
{
    public const int Perm = 1;
    public const int NoEntry = 2;
    public const int Interrupted = 4;
    public const int Again = 11;
    public const int Access = 13;
    public const int Invalid = 22;
    public const int Pipe = 32;
}

/// <summary>The kernel log through libc's <c>open</c>, <c>read</c> and <c>lseek</c> (Linux only).</summary>
internal sealed partial class KernelLogFile : KernelLogHandle
{
    private const int ReadOnly = 0;
    private const int NonBlocking = 0x800;
    private const int CloseOnExec = 0x80000;
    private const int SeekEnd = 2;

    private readonly FileDescriptor _fd;

    private KernelLogFile(FileDescriptor fd) => _fd = fd;

    /// <summary>
    /// Opens <paramref name="path"/> read-only and non-blocking. An open that would block (a FIFO
    /// without a writer) does not: <c>O_NONBLOCK</c> applies to it too.
    /// </summary>
    public static KernelLogHandle? Open(string path, out int errno)
    {
        if (!OperatingSystem.IsLinux())
        {
            errno = Errno.NoEntry;
            return null;
        }

        var fd = open(path, ReadOnly | NonBlocking | CloseOnExec);
        errno = fd < 0 ? Marshal.GetLastPInvokeError() : 0;
        return fd < 0 ? null : new KernelLogFile(new FileDescriptor(fd));
    }

    /// <inheritdoc />
    public override unsafe int Read(Span<byte> buffer, out int errno)
    {
        nint count;
        fixed (byte* bytes = buffer)
        {
            count = read(_fd.Value, bytes, buffer.Length);
        }

        errno = count < 0 ? Marshal.GetLastPInvokeError() : 0;
        return (int)count;
    }

    /// <inheritdoc />
    public override void SeekToEnd() => _ = lseek(_fd.Value, 0, SeekEnd);

    /// <inheritdoc />
    protected override void Dispose(bool disposing)
    {
        if (disposing)
        {
            _fd.Dispose();
        }
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    private static unsafe partial nint read(int fd, byte* buffer, nint count);

    [LibraryImport("libc", EntryPoint = "lseek", SetLastError = true)]
    private static partial long lseek(int fd, long offset, int whence);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int close(int fd);

    /// <summary>Owns the descriptor, so it is closed even if the reader is never disposed.</summary>
    private sealed class FileDescriptor : SafeHandleMinusOneIsInvalid
    {
        public FileDescriptor(int fd)
            : base(ownsHandle: true) => SetHandle(fd);

        public int Value => (int)handle;

        protected override bool ReleaseHandle() => close((int)handle) == 0;
    }
}
