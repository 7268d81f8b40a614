using Gantry.Core.Protocol;
using Gantry.Server.Api;
using Gantry.Server.Auth;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Gantry.Server.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Energy;

/// <summary>
/// <c>GET /api/v1/reports/energy?since=7d&amp;by=node|label:KEY|name</c>: the attempts that ran in the
/// period (ended since then, or still running; each with its whole energy and run time) summed per
/// group. Read from the store, after the running attempts' live figures were written to it.
/// </summary>
internal static class EnergyReports
{
    /// <summary>The group of attempts with no name, or on a node without the label.</summary>
    public const string None = "(none)";

    public static void MapEnergyEndpoints(this IEndpointRouteBuilder app)
    {
        app.MapGet("/api/v1/reports/energy", (HttpContext http, IStateStore store, JobQueue jobs, NodeRegistry nodes, TimeProvider time) =>
        {
            var sinceText = http.Request.Query["since"].ToString() is { Length: > 0 } s ? s : "7d";
            if (!EnergyReportQuery.TryParseSince(sinceText, out var since, out var error))
            {
                return Problems.Invalid("since", error!);
            }

            var byText = http.Request.Query["by"].ToString() is { Length: > 0 } b ? b : "node";
            if (!EnergyReportQuery.TryParseBy(byText, out var by, out var labelKey, out error))
            {
                return Problems.Invalid("by", error!);
            }

            jobs.FlushEnergy();
            var until = time.GetUtcNow();
            var from = until - since;
            var report = Build(store.ReadEnergyAttempts(from), by, labelKey, nodes.LabelsOf, from, until);
            return TypedResults.Json(report, GantryJson.Default.EnergyReport);
        }).RequireRole(Role.Viewer);
    }

    /// <summary>Sums the attempts per group, most energy first (then by name).</summary>
    public static EnergyReport Build(
        IReadOnlyList<EnergyAttempt> attempts,
        string by,
        string? labelKey,
        Func<string, IReadOnlyDictionary<string, string>?> labelsOf,
        DateTimeOffset since,
        DateTimeOffset until)
    {
        ArgumentNullException.ThrowIfNull(attempts);
        ArgumentNullException.ThrowIfNull(labelsOf);
        var groups = new Dictionary<string, Sum>(StringComparer.Ordinal);
        var total = new Sum();
        foreach (var attempt in attempts)
        {
            var key = by switch
            {
                "node" => attempt.NodeId,
                "name" => attempt.JobName is { Length: > 0 } name ? name : None,
                _ => labelsOf(attempt.NodeId) is { } labels && labels.TryGetValue(labelKey!, out var value) ? value : None,
            };
            if (!groups.TryGetValue(key, out var sum))
            {
                groups[key] = sum = new Sum();
            }

            var gpuHours = attempt.Gpus * Math.Max(0, ((attempt.EndedAt ?? until) - attempt.StartedAt).TotalHours);
            sum.Add(attempt, gpuHours);
            total.Add(attempt, gpuHours);
        }

        var rows = new List<EnergyReportRow>(groups.Count);
        foreach (var (key, sum) in groups)
        {
            rows.Add(sum.Row(key));
        }

        rows.Sort(static (a, b) => b.EnergyJoules != a.EnergyJoules ? b.EnergyJoules.CompareTo(a.EnergyJoules) : string.CompareOrdinal(a.Group, b.Group));
        return new EnergyReport { Since = since, Until = until, By = by, Groups = rows, Total = total.Row("total") };
    }

    private sealed class Sum
    {
        private readonly HashSet<long> _jobs = [];
        private double _gpu;
        private double _cpu;
        private double? _co2;
        private double _gpuHours;
        private int _attempts;
        private bool _estimated;
        private bool _simulated;

        public void Add(EnergyAttempt attempt, double gpuHours)
        {
            _jobs.Add(attempt.JobId);
            _attempts++;
            _gpuHours += gpuHours;
            if (attempt.Energy is { } e)
            {
                _gpu += e.GpuJoules;
                _cpu += e.CpuJoules ?? 0;
                _co2 = e.Co2Grams is { } grams ? (_co2 ?? 0) + grams : _co2;
                _estimated |= e.Estimated;
                _simulated |= e.Simulated;
            }
        }

        public EnergyReportRow Row(string group) => new()
        {
            Group = group,
            EnergyJoules = _gpu + _cpu,
            GpuEnergyJoules = _gpu,
            CpuEnergyJoules = _cpu,
            Co2Grams = _co2,
            GpuHours = _gpuHours,
            Jobs = _jobs.Count,
            Attempts = _attempts,
            Estimated = _estimated,
            Simulated = _simulated,
        };
    }
}
