using System.Globalization;
using Gantry.Agent.Jobs;

namespace Gantry.Agent.Tests.Jobs;

/// <summary>Looks at /proc for the processes of a group.</summary>
internal static class ProcessTable
{
    public static List<int> GroupMembers(int pgid)
    {
        var members = new List<int>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid)
                && ProcessGroups.ReadStat(pid) is { } stat
                && stat.ProcessGroup == pgid
                && !IsZombie(pid))
            {
                members.Add(pid);
            }
        }

        return members;
    }

    public static bool IsAlive(int pid) => ProcessGroups.ReadStat(pid) is not null && !IsZombie(pid);

    private static bool IsZombie(int pid)
    {
        try
        {
            var text = File.ReadAllText($"/proc/{pid}/stat");
            return text[(text.LastIndexOf(')') + 2)..].StartsWith('Z');
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds, failing after a generous bound.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = Environment.TickCount64 + 30_000;
        while (!condition())
        {
            Assert.True(Environment.TickCount64 < deadline, "timed out waiting until " + what);
            await Task.Delay(20);
        }
    }
}
