using System.Runtime.InteropServices;

namespace Gantry.Testing;

/// <summary>
/// Builds the fake NVML library (<c>tests/native/fake_nvml.c</c>, copied next to the test
/// assemblies under <c>native/</c>) with gcc, once per test run, and scripts it. The script
/// format is documented at the top of the C file.
/// </summary>
public static class FakeNvmlLibrary
{
    /// <summary>The environment variable the fake reads its script path from at <c>nvmlInit_v2</c>.</summary>
    public const string ScriptVariable = "GANTRY_FAKE_NVML_SCRIPT";

    private static readonly Lock Gate = new();
    private static readonly Lazy<string> BuildDirectory = new(CreateBuildDirectory);
    private static string? s_current;
    private static string? s_oldDriver;

    /// <summary>The fake built as a current driver (every entry point), as a path to the .so.</summary>
    public static string CurrentDriverPath
    {
        get
        {
            lock (Gate)
            {
                return s_current ??= Compile("libfake_nvml.so", oldDriver: false);
            }
        }
    }

    /// <summary>The fake built with <c>-DFAKE_NVML_OLD_DRIVER</c>: newer entry points missing.</summary>
    public static string OldDriverPath
    {
        get
        {
            lock (Gate)
            {
                return s_oldDriver ??= Compile("libfake_nvml_old.so", oldDriver: true);
            }
        }
    }

    /// <summary>
    /// Writes <paramref name="lines"/> to a new script file and points
    /// <see cref="ScriptVariable"/> at it, in both the managed and the native environment
    /// (.NET keeps its own copy on Unix; the C library reads the native one).
    /// </summary>
    public static string UseScript(params string[] lines)
    {
        var path = Path.Combine(BuildDirectory.Value, $"script-{Guid.NewGuid():N}.txt");
        File.WriteAllText(path, string.Join('\n', lines) + "\n");
        SetScriptVariable(path);
        return path;
    }

    /// <summary>Points <see cref="ScriptVariable"/> at <paramref name="path"/> (null unsets it).</summary>
    public static void SetScriptVariable(string? path)
    {
        Environment.SetEnvironmentVariable(ScriptVariable, path);
        if (!OperatingSystem.IsWindows())
        {
            var rc = path is null ? NativeMethods.unsetenv(ScriptVariable) : NativeMethods.setenv(ScriptVariable, path, 1);
            if (rc != 0)
            {
                throw new InvalidOperationException($"setenv({ScriptVariable}) failed: {Marshal.GetLastPInvokeError()}");
            }
        }
    }

    /// <summary>The environment variable naming the file the fake appends each <c>nvmlDeviceSetPowerManagementLimit</c> call to.</summary>
    public const string SetLogVariable = "GANTRY_FAKE_NVML_SET_LOG";

    /// <summary>Points <see cref="SetLogVariable"/> at <paramref name="path"/> (null unsets it), in both environments.</summary>
    public static void SetSetLogVariable(string? path)
    {
        Environment.SetEnvironmentVariable(SetLogVariable, path);
        if (!OperatingSystem.IsWindows())
        {
            var rc = path is null ? NativeMethods.unsetenv(SetLogVariable) : NativeMethods.setenv(SetLogVariable, path, 1);
            if (rc != 0)
            {
                throw new InvalidOperationException($"setenv({SetLogVariable}) failed: {Marshal.GetLastPInvokeError()}");
            }
        }
    }

    /// <summary>The Set calls recorded in <paramref name="path"/>, one <c>set gpu=G mw=M ret=R</c> each; none when it does not exist.</summary>
    public static string[] SetCalls(string path) => File.Exists(path) ? File.ReadAllLines(path) : [];

    /// <summary>Makes the loaded fake re-read its script now, as if the GPUs changed under a running NVML.</summary>
    public static void Reload(string libraryPath)
    {
        var handle = NativeLibrary.Load(libraryPath);
        try
        {
            var reload = Marshal.GetDelegateForFunctionPointer<ReloadFunction>(NativeLibrary.GetExport(handle, "fake_nvml_reload"));
            _ = reload();
        }
        finally
        {
            NativeLibrary.Free(handle);
        }
    }

    [UnmanagedFunctionPointer(CallingConvention.Cdecl)]
    private delegate int ReloadFunction();

    private static string CreateBuildDirectory()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"gantry-fake-nvml-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        return directory;
    }

    private static string Compile(string fileName, bool oldDriver)
    {
        var output = Path.Combine(BuildDirectory.Value, fileName);
        Gcc.Compile("the fake NVML library", "fake_nvml.c", output, oldDriver ? ["-shared", "-fPIC", "-O1", "-Wall", "-DFAKE_NVML_OLD_DRIVER"] : ["-shared", "-fPIC", "-O1", "-Wall"], packages: "gcc");
        return output;
    }

    private static class NativeMethods
    {
        [DllImport("libc", SetLastError = true)]
        public static extern int setenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name, [MarshalAs(UnmanagedType.LPUTF8Str)] string value, int overwrite);

        [DllImport("libc", SetLastError = true)]
        public static extern int unsetenv([MarshalAs(UnmanagedType.LPUTF8Str)] string name);
    }
}
