using System.Globalization;
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
public sealed class Alertmanager : ToolServer
{
    private Alertmanager(string binary, IEnumerable<string> arguments, string folder, int port)
        : base(binary, arguments, folder, port)
    {
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

        string[] arguments = [
            $"--config.file={config}",
            $"--storage.path={Path.Combine(folder, "data")}",
            $"--web.listen-address=127.0.0.1:{listen.ToString(CultureInfo.InvariantCulture)}",
            // Empty: no gossip, no cluster port taken.
            "--cluster.listen-address=",
            "--log.level=debug"];
        return await ReadyOrDisposedAsync(new Alertmanager(binary, arguments, folder, listen), "Alertmanager", TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>GET /api/v2/alerts</c>: the alerts it holds that have not resolved, as its JSON array
    /// (each with <c>labels</c>, <c>annotations</c>, <c>startsAt</c>, <c>endsAt</c>, <c>generatorURL</c>,
    /// <c>fingerprint</c> and <c>status.state</c>).
    /// </summary>
    public async Task<JsonElement> GetAlertsAsync(CancellationToken cancellationToken = default)
    {
        var text = await Http.GetStringAsync(new Uri(Url, "/api/v2/alerts"), cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }

    /// <summary>Its <c>/metrics</c> text (<c>alertmanager_alerts_received_total{status="resolved"}</c> counts resolves received).</summary>
    public Task<string> GetMetricsAsync(CancellationToken cancellationToken = default) =>
        Http.GetStringAsync(new Uri(Url, "/metrics"), cancellationToken);
}
