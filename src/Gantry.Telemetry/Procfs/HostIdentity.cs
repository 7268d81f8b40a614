using System.Runtime.InteropServices;
using Gantry.Telemetry.Collection;

namespace Gantry.Telemetry.Procfs;

/// <summary>Who the host is: the labels every host series and the heartbeat carry.</summary>
public static class HostIdentity
{
    /// <summary>
    /// Reads the host's name, operating system (<c>linux</c>, <c>windows</c>, <c>darwin</c>,
    /// <c>freebsd</c>), architecture (<c>x64</c>, <c>arm64</c>, …) and kernel version. On Linux
    /// the name and kernel come from <c>/proc/sys/kernel/hostname</c> and <c>osrelease</c>
    /// (under <paramref name="paths"/>, so a containerised agent can read the host's), and
    /// elsewhere from the runtime.
    /// </summary>
    public static (string Hostname, string OperatingSystem, string Architecture, string KernelVersion) Read(HostPaths? paths = null)
    {
        string? hostname = null, kernel = null;
        if (OperatingSystem.IsLinux())
        {
            var proc = (paths ?? HostPaths.Live).Proc;
            hostname = TryReadLine(Path.Combine(proc, "sys", "kernel", "hostname"));
            kernel = TryReadLine(Path.Combine(proc, "sys", "kernel", "osrelease"));
        }

        return (
            hostname ?? Environment.MachineName,
            OperatingSystemName(),
            ArchitectureName(RuntimeInformation.OSArchitecture),
            kernel ?? Environment.OSVersion.Version.ToString());
    }

    internal static string OperatingSystemName() =>
        OperatingSystem.IsLinux() ? "linux"
        : OperatingSystem.IsWindows() ? "windows"
        : OperatingSystem.IsMacOS() ? "darwin"
        : OperatingSystem.IsFreeBSD() ? "freebsd"
        : "unknown";

    internal static string ArchitectureName(Architecture architecture) => architecture switch
    {
        Architecture.X64 => "x64",
        Architecture.X86 => "x86",
        Architecture.Arm64 => "arm64",
        Architecture.Arm => "arm",
        Architecture.RiscV64 => "riscv64",
        Architecture.LoongArch64 => "loongarch64",
        Architecture.Ppc64le => "ppc64le",
        Architecture.S390x => "s390x",
        _ => "unknown",
    };

    private static string? TryReadLine(string path)
    {
        try
        {
            var line = KernelFile.TryReadLine(KernelFile.TryReadText, path);
            return line is { Length: > 0 } ? line : null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }
}
