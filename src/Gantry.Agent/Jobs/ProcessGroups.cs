using System.Globalization;
using System.Runtime.InteropServices;

namespace Gantry.Agent.Jobs;

/// <summary>
/// Signals to process groups and the <c>/proc</c> facts that make them safe: each attempt runs as
/// the leader of its own group (pid == pgid), so one <c>kill(-pgid, sig)</c> reaches every process
/// it forked, and a recorded start time tells a leftover group from a recycled pid.
/// </summary>
internal static partial class ProcessGroups
{
    public const int SigKill = 9;
    public const int SigTerm = 15;

    private static readonly string[] SignalNames =
    [
        "", "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL", "SIGUSR1",
        "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",
        "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
    ];

    /// <summary>The name of a Linux signal number ("SIGTERM"), or "SIG" + the number.</summary>
    public static string SignalName(int signal) =>
        signal > 0 && signal < SignalNames.Length ? SignalNames[signal] : "SIG" + signal.ToString(CultureInfo.InvariantCulture);

    /// <summary>Sends <paramref name="signal"/> to every process of group <paramref name="pgid"/>; false when none is left.</summary>
    public static bool SignalGroup(int pgid, int signal) => pgid > 1 && Kill(-pgid, signal) == 0;

    /// <summary>Sends <paramref name="signal"/> to one process; false when it is gone.</summary>
    public static bool SignalProcess(int pid, int signal) => pid > 1 && Kill(pid, signal) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    /// <summary>
    /// The process's start time in clock ticks since boot and its process group, from
    /// <c>/proc/&lt;pid&gt;/stat</c>; null when the process is gone or there is no procfs.
    /// </summary>
    public static (ulong StartTicks, int ProcessGroup)? ReadStat(int pid, string procPath = "/proc")
    {
        string text;
        try
        {
            text = File.ReadAllText(Path.Combine(procPath, pid.ToString(CultureInfo.InvariantCulture), "stat"));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }

        return ParseStat(text);
    }

    /// <summary>Parses a <c>stat</c> line: the command may hold spaces and parentheses, so fields count from the last ')'.</summary>
    public static (ulong StartTicks, int ProcessGroup)? ParseStat(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var close = text.LastIndexOf(')');
        if (close < 0)
        {
            return null;
        }

        // After ") ": state(3) ppid(4) pgrp(5) … starttime(22), so pgrp is index 2 and starttime index 19.
        var fields = text[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        return fields.Length > 19
            && int.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var pgrp)
            && ulong.TryParse(fields[19], NumberStyles.None, CultureInfo.InvariantCulture, out var start)
                ? (start, pgrp)
                : null;
    }

    /// <summary>
    /// Kills what is left of a group recorded by an earlier agent run: the group is ours when its
    /// leader still has the recorded start time, or, with the leader gone, when members of the group
    /// started no earlier than it (a pid cannot be handed out again while a group still uses it as
    /// its id). Returns true when something was killed.
    /// </summary>
    public static bool KillLeftoverGroup(int pgid, ulong startTicks, string procPath = "/proc")
    {
        if (pgid <= 1 || !Directory.Exists(procPath))
        {
            return false;
        }

        if (ReadStat(pgid, procPath) is { } leader)
        {
            return leader.StartTicks == startTicks && SignalGroup(pgid, SigKill);
        }

        foreach (var dir in Directory.EnumerateDirectories(procPath))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && ReadStat(pid, procPath) is { } member
                && member.ProcessGroup == pgid
                && member.StartTicks >= startTicks)
            {
                return SignalGroup(pgid, SigKill);
            }
        }

        return false;
    }
}
