using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Gantry.Testing;

/// <summary>
/// A real server from a Debian package (Alertmanager, Prometheus) run as a child process on a loopback port,
/// with its files in a temporary folder of its own: its output is kept for a failing test's message, and
/// disposing kills it and deletes the folder.
/// </summary>
public abstract class ToolServer : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _folder;
    private readonly StringBuilder _output = new();

    /// <summary>Starts <paramref name="binary"/> with <paramref name="arguments"/>; it should listen on 127.0.0.1:<paramref name="port"/>.</summary>
    protected ToolServer(string binary, IEnumerable<string> arguments, string folder, int port)
    {
        ArgumentNullException.ThrowIfNull(arguments);
        _folder = folder;
        Port = port;
        Url = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }

        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, e) => Append(e.Data);
        _process.ErrorDataReceived += (_, e) => Append(e.Data);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    /// <summary>The loopback port it listens on.</summary>
    public int Port { get; }

    /// <summary>Its base URL (<c>http://127.0.0.1:PORT</c>).</summary>
    public Uri Url { get; }

    /// <summary>What it has logged so far (for a failing test's message).</summary>
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

    /// <summary>A client for its HTTP API.</summary>
    protected HttpClient Http { get; } = new() { Timeout = TimeSpan.FromSeconds(30) };

    /// <summary>Kills the process and deletes its folder.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
            }

            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is InvalidOperationException or TimeoutException)
        {
            // Already gone, or stuck: nothing more a test can do about it.
        }

        _process.Dispose();
        Http.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A file still held: the temporary folder's cleaner takes it.
        }

        GC.SuppressFinalize(this);
    }

    /// <summary>Waits until <c>/-/ready</c> answers 2xx; fails with its output when it exits first or <paramref name="timeout"/> passes.</summary>
    protected async Task WaitReadyAsync(string name, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var ready = new Uri(Url, "/-/ready");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"{name} exited ({_process.ExitCode.ToString(CultureInfo.InvariantCulture)}) before it was ready:\n{Output}");
            }

            try
            {
                using var response = await Http.GetAsync(ready, cancellationToken).ConfigureAwait(false);
                if (response.IsSuccessStatusCode)
                {
                    return;
                }
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }

        throw new TimeoutException($"{name} on {Url} was not ready within {timeout}:\n{Output}");
    }

    /// <summary>Waits until it is ready, or disposes it and rethrows.</summary>
    protected static async Task<T> ReadyOrDisposedAsync<T>(T server, string name, TimeSpan timeout, CancellationToken cancellationToken)
        where T : ToolServer
    {
        ArgumentNullException.ThrowIfNull(server);
        try
        {
            await server.WaitReadyAsync(name, timeout, cancellationToken).ConfigureAwait(false);
            return server;
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private void Append(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (_output)
        {
            _output.AppendLine(line);
        }
    }
}
