using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Gantry.Testing;

/// <summary>
/// A real Alertmanager (Debian's <c>prometheus-alertmanager</c>, 0.25) started as a child process on a
/// loopback port, with no clustering and its data in a temporary folder; killed and deleted on dispose.
/// </summary>
/// <remarks>
/// Alertmanager 0.25's <c>GET /api/v2/alerts</c> lists only alerts that have not resolved: one whose
/// <c>endsAt</c> has passed is left out whatever the <c>active</c>/<c>inactive</c> filters say. To see a
/// resolve, start it with a webhook (<see cref="StartAsync"/>): it then notifies that URL with
/// Alertmanager's own payload, resolved alerts included (<c>send_resolved</c>) with their <c>endsAt</c>,
/// each alert on its own (grouped by every label) at once (<c>group_wait: 0s</c>, <c>group_interval: 1s</c>).
/// </remarks>
public sealed class Alertmanager : IAsyncDisposable
{
    private readonly Process _process;
    private readonly string _folder;
    private readonly StringBuilder _output;
    private readonly HttpClient _http = new() { Timeout = TimeSpan.FromSeconds(10) };

    private Alertmanager(Process process, string folder, StringBuilder output, int port)
    {
        _process = process;
        _folder = folder;
        _output = output;
        Port = port;
        Url = new Uri($"http://127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
    }

    /// <summary>The loopback port it listens on.</summary>
    public int Port { get; }

    /// <summary>Its base URL (<c>http://127.0.0.1:PORT</c>), what <c>--alertmanager</c> takes.</summary>
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

    /// <summary>
    /// Starts Alertmanager on <paramref name="port"/> (a free one when null) and waits until
    /// <c>/-/ready</c> answers. With <paramref name="webhook"/>, every alert is routed there
    /// (firing and resolved); without, to a receiver that sends nothing.
    /// </summary>
    public static async Task<Alertmanager> StartAsync(int? port = null, Uri? webhook = null, CancellationToken cancellationToken = default)
    {
        var binary = Tools.Require("prometheus-alertmanager", "prometheus-alertmanager");
        var listen = port ?? Tools.FreePort();
        var folder = Directory.CreateTempSubdirectory("gantry-alertmanager-").FullName;
        var config = Path.Combine(folder, "alertmanager.yml");
        await File.WriteAllTextAsync(config, webhook is null
            ? """
              route:
                receiver: 'null'
              receivers:
                - name: 'null'
              """
            : $"""
              route:
                receiver: hook
                group_by: ['...']
                group_wait: 0s
                group_interval: 1s
                repeat_interval: 1h
              receivers:
                - name: hook
                  webhook_configs:
                    - url: '{webhook.AbsoluteUri}'
                      send_resolved: true
              """, cancellationToken).ConfigureAwait(false);

        var start = new ProcessStartInfo(binary)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        foreach (var argument in (string[])[
            $"--config.file={config}",
            $"--storage.path={Path.Combine(folder, "data")}",
            $"--web.listen-address=127.0.0.1:{listen.ToString(CultureInfo.InvariantCulture)}",
            // Empty: no gossip, no cluster port taken.
            "--cluster.listen-address=",
            "--log.level=debug"])
        {
            start.ArgumentList.Add(argument);
        }

        var output = new StringBuilder();
        var process = new Process { StartInfo = start };
        process.OutputDataReceived += (_, e) => Append(output, e.Data);
        process.ErrorDataReceived += (_, e) => Append(output, e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var alertmanager = new Alertmanager(process, folder, output, listen);
        try
        {
            await alertmanager.WaitReadyAsync(cancellationToken).ConfigureAwait(false);
            return alertmanager;
        }
        catch
        {
            await alertmanager.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// <c>GET /api/v2/alerts</c>: the alerts it holds that have not resolved, as its JSON array
    /// (each with <c>labels</c>, <c>annotations</c>, <c>startsAt</c>, <c>endsAt</c>, <c>generatorURL</c>,
    /// <c>fingerprint</c> and <c>status.state</c>).
    /// </summary>
    public async Task<JsonElement> GetAlertsAsync(CancellationToken cancellationToken = default)
    {
        var text = await _http.GetStringAsync(new Uri(Url, "/api/v2/alerts"), cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Its <c>/metrics</c> text (<c>alertmanager_alerts_received_total{status="resolved"}</c> counts resolves received).</summary>
    public Task<string> GetMetricsAsync(CancellationToken cancellationToken = default) =>
        _http.GetStringAsync(new Uri(Url, "/metrics"), cancellationToken);

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
        _http.Dispose();
        try
        {
            Directory.Delete(_folder, recursive: true);
        }
        catch (IOException)
        {
            // A file still held: the temporary folder's cleaner takes it.
        }
    }

    private async Task WaitReadyAsync(CancellationToken cancellationToken)
    {
        var ready = new Uri(Url, "/-/ready");
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            if (_process.HasExited)
            {
                throw new InvalidOperationException($"Alertmanager exited ({_process.ExitCode.ToString(CultureInfo.InvariantCulture)}) before it was ready:\n{Output}");
            }

            try
            {
                using var response = await _http.GetAsync(ready, cancellationToken).ConfigureAwait(false);
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

        throw new TimeoutException($"Alertmanager on {Url} was not ready within 30s:\n{Output}");
    }

    private static void Append(StringBuilder output, string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }
    }
}
