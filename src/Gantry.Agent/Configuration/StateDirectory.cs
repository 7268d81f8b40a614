namespace Gantry.Agent.Configuration;

/// <summary>
/// The agent's state directory holds the node id, the records of running attempts and the GPUs'
/// earlier power limits: only the agent's user may read or list it, so a job run as another user
/// (docs/jobs-as-owners.md) cannot.
/// </summary>
internal static class StateDirectory
{
    /// <summary>rwx for the agent's user, nothing for anyone else.</summary>
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    /// <summary>rw for the agent's user, nothing for anyone else.</summary>
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> when missing and makes it (and an existing one) 0700.</summary>
    /// <exception cref="IOException">It cannot be created.</exception>
    /// <exception cref="UnauthorizedAccessException">It cannot be created or its mode set.</exception>
    public static void Prepare(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
            return;
        }

        Directory.CreateDirectory(path, DirectoryMode);
        File.SetUnixFileMode(path, DirectoryMode);
    }
}
