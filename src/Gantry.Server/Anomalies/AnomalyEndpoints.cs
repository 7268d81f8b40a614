using System.Globalization;
using Gantry.Core.Anomalies;
using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Anomalies;

/// <summary>
/// <c>GET /api/v1/anomalies?node=ID&amp;min=0.5&amp;limit=100</c> (admin token): the current anomaly scores,
/// highest first. <c>node</c> narrows them to one node (404 when the server does not know it); <c>min</c>
/// (0 to 1, default <see cref="AnomalyDetector.AlarmScore"/>) leaves out lower scores, <c>min=0</c> lists
/// every scored series; <c>limit</c> (1 to 1000, default 100) caps the list (<c>total</c> counts them all).
/// </summary>
internal static class AnomalyEndpoints
{
    public static void MapAnomalyEndpoints(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/anomalies", (HttpContext http, AnomalyRegistry anomalies, NodeRegistry nodes) =>
        {
            var query = http.Request.Query;
            string? nodeId = null;
            if (query["node"].ToString() is { Length: > 0 } node)
            {
                if (!Validation.IsNodeId(node))
                {
                    return Problems.Invalid("node", $"must be a node id (1 to 64 lowercase letters, digits or '-'), got '{node}'");
                }

                nodeId = node;
            }

            var min = AnomalyDetector.AlarmScore;
            if (query["min"].ToString() is { Length: > 0 } minText
                && (!double.TryParse(minText, NumberStyles.Float, CultureInfo.InvariantCulture, out min) || !(min >= 0 && min <= 1)))
            {
                return Problems.Invalid("min", $"must be a number from 0 to 1, got '{minText}'");
            }

            if (!Query.TryLimit(http.Request, out var limit, out var limitError))
            {
                return limitError!;
            }

            if (nodeId is not null && nodes.NodeName(nodeId) is null)
            {
                return Problems.NotFound($"node {nodeId} is not known to this server");
            }

            var scores = anomalies.Scores(nodeId, min);
            var items = new List<AnomalyInfo>(Math.Min(limit, scores.Count));
            var names = new Dictionary<string, string?>(StringComparer.Ordinal);
            foreach (var score in scores)
            {
                if (items.Count == limit)
                {
                    break;
                }

                if (!names.TryGetValue(score.NodeId, out var name))
                {
                    name = nodes.NodeName(score.NodeId);
                    names[score.NodeId] = name;
                }

                items.Add(new AnomalyInfo
                {
                    NodeId = score.NodeId,
                    NodeName = name ?? score.NodeId,
                    Gpu = score.Gpu,
                    Metric = score.Metric,
                    Score = score.Score,
                    Minute = score.Minute,
                    Term = score.Term,
                });
            }

            return TypedResults.Json(new AnomaliesResponse { Anomalies = items, Total = scores.Count }, GantryJson.Default.AnomaliesResponse);
        }).RequireRole(Role.Viewer);
}
