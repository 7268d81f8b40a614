using System.Globalization;

namespace Gantry.Agent.Jobs;

/// <summary>
/// Enforces an attempt's CPU and memory reservations with cgroups: each attempt gets a cgroup of its own below
/// the agent's (<c>gantry-jobs/job-ID-ATTEMPT</c>) with a memory limit of its <c>--memory</c> and a CPU quota of
/// its <c>--cpus</c>. cgroup v2 (one unified hierarchy: <c>memory.max</c>, <c>cpu.max</c>) where the machine has
/// it, otherwise v1's memory and cpu controllers (<c>memory.limit_in_bytes</c>, <c>cpu.cfs_quota_us</c>).
/// The attempt's process joins its cgroup itself before it execs the job (<see cref="AttemptCgroup.JoinPrefix"/>),
/// so nothing the job forks escapes it. An attempt the kernel killed for its memory shows in the cgroup's
/// OOM-kill counter.
/// </summary>
internal sealed class JobCgroups
{
    private const string Parent = "gantry-jobs";
    private static readonly string[] Controllers = ["memory", "cpu"];
    private readonly string? _memory;
    private readonly string? _cpu;

    private JobCgroups(int version, string? memory, string? cpu)
    {
        Version = version;
        _memory = memory;
        _cpu = cpu;
    }

    /// <summary>1 or 2.</summary>
    public int Version { get; }

    /// <summary>Where the attempts' cgroups are made, for the log: one folder for v2, the memory and cpu folders for v1.</summary>
    public string Where => _cpu is null || _memory == _cpu ? _memory! : $"{_memory} and {_cpu}";

    /// <summary>
    /// Finds the cgroups the agent can make its attempts' cgroups in: below its own cgroup (from
    /// <c>/proc/self/cgroup</c>), on the hierarchies <c>/proc/self/mountinfo</c> lists. Null, with the reason,
    /// when it cannot (no cgroup file system, no memory controller, not allowed to write there).
    /// </summary>
    public static JobCgroups? Detect(out string reason, string procfs = "/proc")
    {
        try
        {
            return Detect(File.ReadAllLines(Path.Combine(procfs, "self", "mountinfo")), File.ReadAllLines(Path.Combine(procfs, "self", "cgroup")), out reason);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reason = "cannot read " + Path.Combine(procfs, "self") + ": " + ex.Message;
            return null;
        }
    }

    /// <summary><see cref="Detect(out string, string)"/> from the two files' lines.</summary>
    public static JobCgroups? Detect(IReadOnlyList<string> mountinfo, IReadOnlyList<string> selfCgroup, out string reason)
    {
        // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS
        var v1 = new Dictionary<string, string>(StringComparer.Ordinal);
        string? unified = null;
        foreach (var line in mountinfo)
        {
            var separator = line.IndexOf(" - ", StringComparison.Ordinal);
            if (separator < 0)
            {
                continue;
            }

            var fields = line[..separator].Split(' ');
            var tail = line[(separator + 3)..].Split(' ');
            if (fields.Length < 5 || tail.Length < 3)
            {
                continue;
            }

            var mountPoint = Unescape(fields[4]);
            if (tail[0] == "cgroup2")
            {
                unified = mountPoint;
            }
            else if (tail[0] == "cgroup")
            {
                foreach (var option in tail[2].Split(','))
                {
                    if (option is "memory" or "cpu")
                    {
                        v1.TryAdd(option, mountPoint);
                    }
                }
            }
        }

        // /proc/self/cgroup: HIERARCHY-ID:CONTROLLERS:PATH; v2's line is 0::PATH.
        var own = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in selfCgroup)
        {
            var parts = line.Split(':', 3);
            if (parts.Length != 3)
            {
                continue;
            }

            foreach (var controller in parts[1].Length == 0 ? [""] : parts[1].Split(','))
            {
                own.TryAdd(controller, parts[2]);
            }
        }

        if (v1.TryGetValue("memory", out var memoryMount))
        {
            var memory = Below(memoryMount, own.GetValueOrDefault("memory"));
            var cpu = v1.TryGetValue("cpu", out var cpuMount) ? Below(cpuMount, own.GetValueOrDefault("cpu")) : null;
            reason = "";
            return new JobCgroups(1, memory, cpu);
        }

        if (unified is not null && File.Exists(Path.Combine(unified, "cgroup.controllers")))
        {
            var folder = Below(unified, own.GetValueOrDefault(""));
            var available = File.ReadAllText(Path.Combine(Path.GetDirectoryName(folder)!, "cgroup.controllers")).Split(' ', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            if (!available.Contains("memory"))
            {
                reason = $"the memory controller is not delegated to {Path.GetDirectoryName(folder)} (cgroup v2)";
                return null;
            }

            reason = "";
            return new JobCgroups(2, folder, folder);
        }

        reason = "no cgroup file system with a memory controller is mounted";
        return null;
    }

    /// <summary>
    /// Makes the parent cgroup(s) and checks that they can be written; removes the empty attempt cgroups an
    /// earlier agent run left. False, with the reason, when the agent may not make cgroups there.
    /// </summary>
    public bool Prepare(out string reason)
    {
        try
        {
            foreach (var folder in Folders())
            {
                Directory.CreateDirectory(folder);
                foreach (var leftover in Directory.EnumerateDirectories(folder, "job-*"))
                {
                    TryRemove(leftover);
                }
            }

            if (Version == 2)
            {
                // v2's "no internal processes" rule: the parent holds no process, and hands memory and cpu down.
                var available = File.ReadAllText(Path.Combine(_memory!, "cgroup.controllers"));
                var enable = string.Join(' ', Controllers.Where(c => available.Split(' ', StringSplitOptions.TrimEntries).Contains(c)).Select(c => "+" + c));
                File.WriteAllText(Path.Combine(_memory!, "cgroup.subtree_control"), enable);
            }

            reason = "";
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reason = ex.Message;
            return false;
        }
    }

    /// <summary>Makes the attempt's cgroup with its limits: memory in bytes (0: none), CPUs as whole cores (0: none).</summary>
    public AttemptCgroup Create(AttemptKey key, int cpus, long memoryBytes)
    {
        var name = string.Create(CultureInfo.InvariantCulture, $"job-{key.JobId}-{key.Attempt}");
        var memory = Path.Combine(_memory!, name);
        TryRemove(memory);
        Directory.CreateDirectory(memory);
        string? cpu = null;
        if (_cpu is not null && _cpu != _memory)
        {
            cpu = Path.Combine(_cpu, name);
            TryRemove(cpu);
            Directory.CreateDirectory(cpu);
        }

        var cgroup = new AttemptCgroup(Version, memory, cpu, memoryBytes);
        cgroup.SetLimits(cpus, memoryBytes);
        return cgroup;
    }

    private IEnumerable<string> Folders() => new[] { _memory, _cpu }.OfType<string>().Distinct();

    private static string Below(string mount, string? own)
    {
        // Inside a cgroup namespace (a container) the own path is relative to the mount's root already.
        var relative = (own ?? "/").TrimStart('/');
        var folder = Path.Combine(mount, relative);
        return Path.Combine(Directory.Exists(folder) ? folder : mount, Parent);
    }

    private static string Unescape(string field) =>
        field.Replace("\\040", " ", StringComparison.Ordinal).Replace("\\011", "\t", StringComparison.Ordinal).Replace("\\012", "\n", StringComparison.Ordinal).Replace("\\134", "\\", StringComparison.Ordinal);

    /// <summary>Removes a cgroup folder (rmdir alone: its files go with it) once no process is in it; false while one is.</summary>
    internal static bool TryRemove(string folder)
    {
        try
        {
            if (Directory.Exists(folder))
            {
                Directory.Delete(folder);
            }

            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            // Still in use (a process not yet reaped): the next agent start removes it.
            return false;
        }
    }
}

/// <summary>One attempt's cgroup (v2) or pair of cgroups (v1 memory and cpu).</summary>
internal sealed class AttemptCgroup
{
    private const long CpuPeriodMicroseconds = 100_000;
    private readonly int _version;
    private readonly string _memory;
    private readonly string? _cpu;

    internal AttemptCgroup(int version, string memory, string? cpu, long memoryBytes)
    {
        _version = version;
        _memory = memory;
        _cpu = cpu;
        MemoryBytes = memoryBytes;
    }

    /// <summary>The memory limit, 0 for none.</summary>
    public long MemoryBytes { get; }

    /// <summary>The cgroup.procs files the attempt's process writes its pid to before it execs the job.</summary>
    public IReadOnlyList<string> ProcsFiles => new[] { _memory, _cpu }.OfType<string>().Select(f => Path.Combine(f, "cgroup.procs")).ToList();

    /// <summary>
    /// The command that puts the process in the cgroup(s) and then execs the rest of the command line in place (same
    /// pid): a shell writing its pid to each <c>cgroup.procs</c>. A failure to join ends it with exit code 125 and a
    /// line on stderr.
    /// </summary>
    public IEnumerable<string> JoinPrefix()
    {
        const string Script = "while [ \"$1\" != -- ]; do echo $$ > \"$1\" || { echo \"gantry: cannot join cgroup $1\" >&2; exit 125; }; shift; done; shift; exec \"$@\"";
        return ["/bin/sh", "-c", Script, "gantry-cgroup", .. ProcsFiles, "--"];
    }

    /// <summary>True when the kernel killed a process of the attempt for exceeding its memory limit.</summary>
    public bool OutOfMemoryKilled()
    {
        try
        {
            // v1: memory.oom_control has "oom_kill N" (Linux 4.13 on); v2: memory.events has "oom_kill N".
            var file = Path.Combine(_memory, _version == 2 ? "memory.events" : "memory.oom_control");
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith("oom_kill ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(9), NumberStyles.Integer, CultureInfo.InvariantCulture, out var kills))
                {
                    return kills > 0;
                }
            }

            return false;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    /// <summary>Removes the cgroup(s) once the attempt's processes are gone; false while one is still in use.</summary>
    public bool Remove() => JobCgroups.TryRemove(_memory) & (_cpu is null || JobCgroups.TryRemove(_cpu));

    internal void SetLimits(int cpus, long memoryBytes)
    {
        if (_version == 2)
        {
            if (memoryBytes > 0)
            {
                Write(_memory, "memory.max", memoryBytes);
                WriteIfPresent(_memory, "memory.swap.max", 0);
            }

            if (cpus > 0)
            {
                File.WriteAllText(Path.Combine(_memory, "cpu.max"), string.Create(CultureInfo.InvariantCulture, $"{cpus * CpuPeriodMicroseconds} {CpuPeriodMicroseconds}"));
            }

            return;
        }

        if (memoryBytes > 0)
        {
            Write(_memory, "memory.limit_in_bytes", memoryBytes);
            // With swap accounting, memory plus swap gets the same limit: the job cannot page out past it.
            WriteIfPresent(_memory, "memory.memsw.limit_in_bytes", memoryBytes);
        }

        if (cpus > 0 && _cpu is not null)
        {
            Write(_cpu, "cpu.cfs_period_us", CpuPeriodMicroseconds);
            Write(_cpu, "cpu.cfs_quota_us", cpus * CpuPeriodMicroseconds);
        }
    }

    private static void Write(string folder, string file, long value) =>
        File.WriteAllText(Path.Combine(folder, file), value.ToString(CultureInfo.InvariantCulture));

    private static void WriteIfPresent(string folder, string file, long value)
    {
        if (File.Exists(Path.Combine(folder, file)))
        {
            Write(folder, file, value);
        }
    }
}
