using System.Globalization;
using System.Text.Json;

namespace Gantry.Testing;

/// <summary>
/// A real Prometheus (Debian's <c>prometheus</c>, 2.42) started as a child process on a loopback port with a
/// configuration the test writes, its TSDB in a temporary folder; killed and deleted on dispose.
/// </summary>
public sealed class PrometheusServer : ToolServer
{
    private PrometheusServer(string binary, IEnumerable<string> arguments, string folder, int port)
        : base(binary, arguments, folder, port)
    {
    }

    /// <summary>
    /// Starts Prometheus with the configuration file <paramref name="configFile"/> (relative paths in it resolve
    /// against its folder) on a free loopback port and waits until <c>/-/ready</c> answers.
    /// </summary>
    public static async Task<PrometheusServer> StartAsync(string configFile, CancellationToken cancellationToken = default)
    {
        var binary = Tools.Require("prometheus", "prometheus");
        var port = Tools.FreePort();
        var folder = Directory.CreateTempSubdirectory("gantry-prometheus-").FullName;
        string[] arguments = [
            $"--config.file={configFile}",
            $"--storage.tsdb.path={Path.Combine(folder, "data")}",
            $"--web.listen-address=127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}"];
        return await ReadyOrDisposedAsync(new PrometheusServer(binary, arguments, folder, port), "Prometheus", TimeSpan.FromSeconds(60), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// <c>GET /api/v1/query</c>, an instant query now: the whole answer, <c>{"status": "success", "data":
    /// {"resultType", "result"}}</c> or <c>{"status": "error", "errorType", "error"}</c> (an error's 400 or 422 is
    /// not thrown).
    /// </summary>
    public Task<JsonElement> QueryAsync(string promQl, CancellationToken cancellationToken = default) =>
        GetAsync("/api/v1/query?query=" + Uri.EscapeDataString(promQl), cancellationToken);

    /// <summary><c>GET /api/v1/targets</c>: <c>data.activeTargets</c> (labels, health, lastError) and <c>data.droppedTargets</c>.</summary>
    public Task<JsonElement> TargetsAsync(CancellationToken cancellationToken = default) =>
        GetAsync("/api/v1/targets", cancellationToken);

    private async Task<JsonElement> GetAsync(string pathAndQuery, CancellationToken cancellationToken)
    {
        using var response = await Http.GetAsync(new Uri(Url, pathAndQuery), cancellationToken).ConfigureAwait(false);
        var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
        using var document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
