using System.Runtime.InteropServices;

namespace Gantry.Telemetry.Procfs;

/// <summary>Sizes of one mounted filesystem, as <c>statvfs(3)</c> reports them, in bytes.</summary>
internal readonly record struct FilesystemSize(ulong SizeBytes, ulong FreeBytes, ulong AvailableBytes, ulong Files, ulong FilesFree);

/// <summary>Reads a mounted filesystem's size; throws <see cref="IOException"/> when it cannot.</summary>
internal delegate FilesystemSize FilesystemSizeReader(string mountPoint);

/// <summary><c>statvfs(3)</c> through libc, for 64-bit Linux.</summary>
internal static partial class StatVfs
{
    public static FilesystemSize Read(string mountPoint)
    {
        if (!Environment.Is64BitProcess)
        {
            throw new PlatformNotSupportedException("statvfs is only bound for 64-bit Linux.");
        }

        if (statvfs(mountPoint, out var buf) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            throw new IOException($"statvfs({mountPoint}) failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        // Block counts are in units of f_frsize (the fragment size), not f_bsize.
        var unit = buf.f_frsize != 0 ? buf.f_frsize : buf.f_bsize;
        return new FilesystemSize(buf.f_blocks * unit, buf.f_bfree * unit, buf.f_bavail * unit, buf.f_files, buf.f_ffree);
    }

    [LibraryImport("libc", EntryPoint = "statvfs", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int statvfs(string path, out StatVfsBuffer buf);

    /// <summary>
    /// <c>struct statvfs</c> of glibc and musl on 64-bit Linux (x86-64 and arm64 alike):
    /// eleven 8-byte fields, then 24 bytes of spare ints, 112 bytes in all. The spare tail is
    /// declared a little larger than needed so the callee can never write past it.
    /// </summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct StatVfsBuffer
    {
        public ulong f_bsize;
        public ulong f_frsize;
        public ulong f_blocks;
        public ulong f_bfree;
        public ulong f_bavail;
        public ulong f_files;
        public ulong f_ffree;
        public ulong f_favail;
        public ulong f_fsid;
        public ulong f_flag;
        public ulong f_namemax;
        public ulong Spare0;
        public ulong Spare1;
        public ulong Spare2;
        public ulong Spare3;
    }
}
