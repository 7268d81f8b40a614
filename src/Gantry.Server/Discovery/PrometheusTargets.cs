using System.Buffers;
using System.Text;
using System.Text.Json;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Server.Nodes;
using Gantry.Server.Services;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Discovery;

/// <summary>
/// <c>GET /api/v1/prometheus/targets</c> (admin token): every agent's <c>/metrics</c> as a Prometheus HTTP
/// service-discovery answer (<c>http_sd_configs</c>), one target group per node that told the server where
/// its agent serves (docs/prometheus.md). Down, suspended and drained nodes are listed too, with their state
/// in a label, so that a relabelling rule decides what to scrape. One walk over the registry per request:
/// Prometheus asks once per <c>refresh_interval</c>, not per event.
/// </summary>
internal static class PrometheusTargets
{
    /// <summary>The prefix of a node label's discovery label: <c>zone</c> becomes <c>__meta_gantry_label_zone</c>.</summary>
    public const string LabelPrefix = "__meta_gantry_label_";

    public static void MapPrometheusTargets(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/prometheus/targets", (NodeRegistry nodes, HttpContext http) =>
        {
            var targets = new List<NodeScrapeTarget>();
            nodes.ScrapeTargets(targets);

            // Services (docs/service-health.md): the live ones with a metrics endpoint, after the agents.
            var services = new List<ServiceView>();
            http.RequestServices.GetService<ServiceDirectory>()?.List(services);
            var buffer = new ArrayBufferWriter<byte>(64 + (targets.Count * 512) + (services.Count * 384));
            Write(buffer, targets, services);
            // http_sd wants exactly application/json (a charset of utf-8 is allowed).
            return TypedResults.Bytes(buffer.WrittenMemory.ToArray(), "application/json; charset=utf-8");
        }).RequireRole(Role.Viewer);

    /// <summary>
    /// Writes the target groups:
    /// <c>[{"targets":["10.0.0.5:9450"],"labels":{"__scheme__":"http","__metrics_path__":"/metrics","__meta_gantry_node_id":"n1",…}}]</c>.
    /// A node whose agent URL is not an absolute http or https URL is left out (it names no place to scrape).
    /// </summary>
    public static void Write(IBufferWriter<byte> buffer, IReadOnlyList<NodeScrapeTarget> targets, IReadOnlyList<ServiceView>? services = null)
    {
        ArgumentNullException.ThrowIfNull(targets);
        var models = new HashSet<string>(StringComparer.Ordinal);
        var written = new HashSet<string>(StringComparer.Ordinal);
        var joined = new StringBuilder();
        using var json = new Utf8JsonWriter(buffer);
        json.WriteStartArray();
        foreach (var target in targets)
        {
            if (!Uri.TryCreate(target.AgentUrl, UriKind.Absolute, out var url) || url.Scheme is not ("http" or "https"))
            {
                continue;
            }

            json.WriteStartObject();
            json.WriteStartArray("targets"u8);
            // Uri.Host keeps an IPv6 address's brackets, as Prometheus wants them: [::1]:9450.
            json.WriteStringValue($"{url.Host}:{url.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)}");
            json.WriteEndArray();

            json.WriteStartObject("labels"u8);
            // The agent's own scheme and path prefix (behind a proxy, say) win over the scrape config's defaults.
            json.WriteString("__scheme__"u8, url.Scheme);
            json.WriteString("__metrics_path__"u8, url.AbsolutePath.TrimEnd('/') + "/metrics");
            json.WriteString("__meta_gantry_node_id"u8, target.Id);
            json.WriteString("__meta_gantry_node_name"u8, target.Name);
            json.WriteString("__meta_gantry_node_state"u8, target.State.Name());

            models.Clear();
            joined.Clear();
            var simulated = false;
            foreach (var gpu in target.Gpus)
            {
                simulated |= gpu.Simulated;
                if (models.Add(gpu.Model))
                {
                    joined.Append(joined.Length == 0 ? "" : ",").Append(gpu.Model);
                }
            }

            json.WriteString("__meta_gantry_gpu_models"u8, joined.ToString());
            if (simulated)
            {
                json.WriteString("__meta_gantry_simulated"u8, "true");
            }

            WriteNodeLabels(json, target.Labels, written);
            json.WriteEndObject();
            json.WriteEndObject();
        }

        if (services is not null)
        {
            WriteServices(json, services, targets);
        }

        json.WriteEndArray();
    }

    // ---- services (docs/service-health.md) ----

    /// <summary>
    /// One group per live service with a metrics endpoint, host and port known:
    /// <c>{"targets":["10.0.0.5:8000"],"labels":{"__scheme__":"http","__metrics_path__":"/metrics","__meta_gantry_service_name":"chat","__meta_gantry_service_job_id":"42","__meta_gantry_node_id":"n1"}}</c>.
    /// Agents' groups have no <c>__meta_gantry_service_name</c>: a scrape job keeps or drops on it.
    /// </summary>
    private static void WriteServices(Utf8JsonWriter json, IReadOnlyList<ServiceView> services, IReadOnlyList<NodeScrapeTarget> nodes)
    {
        if (services.Count == 0)
        {
            return;
        }

        var nodeNames = new Dictionary<string, string>(nodes.Count, StringComparer.Ordinal);
        foreach (var node in nodes)
        {
            nodeNames[node.Id] = node.Name;
        }

        foreach (var service in services)
        {
            if (service is not { Host: { } host, Port: { } port, MetricsPath: { } path })
            {
                continue;
            }

            json.WriteStartObject();
            json.WriteStartArray("targets"u8);
            json.WriteStringValue(ServiceDirectory.HostPort(host, port));
            json.WriteEndArray();
            json.WriteStartObject("labels"u8);
            json.WriteString("__scheme__"u8, "http");
            json.WriteString("__metrics_path__"u8, path.StartsWith('/') ? path : "/" + path);
            json.WriteString("__meta_gantry_service_name"u8, service.DisplayName);
            json.WriteString("__meta_gantry_service_job_id"u8, service.JobId.ToString(System.Globalization.CultureInfo.InvariantCulture));
            json.WriteString("__meta_gantry_node_id"u8, service.NodeId);
            if (nodeNames.TryGetValue(service.NodeId, out var nodeName))
            {
                json.WriteString("__meta_gantry_node_name"u8, nodeName);
            }

            json.WriteEndObject();
            json.WriteEndObject();
        }
    }

    /// <summary>
    /// A node label's key as a Prometheus label name after <see cref="LabelPrefix"/>: every character but
    /// ASCII letters, digits and <c>_</c> becomes <c>_</c> (<c>gantry.io/rack</c> → <c>gantry_io_rack</c>).
    /// </summary>
    public static string LabelName(string key)
    {
        ArgumentNullException.ThrowIfNull(key);
        return string.Create(LabelPrefix.Length + key.Length, key, static (span, key) =>
        {
            LabelPrefix.CopyTo(span);
            var rest = span[LabelPrefix.Length..];
            for (var i = 0; i < key.Length; i++)
            {
                rest[i] = char.IsAsciiLetterOrDigit(key[i]) ? key[i] : '_';
            }
        });
    }

    private static void WriteNodeLabels(Utf8JsonWriter json, IReadOnlyDictionary<string, string> labels, HashSet<string> written)
    {
        if (labels.Count == 0)
        {
            return;
        }

        // In key order, so that of two keys that sanitise alike (a.b and a-b) the same one wins every time;
        // the other is left out rather than written twice into one JSON object.
        var keys = new string[labels.Count];
        var i = 0;
        foreach (var key in labels.Keys)
        {
            keys[i++] = key;
        }

        Array.Sort(keys, StringComparer.Ordinal);
        written.Clear();
        foreach (var key in keys)
        {
            var name = LabelName(key);
            if (written.Add(name))
            {
                json.WriteString(name, labels[key]);
            }
        }
    }
}
