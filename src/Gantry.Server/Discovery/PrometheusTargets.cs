using System.Buffers;
using System.Text;
using System.Text.Json;
using Gantry.Core.Nodes;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Server.Nodes;
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
        app.MapGet("/api/v1/prometheus/targets", (NodeRegistry nodes) =>
        {
            var targets = new List<NodeScrapeTarget>();
            nodes.ScrapeTargets(targets);
            var buffer = new ArrayBufferWriter<byte>(64 + (targets.Count * 512));
            Write(buffer, targets);
            // http_sd wants exactly application/json (a charset of utf-8 is allowed).
            return TypedResults.Bytes(buffer.WrittenMemory.ToArray(), "application/json; charset=utf-8");
        }).RequireRole(Role.Viewer);

    /// <summary>
    /// Writes the target groups:
    /// <c>[{"targets":["10.0.0.5:9450"],"labels":{"__scheme__":"http","__metrics_path__":"/metrics","__meta_gantry_node_id":"n1",…}}]</c>.
    /// A node whose agent URL is not an absolute http or https URL is left out (it names no place to scrape).
    /// </summary>
    public static void Write(IBufferWriter<byte> buffer, IReadOnlyList<NodeScrapeTarget> targets)
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

        json.WriteEndArray();
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
