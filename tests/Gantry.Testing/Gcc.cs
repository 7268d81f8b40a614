using System.ComponentModel;
using System.Diagnostics;

namespace Gantry.Testing;

/// <summary>Builds the tests' small C programs (tests/native/, copied next to the test assemblies under <c>native/</c>) with gcc.</summary>
internal static class Gcc
{
    /// <summary>
    /// Compiles <c>native/<paramref name="sourceName"/></c> into <paramref name="output"/> with <paramref name="flags"/>;
    /// a missing source, a missing gcc or a failed build is an error that says what to install.
    /// </summary>
    /// <param name="what">What is built, for the messages: "the fake NVML library".</param>
    /// <param name="sourceName">The C file under tests/native/.</param>
    /// <param name="output">Where the built file goes.</param>
    /// <param name="flags">gcc's flags before <c>-o</c>.</param>
    /// <param name="packages">What to install when gcc is missing.</param>
    public static void Compile(string what, string sourceName, string output, IEnumerable<string> flags, string packages = "gcc libc6-dev")
    {
        var source = Path.Combine(AppContext.BaseDirectory, "native", sourceName);
        if (!File.Exists(source))
        {
            throw new InvalidOperationException($"The source of {what} is not at {source}; Gantry.Testing.csproj copies tests/native/ there.");
        }

        var start = new ProcessStartInfo("gcc")
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var flag in flags)
        {
            start.ArgumentList.Add(flag);
        }

        start.ArgumentList.Add("-o");
        start.ArgumentList.Add(output);
        start.ArgumentList.Add(source);

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("gcc did not start");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"gcc is needed to build {what} (tests/native/{sourceName}) and was not found on PATH; install it (apt-get install {packages}).", ex);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"gcc failed to build {what} (exit {process.ExitCode}):\n{stdout}{stderr.GetAwaiter().GetResult()}");
            }
        }
    }
}
