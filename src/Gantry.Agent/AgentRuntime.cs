using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;

namespace Gantry.Agent;

/// <summary>
/// Runtime settings for the <c>gantry agent</c> process that .NET reads only at start-up. The GC's
/// generation-0 budget (<c>DOTNET_GCgen0size</c>, held there by <c>DOTNET_GCgen0MaxBudget</c>) and
/// the size of the regions the GC's heap is made of (<c>DOTNET_GCRegionSize</c>) decide most of the
/// agent's anonymous memory, but they cannot be changed once the runtime runs (<see cref="GC.RefreshMemoryLimit"/> handles
/// only the heap hard limits), and it cannot go into the runtime configuration either: the same
/// executable runs <c>gantry server</c> and <c>gantry dev</c>, which keep the runtime's defaults. So
/// the agent, first thing, replaces itself (<c>execve</c> of <c>/proc/self/exe</c> with the same
/// arguments: same pid, same streams) with the variable set, and the new process removes it from
/// its environment again so that jobs do not inherit it.
/// </summary>
public static partial class AgentRuntime
{
    /// <summary>The runtime's variable for the generation-0 budget (hexadecimal bytes).</summary>
    public const string Gen0SizeVariable = "DOTNET_GCgen0size";

    /// <summary>The runtime's variable for the largest generation-0 budget (hexadecimal bytes).</summary>
    public const string Gen0MaxBudgetVariable = "DOTNET_GCgen0MaxBudget";

    /// <summary>The runtime's variable for the size of a GC region (hexadecimal bytes, a power of two).</summary>
    public const string RegionSizeVariable = "DOTNET_GCRegionSize";

    /// <summary>The GC's own region size (4 MiB): regions are never made larger than that.</summary>
    public const long DefaultRegionSize = 4L << 20;

    /// <summary>The smallest region size used (1 MiB).</summary>
    public const long MinRegionSize = 1L << 20;

    private static readonly string[] Variables = [Gen0SizeVariable, Gen0MaxBudgetVariable, RegionSizeVariable];

    /// <summary>Set in the replacing process: the comma-separated variables the agent added itself.</summary>
    public const string AddedVariable = "GANTRY_AGENT_RUNTIME_ADDED";

    /// <summary>
    /// The variables to add for a generation-0 budget of <paramref name="gen0Size"/> bytes: the budget
    /// as both the smallest and the largest (the GC otherwise grows it up to several MiB when much of
    /// generation 0 survives), and regions the budget's size rounded up to a power of two, between 1
    /// and 4 MiB, so that a generation does not hold a 4 MiB region it barely uses. None for 0 (the
    /// runtime's defaults), none when the user set any of these GC variables (with <c>DOTNET_</c> or
    /// <c>COMPlus_</c>: theirs win), none when this process is already the replacement.
    /// </summary>
    public static IReadOnlyDictionary<string, string> VariablesToAdd(long gen0Size, Func<string, string?> environment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        if (gen0Size <= 0 || environment(AddedVariable) is not null || Variables.Any(v => UserSet(v, environment)))
        {
            return new Dictionary<string, string>();
        }

        var budget = gen0Size.ToString("x", CultureInfo.InvariantCulture);
        var region = Math.Clamp((long)System.Numerics.BitOperations.RoundUpToPowerOf2((ulong)gen0Size), MinRegionSize, DefaultRegionSize);
        return new Dictionary<string, string>
        {
            [Gen0SizeVariable] = budget,
            [Gen0MaxBudgetVariable] = budget,
            [RegionSizeVariable] = region.ToString("x", CultureInfo.InvariantCulture),
        };
    }

    private static bool UserSet(string variable, Func<string, string?> environment) =>
        !string.IsNullOrEmpty(environment(variable)) ||
        !string.IsNullOrEmpty(environment(string.Concat("COMPlus_", variable.AsSpan("DOTNET_".Length))));

    /// <summary>
    /// In the replacing process, removes the variables the agent added (and the marker) from the
    /// environment children get; returns their names. Does nothing elsewhere.
    /// </summary>
    public static IReadOnlyList<string> RemoveAdded(Func<string, string?> environment, Action<string, string?> setEnvironment)
    {
        ArgumentNullException.ThrowIfNull(environment);
        ArgumentNullException.ThrowIfNull(setEnvironment);
        if (environment(AddedVariable) is not { } added)
        {
            return [];
        }

        var names = added.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        foreach (var name in names)
        {
            setEnvironment(name, null);
        }

        setEnvironment(AddedVariable, null);
        return names;
    }

    /// <summary>
    /// Starts the agent again in this process with the variables of <see cref="VariablesToAdd"/> when
    /// there are any (Linux only): on success this does not return. Returns null when nothing was to
    /// be done, else why the process goes on as it is.
    /// </summary>
    public static string? Apply(long gen0Size)
    {
        if (!OperatingSystem.IsLinux())
        {
            return null;
        }

        var add = VariablesToAdd(gen0Size, Environment.GetEnvironmentVariable);
        if (add.Count == 0)
        {
            return null;
        }

        byte[] cmdline;
        try
        {
            cmdline = File.ReadAllBytes("/proc/self/cmdline");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "cannot read /proc/self/cmdline: " + ex.Message;
        }

        var arguments = Arguments(cmdline);
        var environment = new List<string>();
        foreach (System.Collections.DictionaryEntry entry in Environment.GetEnvironmentVariables())
        {
            environment.Add($"{entry.Key}={entry.Value}");
        }

        foreach (var (name, value) in add)
        {
            environment.Add($"{name}={value}");
        }

        environment.Add($"{AddedVariable}={string.Join(',', add.Keys)}");
        var error = Exec("/proc/self/exe", arguments, [.. environment]);
        return $"execve failed (errno {error}); running with the runtime's default GC budget and regions";
    }

    /// <summary>
    /// The arguments in <c>/proc/self/cmdline</c>: each ends in a NUL. An empty argument
    /// (<c>--node-name ""</c>) is kept, so the restarted agent parses what the first one did.
    /// </summary>
    internal static string[] Arguments(byte[] cmdline)
    {
        ArgumentNullException.ThrowIfNull(cmdline);
        var text = Encoding.UTF8.GetString(cmdline);
        if (text.Length == 0)
        {
            return [];
        }

        // Only the last argument's own terminator goes: an empty last argument stays.
        return (text[^1] == '\0' ? text[..^1] : text).Split('\0');
    }

    /// <summary>execve(2); returns errno when it fails (on success it does not return).</summary>
    private static unsafe int Exec(string path, string[] arguments, string[] environment)
    {
        var strings = new List<nint>();
        try
        {
            var argv = new nint[arguments.Length + 1];
            var envp = new nint[environment.Length + 1];
            for (var i = 0; i < arguments.Length; i++)
            {
                strings.Add(argv[i] = Marshal.StringToCoTaskMemUTF8(arguments[i]));
            }

            for (var i = 0; i < environment.Length; i++)
            {
                strings.Add(envp[i] = Marshal.StringToCoTaskMemUTF8(environment[i]));
            }

            fixed (nint* argvPointer = argv)
            fixed (nint* envpPointer = envp)
            {
                _ = Execve(path, argvPointer, envpPointer);
                return Marshal.GetLastPInvokeError();
            }
        }
        finally
        {
            foreach (var s in strings)
            {
                Marshal.FreeCoTaskMem(s);
            }
        }
    }

    /// <summary>
    /// Gives back what start-up used and no longer needs, once, after the first sample: a full
    /// compacting collection that also returns the GC's free regions to the system
    /// (<see cref="GCCollectionMode.Aggressive"/>), then glibc's free native heap
    /// (<c>malloc_trim</c>; nothing on other C libraries).
    /// </summary>
    public static void ReleaseStartupMemory()
    {
        GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        if (!OperatingSystem.IsLinux())
        {
            return;
        }

        try
        {
            _ = MallocTrim(0);
        }
        catch (EntryPointNotFoundException)
        {
            // Not glibc (musl has no malloc_trim): nothing to give back this way.
        }
    }

    [LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    [LibraryImport("libc", EntryPoint = "execve", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int Execve(string path, nint* argv, nint* envp);
}
