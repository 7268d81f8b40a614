using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Gantry.Testing;

/// <summary>
/// The real <c>gantry</c> binary, started as a child process for end-to-end tests. Output is
/// captured; <see cref="WaitForListeningAsync"/> reads the URL the process announces.
/// </summary>
public sealed partial class GantryProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly TaskCompletionSource<string> _listening = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private GantryProcess(Process process)
    {
        _process = process;
    }

    /// <summary>
    /// The built binary (same configuration as the tests), or the one <c>GANTRY_TEST_BINARY</c> names
    /// (a published NativeAOT or single-file build, to run the end-to-end and browser tests against it).
    /// </summary>
    public static string BinaryPath
    {
        get
        {
            if (Environment.GetEnvironmentVariable("GANTRY_TEST_BINARY") is { Length: > 0 } given)
            {
                return File.Exists(given) ? Path.GetFullPath(given) : throw new FileNotFoundException("GANTRY_TEST_BINARY names no file", given);
            }

            var configuration = AppContext.BaseDirectory.Contains($"{Path.DirectorySeparatorChar}Release{Path.DirectorySeparatorChar}", StringComparison.Ordinal) ? "Release" : "Debug";
            var exe = OperatingSystem.IsWindows() ? "gantry.exe" : "gantry";
            var path = Path.Combine(Tools.RepositoryRoot, "src", "Gantry", "bin", configuration, "net10.0", exe);
            return File.Exists(path) ? path : throw new FileNotFoundException("Build the solution first: the gantry binary is missing", path);
        }
    }

    /// <summary>Everything the process wrote so far (stdout and stderr interleaved).</summary>
    public string Output
    {
        get
        {
            lock (_output)
            {
                return _output.ToString();
            }
        }
    }

    public int Id => _process.Id;

    public bool HasExited => _process.HasExited;

    public int ExitCode => _process.ExitCode;

    /// <summary>Starts <c>gantry</c> with the arguments and extra environment (in <paramref name="workingDirectory"/>, default the runner's).</summary>
    public static GantryProcess Start(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo(BinaryPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? "",
        };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        // Keep the test runner's GANTRY_* settings from leaking into the child.
        foreach (var key in info.Environment.Keys.Where(k => k.StartsWith("GANTRY_", StringComparison.Ordinal)).ToList())
        {
            info.Environment.Remove(key);
        }

        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                info.Environment[key] = value;
            }
        }

        var process = new Process { StartInfo = info, EnableRaisingEvents = true };
        var gantry = new GantryProcess(process);
        process.OutputDataReceived += (_, e) => gantry.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => gantry.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return gantry;
    }

    /// <summary>Runs <c>gantry</c> to completion and returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        await using var gantry = Start(arguments, environment);
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(60));
        await gantry._process.WaitForExitAsync(cts.Token);
        return (gantry._process.ExitCode, gantry.Output);
    }

    /// <summary>Waits for the "listening on URL" line and returns the URL.</summary>
    public async Task<string> WaitForListeningAsync(TimeSpan? timeout = null)
    {
        var wait = timeout ?? TimeSpan.FromSeconds(60);
        var exited = _process.WaitForExitAsync();
        var done = await Task.WhenAny(_listening.Task, exited, Task.Delay(wait));
        if (done == _listening.Task)
        {
            return await _listening.Task;
        }

        throw new TimeoutException($"gantry did not announce its address within {wait} (exited: {_process.HasExited}). Output:\n{Output}");
    }

    /// <summary>Waits until the output holds <paramref name="text"/>; fails with the output so far when it does not in time or the process ends.</summary>
    public async Task WaitForOutputAsync(string text, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!Output.Contains(text, StringComparison.Ordinal))
        {
            if (_process.HasExited || DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"gantry did not write '{text}' (exited: {_process.HasExited}). Output:\n{Output}");
            }

            await Task.Delay(100);
        }
    }

    /// <summary>Sends SIGTERM (or kills on Windows) and waits for the exit.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        if (!_process.HasExited)
        {
            if (OperatingSystem.IsWindows())
            {
                _process.Kill(entireProcessTree: true);
            }
            else
            {
                _ = kill(_process.Id, 15);
            }
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(20));
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>Kills the process with SIGKILL (as <c>kill -9</c>): no shutdown code runs; its children are left alone.</summary>
    public async Task KillHardAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: false);
        }

        await _process.WaitForExitAsync();
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync();
        }

        _process.Dispose();
    }

    private void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        var match = ListeningLine().Match(line);
        if (match.Success)
        {
            _listening.TrySetResult(match.Groups[1].Value);
        }
    }

    [GeneratedRegex(@"listening on (https?://\S+?)[\s,(]")]
    private static partial Regex ListeningLine();

    [System.Runtime.InteropServices.DllImport("libc", SetLastError = true)]
    private static extern int kill(int pid, int signal);
}
