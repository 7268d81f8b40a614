using System.Runtime.InteropServices;

namespace Gantry.Agent.Jobs;

/// <summary>A Unix user as a job runs as it: its ids, every group it belongs to, its home.</summary>
/// <param name="Name">The user name.</param>
/// <param name="Uid">The user id.</param>
/// <param name="Gid">The primary group id.</param>
/// <param name="Groups">Every group id of the user, the primary one included (as <c>id -G</c> lists them).</param>
/// <param name="Home">The home directory from the user database (it may not exist: <c>nobody</c>'s is <c>/nonexistent</c>).</param>
internal sealed record UnixUser(string Name, uint Uid, uint Gid, IReadOnlyList<uint> Groups, string Home);

/// <summary>
/// The node's user database through libc (<c>getpwnam_r</c>, <c>getgrouplist</c>), so users from LDAP
/// or SSSD resolve as they do at login, and nothing is shelled out.
/// </summary>
internal static partial class UnixUsers
{
    private const int ERANGE = 34;

    /// <summary>The agent's effective user id.</summary>
    public static uint EffectiveUid => GetEuid();

    /// <summary>The user named <paramref name="name"/>, or null when the node has none by that name.</summary>
    /// <exception cref="IOException">The user database could not be read.</exception>
    public static UnixUser? Find(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (name.Contains('\0', StringComparison.Ordinal))
        {
            return null;
        }

        var size = 1024;
        while (true)
        {
            var buffer = Marshal.AllocHGlobal(size);
            try
            {
                var error = GetPwNamR(name, out var entry, buffer, (nuint)size, out var result);
                if (error == ERANGE && size < (1 << 20))
                {
                    size *= 4;
                    continue;
                }

                if (error != 0)
                {
                    throw new IOException($"cannot look up user '{name}': {Marshal.GetPInvokeErrorMessage(error)}");
                }

                if (result == 0)
                {
                    return null;
                }

                // The strings point into the buffer: read them before it is freed.
                var userName = Marshal.PtrToStringUTF8(entry.Name) ?? name;
                var home = Marshal.PtrToStringUTF8(entry.Dir) ?? "/";
                return new UnixUser(userName, entry.Uid, entry.Gid, GroupsOf(userName, entry.Gid), home);
            }
            finally
            {
                Marshal.FreeHGlobal(buffer);
            }
        }
    }

    private static uint[] GroupsOf(string name, uint gid)
    {
        // Linux allows 65,536 supplementary groups (NGROUPS_MAX).
        for (var count = 32; count <= 1 << 17; count *= 2)
        {
            var groups = new uint[count];
            var found = count;
            if (GetGroupList(name, gid, groups, ref found) >= 0)
            {
                return groups[..found];
            }

            // Too small: glibc sets found to the number needed.
            count = Math.Max(count, found / 2);
        }

        throw new IOException($"cannot list the groups of user '{name}'");
    }

    /// <summary>struct passwd on Linux (glibc and musl): two pointers, uid and gid, three pointers.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct Passwd
    {
        public nint Name;
        public nint Password;
        public uint Uid;
        public uint Gid;
        public nint Gecos;
        public nint Dir;
        public nint Shell;
    }

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEuid();

    [LibraryImport("libc", EntryPoint = "getpwnam_r", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int GetPwNamR(string name, out Passwd entry, nint buffer, nuint size, out nint result);

    [LibraryImport("libc", EntryPoint = "getgrouplist", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int GetGroupList(string user, uint group, [Out] uint[] groups, ref int count);
}
