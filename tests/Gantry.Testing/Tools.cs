namespace Gantry.Testing;

/// <summary>Finds the repository and the external tools the tests drive.</summary>
public static class Tools
{
    /// <summary>The repository root (the folder holding Gantry.slnx).</summary>
    public static string RepositoryRoot { get; } = FindRoot();

    /// <summary>
    /// The full path of a program on PATH. A missing tool fails the test with a message saying
    /// how to get it (scripts/test.sh installs every tool the tests need).
    /// </summary>
    public static string Require(string name, string debianPackage)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator))
        {
            var candidate = Path.Combine(dir, name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new InvalidOperationException($"'{name}' is not installed: run scripts/test.sh (it installs it) or 'apt-get install {debianPackage}'.");
    }

    /// <summary>
    /// Runs a program to its end (at most <paramref name="timeout"/>, default 3 minutes) and returns its exit code and its
    /// output (stdout, then stderr). <paramref name="environment"/> adds to or replaces variables of the runner's.
    /// </summary>
    public static async Task<(int Code, string Output)> RunAsync(string program, IEnumerable<string> arguments, IReadOnlyDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        var info = new System.Diagnostics.ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in arguments)
        {
            info.ArgumentList.Add(a);
        }

        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[key] = value;
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromMinutes(3));
        await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        return (process.ExitCode, await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false));
    }

    /// <summary>
    /// Runs the tool <paramref name="name"/> (from the Debian package <paramref name="debianPackage"/>, see
    /// <see cref="Require"/>) to completion, at most a minute: its exit code and stdout followed by stderr.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string name, string debianPackage, params string[] arguments) =>
        await RunAsync(Require(name, debianPackage), arguments, timeout: TimeSpan.FromSeconds(60)).ConfigureAwait(false);

    private static readonly HashSet<int> HandedOutPorts = [];

    /// <summary>
    /// A loopback TCP port free right now, for a process that must be restarted on the same address. The
    /// kernel may hand the same ephemeral port to two calls in a row once the first listener closed, so a
    /// port this test run already handed out is never handed out again (a server and its agent once got
    /// the same one).
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
            listener.Start();
            var port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
            lock (HandedOutPorts)
            {
                if (HandedOutPorts.Add(port))
                {
                    return port;
                }
            }
        }
    }

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "Gantry.slnx")))
        {
            dir = dir.Parent;
        }

        return dir?.FullName ?? throw new InvalidOperationException("Gantry.slnx not found above " + AppContext.BaseDirectory);
    }
}
