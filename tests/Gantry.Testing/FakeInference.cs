using System.Diagnostics;
using System.Text;

namespace Gantry.Testing;

/// <summary>
/// The stand-in inference server (<c>tests/native/fake_inference.c</c>, copied next to the test
/// assemblies under <c>native/</c>): built once per test run with <c>gcc -static -O2</c> (so that it
/// also runs as the only file of a <c>FROM scratch</c> container image), and started as a child
/// process on a free loopback port. Its options are documented at the top of the C file.
/// </summary>
public sealed class FakeInference : IAsyncDisposable
{
    private static readonly Lock Gate = new();
    private static string? s_binary;

    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private FakeInference(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    /// <summary>The static binary, built on first use.</summary>
    public static string BinaryPath
    {
        get
        {
            lock (Gate)
            {
                return s_binary ??= Compile();
            }
        }
    }

    /// <summary>The port it listens on.</summary>
    public int Port { get; }

    /// <summary>The process id.</summary>
    public int Id => _process.Id;

    /// <summary>True once it exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Its exit code, once it exited.</summary>
    public int ExitCode => _process.ExitCode;

    /// <summary>What it printed so far.</summary>
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

    /// <summary>Starts it on a free port (unless <c>--port</c> is among <paramref name="arguments"/>) bound to 127.0.0.1, and waits until it listens.</summary>
    public static async Task<FakeInference> StartAsync(params string[] arguments)
    {
        var port = Tools.FreePort();
        var start = new ProcessStartInfo(BinaryPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        if (Array.IndexOf(arguments, "--port") is var at and >= 0 && at + 1 < arguments.Length)
        {
            port = int.Parse(arguments[at + 1], System.Globalization.CultureInfo.InvariantCulture);
        }
        else
        {
            start.ArgumentList.Add("--port");
            start.ArgumentList.Add(port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }

        if (Array.IndexOf(arguments, "--bind") < 0)
        {
            start.ArgumentList.Add("--bind");
            start.ArgumentList.Add("127.0.0.1");
        }

        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        var process = Process.Start(start) ?? throw new InvalidOperationException("fake_inference did not start");
        var server = new FakeInference(process, port);
        var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) => server.Append(e.Data, listening);
        process.ErrorDataReceived += (_, e) => server.Append(e.Data, null);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await listening.Task.WaitAsync(TimeSpan.FromSeconds(10));
        }
        catch (TimeoutException)
        {
            await server.DisposeAsync();
            throw new InvalidOperationException("fake_inference did not say it listens within 10 s:\n" + server.Output);
        }

        return server;
    }

    /// <summary>The arguments to run it as a job's command on <paramref name="port"/>, with <paramref name="extra"/> options.</summary>
    public static List<string> Command(int port, params string[] extra) =>
        [BinaryPath, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", .. extra];

    private void Append(string? line, TaskCompletionSource? listening)
    {
        if (line is null)
        {
            listening?.TrySetResult();
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }

        if (line.StartsWith("listening on ", StringComparison.Ordinal))
        {
            listening?.TrySetResult();
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            try
            {
                _process.Kill();
            }
            catch (InvalidOperationException)
            {
                // It exited meanwhile.
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
        }

        _process.Dispose();
    }

    private static string Compile()
    {
        var directory = Path.Combine(Path.GetTempPath(), $"gantry-fake-inference-{Environment.ProcessId}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(directory);
        var output = Path.Combine(directory, "fake_inference");
        Gcc.Compile("the stand-in inference server", "fake_inference.c", output, ["-static", "-O2", "-Wall"]);
        return output;
    }
}
