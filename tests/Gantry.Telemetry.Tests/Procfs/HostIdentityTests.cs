using System.Runtime.InteropServices;
using Gantry.Telemetry.Procfs;

namespace Gantry.Telemetry.Tests.Procfs;

public sealed class HostIdentityTests
{
    [Fact]
    public void Read_FixtureProc_UsesKernelFiles()
    {
        using var tree = new FixtureTree()
            .Write("proc/sys/kernel/hostname", "gpu-node-07\n")
            .Write("proc/sys/kernel/osrelease", "6.1.0-18-amd64\n");

        var identity = HostIdentity.Read(tree.Paths);

        Assert.Equal("gpu-node-07", identity.Hostname);
        Assert.Equal("linux", identity.OperatingSystem);
        Assert.Equal("6.1.0-18-amd64", identity.KernelVersion);
        Assert.Equal(HostIdentity.ArchitectureName(RuntimeInformation.OSArchitecture), identity.Architecture);
    }

    [Fact]
    public void Read_MissingKernelFiles_FallsBackToRuntime()
    {
        using var tree = new FixtureTree();

        var identity = HostIdentity.Read(tree.Paths);

        Assert.Equal(Environment.MachineName, identity.Hostname);
        Assert.Equal(Environment.OSVersion.Version.ToString(), identity.KernelVersion);
    }

    [Fact]
    public void Read_LiveMachine_MatchesUname()
    {
        var identity = HostIdentity.Read();

        Assert.Equal(File.ReadAllText("/proc/sys/kernel/osrelease").Trim(), identity.KernelVersion);
        Assert.False(string.IsNullOrWhiteSpace(identity.Hostname));
        Assert.NotEqual("unknown", identity.Architecture);
    }

    [Theory]
    [InlineData(Architecture.X64, "x64")]
    [InlineData(Architecture.Arm64, "arm64")]
    public void ArchitectureName_KnownArchitecture_ShortName(Architecture architecture, string expected) =>
        Assert.Equal(expected, HostIdentity.ArchitectureName(architecture));
}
