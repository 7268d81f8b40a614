using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>
/// Reservations enforced with real cgroups (v1 on this machine and in CI, v2 where the machine has it): a job
/// past its memory is killed by the kernel and ends out of memory; its limits are those of its reservation.
/// Needs root to make cgroups.
/// </summary>
public sealed class JobLimitsTests : IAsyncLifetime
{
    private readonly string _stateDir = Directory.CreateTempSubdirectory("gantry-limits-").FullName;
    private readonly RecordingSink _sink = new();
    private JobRunner _runner = null!;
    private JobCgroups _cgroups = null!;

    public Task InitializeAsync()
    {
        if (RootFactAttribute.SkipReason is null)
        {
            _cgroups = JobCgroups.Detect(out var reason) ?? throw new InvalidOperationException("no cgroups: " + reason);
            Assert.True(_cgroups.Prepare(out reason), reason);
        }

        _runner = new JobRunner(_sink, _stateDir, TimeProvider.System, NullLogger<JobRunner>.Instance) { NodeId = "node-a", Cgroups = _cgroups };
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _runner.DisposeAsync();
        Directory.Delete(_stateDir, recursive: true);
    }

    [RootFact]
    public async Task Job_PastItsMemory_IsKilledAndEndsOutOfMemory()
    {
        // tail holds the whole newline-free input in memory: 256 MiB against a 32 MiB limit; the shell exits with the killed tail's status.
        var job = JobRunnerTests.Shell(71, "head -c 268435456 /dev/zero | tail -n 1 > /dev/null") with { MemoryBytes = 32L << 20 };

        _runner.Start(job);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(AttemptEndCause.OutOfMemory, ended.Cause);
        Assert.Equal("used more than its memory limit of 32 MiB", ended.Message);
    }

    [RootFact]
    public async Task Job_SeesItsLimits_AndItsCgroupGoesWithIt()
    {
        var script = _cgroups.Version == 2
            ? "cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/memory.max; cat /sys/fs/cgroup$(cut -d: -f3 /proc/self/cgroup)/cpu.max"
            : "cat /sys/fs/cgroup/memory$(grep ':memory:' /proc/self/cgroup | cut -d: -f3)/memory.limit_in_bytes; cat /sys/fs/cgroup/cpu$(grep ':cpu[,:]' /proc/self/cgroup | cut -d: -f3)/cpu.cfs_quota_us; grep ':memory:' /proc/self/cgroup";
        var job = JobRunnerTests.Shell(72, script) with { MemoryBytes = 64L << 20, Cpus = 2 };

        _runner.Start(job);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(0, ended.ExitCode);
        var lines = _sink.Text(AttemptKey.Of(job), LogSource.Stdout).Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal((64L << 20).ToString(System.Globalization.CultureInfo.InvariantCulture), lines[0]);
        Assert.StartsWith("200000", lines[1], StringComparison.Ordinal);
        if (_cgroups.Version == 1)
        {
            var path = lines[2].Split(':', 3)[2];
            Assert.EndsWith("/gantry-jobs/job-72-1", path, StringComparison.Ordinal);
            Assert.False(Directory.Exists("/sys/fs/cgroup/memory" + path), "the attempt's cgroup is removed once it ended");
        }
    }

    [RootFact]
    public async Task Job_WithinItsMemory_ExitsAsUsual()
    {
        var job = JobRunnerTests.Shell(73, "head -c 1048576 /dev/zero | tail -n 1 > /dev/null; exit 3") with { MemoryBytes = 64L << 20 };

        _runner.Start(job);
        var ended = await _sink.EndedAsync(AttemptKey.Of(job));

        Assert.Equal(AttemptEndCause.Exited, ended.Cause);
        Assert.Equal(3, ended.ExitCode);
    }

    [Fact]
    public void Detect_V1Hierarchies_FindsMemoryAndCpuBelowTheAgentsCgroup()
    {
        string[] mountinfo =
        [
            "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
            "31 30 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct",
            "34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
        ];
        string[] own = ["4:memory:/no/such/agent", "1:cpu,cpuacct:/", "0::/"];

        var cgroups = JobCgroups.Detect(mountinfo, own, out var reason);

        Assert.NotNull(cgroups);
        Assert.Equal("", reason);
        Assert.Equal(1, cgroups.Version);
        // A path the mount does not show (another cgroup namespace) falls back to the mount's root.
        Assert.Equal("/sys/fs/cgroup/memory/gantry-jobs and /sys/fs/cgroup/cpu,cpuacct/gantry-jobs", cgroups.Where);
    }

    [Fact]
    public void Detect_V1WithoutCpuController_NamesTheMemoryFolderAlone()
    {
        var cgroups = JobCgroups.Detect(["34 30 0:31 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory"], ["4:memory:/"], out _);

        Assert.Equal("/sys/fs/cgroup/memory/gantry-jobs", cgroups!.Where);
    }

    [Fact]
    public void Detect_NoCgroupFileSystem_SaysSo()
    {
        Assert.Null(JobCgroups.Detect(["30 22 0:27 / /sys rw - sysfs sysfs rw"], ["0::/"], out var reason));
        Assert.Equal("no cgroup file system with a memory controller is mounted", reason);
    }
}
