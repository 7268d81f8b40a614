using System.ComponentModel;
using System.Diagnostics;
using System.Globalization;

namespace Gantry.Testing;

/// <summary>
/// The PostgreSQL 15 server the tests make their databases on (<see cref="PostgresDatabase"/>):
/// the throwaway one scripts/test.sh starts and names in <c>GANTRY_TEST_POSTGRES</c>, or, where that
/// is unset (<c>dotnet test</c> run directly, an IDE), one this process starts the same way on first
/// use (initdb into a temporary folder, a free loopback port) and stops when it exits.
/// </summary>
public static class PostgresServer
{
    /// <summary>The server's URL (<c>postgres://postgres@127.0.0.1:PORT/postgres</c>), set by scripts/test.sh.</summary>
    public const string UrlVariable = "GANTRY_TEST_POSTGRES";

    /// <summary>Why scripts/test.sh could not start a server; set instead of <see cref="UrlVariable"/>.</summary>
    public const string ErrorVariable = "GANTRY_TEST_POSTGRES_ERROR";

    /// <summary>Where Debian's <c>postgresql-15</c> package puts the server's programs.</summary>
    public const string BinDirectory = "/usr/lib/postgresql/15/bin";

    private const string FolderPrefix = "gantry-pg-";

    private static readonly Lazy<Task<string>> Started = new(StartOrFindAsync);

    /// <summary>
    /// Why a PostgreSQL test is skipped: null where a server is named or can be started, and also when
    /// <c>CI=true</c>, where a missing server must fail the test (<see cref="GetUrlAsync"/> says why)
    /// rather than skip it.
    /// </summary>
    public static string? SkipReason
    {
        get
        {
            if (string.Equals(Environment.GetEnvironmentVariable("CI"), "true", StringComparison.OrdinalIgnoreCase)
                || Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 })
            {
                return null;
            }

            if (Environment.GetEnvironmentVariable(ErrorVariable) is { Length: > 0 } error)
            {
                return error;
            }

            return File.Exists(Path.Combine(BinDirectory, "initdb"))
                ? null
                : $"{BinDirectory}/initdb is missing: run scripts/test.sh (it installs it) or 'apt-get install postgresql'";
        }
    }

    /// <summary>
    /// The server's URL, its maintenance database <c>postgres</c> as the path. The first call starts the
    /// server when <c>GANTRY_TEST_POSTGRES</c> is unset; a server that cannot be had throws, saying why.
    /// </summary>
    public static Task<string> GetUrlAsync(CancellationToken cancellationToken = default) =>
        // The start is shared by every test: one caller's cancellation must not cancel it for the rest.
        Started.Value.WaitAsync(cancellationToken);

    private static Task<string> StartOrFindAsync()
    {
        if (Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } url)
        {
            return Task.FromResult(url);
        }

        if (Environment.GetEnvironmentVariable(ErrorVariable) is { Length: > 0 } error)
        {
            return Task.FromException<string>(new InvalidOperationException(error));
        }

        return Task.Run(Start);
    }

    private static string Start()
    {
        if (!OperatingSystem.IsLinux() || !File.Exists(Path.Combine(BinDirectory, "initdb")))
        {
            throw new InvalidOperationException($"PostgreSQL 15 is not installed ({BinDirectory}/initdb is missing): run scripts/test.sh (it installs it) or 'apt-get install postgresql'.");
        }

        // As root the server must run as another user (it refuses root): the postgres user the package
        // makes, in a folder under /tmp that it can reach ($TMPDIR may be private to root).
        var asRoot = Environment.IsPrivilegedProcess;
        var parent = asRoot ? "/tmp" : Path.GetTempPath();
        RemoveLeftovers(parent);

        var folder = Path.Combine(parent, $"{FolderPrefix}{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
        Directory.CreateDirectory(folder, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        try
        {
            if (asRoot)
            {
                Run(folder, "chown", "postgres:", folder);
            }

            var data = Path.Combine(folder, "data");
            // -N: no fsync of the new files; the C locale: no locale lookups.
            RunAsServerUser(folder, "initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "-N");
            // Appending and truncating keep the files' owner (postgres). A throwaway: durability off.
            File.AppendAllText(Path.Combine(data, "postgresql.conf"), $"""

                listen_addresses = '127.0.0.1'
                unix_socket_directories = '{folder}'
                fsync = off
                synchronous_commit = off
                full_page_writes = off
                max_connections = 300

                """);
            File.WriteAllText(Path.Combine(data, "pg_hba.conf"), "local all all trust\nhost all all 127.0.0.1/32 trust\n");

            var port = StartOnFreePort(folder, data);
            Watch(folder);
            return $"postgres://postgres@127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}/postgres";
        }
        catch
        {
            Stop(folder);
            throw;
        }
    }

    private static int StartOnFreePort(string folder, string data)
    {
        // A random port below the kernel's ephemeral range (where port 0 binds land, which other tests
        // use); one another process holds is tried again with another, as scripts/test.sh does.
        for (var attempt = 1; ; attempt++)
        {
            var port = Random.Shared.Next(20000, 32000);
            var log = Path.Combine(folder, $"server-{port.ToString(CultureInfo.InvariantCulture)}.log");
            try
            {
                RunAsServerUser(folder, "pg_ctl", "-D", data, "-l", log, "-w", "-t", "60", "-o", $"-p {port.ToString(CultureInfo.InvariantCulture)}", "start");
                return port;
            }
            catch (InvalidOperationException ex)
            {
                var text = File.Exists(log) ? File.ReadAllText(log) : "";
                if (attempt < 8 && text.Contains("already in use", StringComparison.Ordinal))
                {
                    continue;
                }

                throw new InvalidOperationException($"PostgreSQL did not start on 127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}: {text.Trim()}", ex);
            }
        }
    }

    /// <summary>
    /// Starts a watchdog that stops the server and deletes its folder once this process is gone, however it
    /// ended. A ProcessExit handler would not do: the test platform kills its test host a moment after the
    /// run, before a handler could stop a server, and a host killed from a debugger runs none. The watchdog
    /// has a session of its own, so that a Ctrl-C in the terminal does not end it with the tests.
    /// </summary>
    private static void Watch(string folder)
    {
        // $1: this process, $2: the folder. SIGQUIT is the server's immediate shutdown (pg_ctl -m immediate).
        const string Script = """
            exec </dev/null >/dev/null 2>&1
            while kill -0 "$1"; do sleep 1; done
            pid=$(head -n 1 "$2/data/postmaster.pid") && kill -QUIT "$pid"
            for i in 1 2 3 4 5 6 7 8 9 10; do [ -f "$2/data/postmaster.pid" ] || break; sleep 0.5; done
            rm -rf "$2"
            """;
        var start = new ProcessStartInfo("setsid")
        {
            // Our own pipes, not the test host's output, which the test platform reads to its end.
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])["sh", "-c", Script, "sh", Environment.ProcessId.ToString(CultureInfo.InvariantCulture), folder])
        {
            start.ArgumentList.Add(argument);
        }

        try
        {
            using var process = Process.Start(start) ?? throw new InvalidOperationException("setsid did not start");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"The watchdog that stops the tests' PostgreSQL could not be started: {ex.Message}", ex);
        }
    }

    private static void Stop(string folder)
    {
        try
        {
            var data = Path.Combine(folder, "data");
            if (File.Exists(Path.Combine(data, "postmaster.pid")))
            {
                RunAsServerUser(folder, "pg_ctl", "-D", data, "-m", "immediate", "stop");
            }
        }
        catch (InvalidOperationException)
        {
            // Already stopped; the folder goes all the same.
        }

        try
        {
            Directory.Delete(folder, recursive: true);
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    /// <summary>
    /// Stops and deletes the servers of test processes that ended without stopping theirs (killed from a
    /// debugger, say): their folders are named after a process id that no longer runs.
    /// </summary>
    private static void RemoveLeftovers(string parent)
    {
        foreach (var folder in Directory.EnumerateDirectories(parent, FolderPrefix + "*"))
        {
            var name = Path.GetFileName(folder).AsSpan(FolderPrefix.Length);
            var dash = name.IndexOf('-');
            if (dash > 0 && int.TryParse(name[..dash], NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && !IsRunning(pid))
            {
                Stop(folder);
            }
        }
    }

    private static bool IsRunning(int pid)
    {
        try
        {
            using var process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    private static void RunAsServerUser(string folder, string program, params string[] arguments)
    {
        var path = Path.Combine(BinDirectory, program);
        if (Environment.IsPrivilegedProcess)
        {
            Run(folder, "runuser", ["-u", "postgres", "--", path, .. arguments]);
        }
        else
        {
            Run(folder, path, arguments);
        }
    }

    // Runs from the server's folder: the postgres user may not be able to enter the current one.
    private static void Run(string folder, string program, params string[] arguments)
    {
        var start = new ProcessStartInfo(program)
        {
            WorkingDirectory = folder,
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException($"{program} did not start");
        }
        catch (Win32Exception ex)
        {
            throw new InvalidOperationException($"{program} could not be started to run PostgreSQL for the tests: {ex.Message}", ex);
        }

        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            var stdout = process.StandardOutput.ReadToEnd();
            if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
            {
                process.Kill(entireProcessTree: true);
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} did not finish in 2 minutes.");
            }

            if (process.ExitCode != 0)
            {
                throw new InvalidOperationException($"{program} {string.Join(' ', arguments)} failed (exit {process.ExitCode}):\n{stdout}{stderr.GetAwaiter().GetResult()}");
            }
        }
    }
}
