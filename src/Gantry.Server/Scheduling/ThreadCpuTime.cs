using System.Runtime.InteropServices;

namespace Gantry.Server.Scheduling;

/// <summary>
/// The CPU time the calling thread has used (<c>clock_gettime(CLOCK_THREAD_CPUTIME_ID)</c>), so that
/// the scheduler can bound its share of a core by what a pass costs in CPU rather than in wall time;
/// null where the call is not bound (not 64-bit Linux) or fails.
/// </summary>
internal static partial class ThreadCpuTime
{
    private const int ClockThreadCpuTimeId = 3;

    public static TimeSpan? Now()
    {
        if (!OperatingSystem.IsLinux() || !Environment.Is64BitProcess || clock_gettime(ClockThreadCpuTimeId, out var now) != 0)
        {
            return null;
        }

        return TimeSpan.FromTicks((now.Seconds * TimeSpan.TicksPerSecond) + (now.Nanoseconds / TimeSpan.NanosecondsPerTick));
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int clock_gettime(int clock, out Timespec time);

    /// <summary><c>struct timespec</c> on 64-bit Linux: two 8-byte fields.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Timespec
    {
        public long Seconds;
        public long Nanoseconds;
    }
}
