using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Procfs;

namespace Gantry.Telemetry.Tests.Procfs;

public sealed class FilesystemCollectorTests
{
    private const string MountInfo = """
        22 27 0:21 / /proc rw,relatime - proc proc rw
        23 27 0:22 / /sys rw,relatime - sysfs sysfs rw
        24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334460k
        27 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw,discard
        28 27 0:25 / /run rw,nosuid,nodev shared:5 - tmpfs tmpfs rw,size=4k,mode=755
        29 27 8:1 / /mnt/my\040disk ro,relatime shared:7 master:2 - ext4 /dev/sdb1 rw
        30 27 8:2 / /srv rw,relatime - xfs /dev/sdc1 ro
        31 23 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
        32 27 0:40 / /var/lib/docker/overlay2/abc/merged rw - ext4 /dev/vda rw
        33 27 0:41 / /run/credentials/getty.service ro - ramfs ramfs rw
        34 27 0:42 / /snap/core/1 ro - squashfs /dev/loop0 ro
        35 27 0:43 / /proc/sys/fs/binfmt_misc rw - binfmt_misc binfmt_misc rw
        36 27 0:44 / /devices rw - ext4 /dev/sdd1 rw
        37 27 0:45 / /boot/efi rw - vfat /dev/sda1 rw
        38 27 0:46 / /srv rw - nfs4 server:/export rw

        """;

    private static readonly FilesystemSizeReader FixedSizes = mountPoint => mountPoint == "/boot/efi"
        ? new FilesystemSize(512 * 1024, 256 * 1024, 128 * 1024, 0, 0)
        : new FilesystemSize(1000, 600, 500, 100, 40);

    [Fact]
    public async Task CollectAsync_FixtureMountInfo_KeepsRealFilesystemsOnly()
    {
        using var tree = new FixtureTree().Write("proc/self/mountinfo", MountInfo);

        var samples = await new FilesystemCollector(tree.Paths, FixedSizes).CollectAsync(CancellationToken.None);

        Assert.Equal(["/", "/run", "/mnt/my disk", "/srv", "/devices", "/boot/efi"], samples.Select(s => s.MountPoint));
        var root = samples[0];
        Assert.Equal("/dev/vda", root.Device);
        Assert.Equal("ext4", root.FsType);
        Assert.Equal(1000UL, root.SizeBytes);
        Assert.Equal(600UL, root.FreeBytes);
        Assert.Equal(500UL, root.AvailableBytes);
        Assert.Equal(100UL, root.Files);
        Assert.Equal(40UL, root.FilesFree);
        Assert.False(root.ReadOnly);
        Assert.True(samples[2].ReadOnly);
        Assert.Equal("/dev/sdb1", samples[2].Device);
    }

    [Fact]
    public async Task CollectAsync_StackedMount_KeepsTheVisibleOne()
    {
        using var tree = new FixtureTree().Write("proc/self/mountinfo", MountInfo);

        var samples = await new FilesystemCollector(tree.Paths, FixedSizes).CollectAsync(CancellationToken.None);

        var srv = Assert.Single(samples, s => s.MountPoint == "/srv");
        Assert.Equal("nfs4", srv.FsType);
        Assert.Equal("server:/export", srv.Device);
        Assert.False(srv.ReadOnly);
    }

    [Fact]
    public async Task CollectAsync_FilesystemWithoutInodes_LeavesFileCountsNull()
    {
        using var tree = new FixtureTree().Write("proc/self/mountinfo", MountInfo);

        var samples = await new FilesystemCollector(tree.Paths, FixedSizes).CollectAsync(CancellationToken.None);

        var efi = Assert.Single(samples, s => s.MountPoint == "/boot/efi");
        Assert.Equal(512UL * 1024, efi.SizeBytes);
        Assert.Null(efi.Files);
        Assert.Null(efi.FilesFree);
    }

    [Fact]
    public async Task CollectAsync_SizeReaderFails_LeavesThatMountOut()
    {
        using var tree = new FixtureTree().Write("proc/self/mountinfo", MountInfo);
        FilesystemSizeReader failing = mountPoint => mountPoint == "/srv"
            ? throw new IOException("stale file handle")
            : FixedSizes(mountPoint);

        var samples = await new FilesystemCollector(tree.Paths, failing).CollectAsync(CancellationToken.None);

        Assert.DoesNotContain(samples, s => s.MountPoint == "/srv");
        Assert.Contains(samples, s => s.MountPoint == "/");
    }

    [Fact]
    public async Task CollectAsync_NoMountInfo_FallsBackToProcMounts()
    {
        using var tree = new FixtureTree().Write("proc/mounts", """
            proc /proc proc rw,relatime 0 0
            /dev/sda1 / ext4 rw,relatime 0 0
            /dev/sdb1 /data\040set xfs ro,noatime 0 0
            tmpfs /dev/shm tmpfs rw 0 0

            """);

        var samples = await new FilesystemCollector(tree.Paths, FixedSizes).CollectAsync(CancellationToken.None);

        Assert.Equal(["/", "/data set"], samples.Select(s => s.MountPoint));
        Assert.True(samples[1].ReadOnly);
    }

    [Theory]
    [InlineData(@"/mnt/a\040b", "/mnt/a b")]
    [InlineData(@"/mnt/tab\011x", "/mnt/tab\tx")]
    [InlineData(@"/mnt/nl\012x", "/mnt/nl\nx")]
    [InlineData(@"/mnt/back\134slash", @"/mnt/back\slash")]
    [InlineData(@"/mnt/plain", "/mnt/plain")]
    [InlineData(@"/mnt/odd\9", @"/mnt/odd\9")]
    [InlineData(@"\040\040", "  ")]
    public void Unescape_OctalEscapes_Decoded(string raw, string expected) =>
        Assert.Equal(expected, FilesystemCollector.Unescape(raw));

    [Theory]
    [InlineData("/dev", true)]
    [InlineData("/dev/shm", true)]
    [InlineData("/proc", true)]
    [InlineData("/sys/fs/cgroup", true)]
    [InlineData("/run/credentials/x.service", true)]
    [InlineData("/var/lib/docker/overlay2/a/merged", true)]
    [InlineData("/var/lib/containers/storage/overlay", true)]
    [InlineData("/devices", false)]
    [InlineData("/run/credentials", false)]
    [InlineData("/var/lib/docker", false)]
    [InlineData("/", false)]
    [InlineData("/home", false)]
    public void IsIgnoredMountPoint_Path_MatchesNodeExporterDefault(string mountPoint, bool ignored) =>
        Assert.Equal(ignored, FilesystemCollector.IsIgnoredMountPoint(mountPoint));

    [Fact]
    public async Task CollectAsync_LiveMachine_IncludesRootDevice()
    {
        // The device mounted at / according to the kernel, read independently of the collector.
        string? rootDevice = null;
        foreach (var line in await File.ReadAllLinesAsync("/proc/self/mountinfo"))
        {
            var parts = line.Split(' ');
            if (parts[4] == "/")
            {
                var dash = Array.IndexOf(parts, "-");
                rootDevice = parts[dash + 2];
            }
        }

        var samples = await new FilesystemCollector(HostPaths.Live).CollectAsync(CancellationToken.None);

        Assert.NotNull(rootDevice);
        var root = Assert.Single(samples, s => s.MountPoint == "/");
        Assert.Equal(rootDevice, root.Device);
        Assert.True(root.SizeBytes > 0);
        Assert.True(root.FreeBytes <= root.SizeBytes);
        Assert.True(root.AvailableBytes <= root.FreeBytes);
    }
}
