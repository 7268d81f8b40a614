using System.Buffers;
using System.Text.Json;
using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Auth;
using Gantry.Server.Jobs;
using Gantry.Server.Nodes;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Gantry.Server.Live;

/// <summary>
/// <c>GET /api/v1/cluster/events</c>: Server-Sent Events for live views (<c>gantry top</c>). One
/// <c>event: cluster</c> with a <see cref="ClusterSnapshot"/> at once, then one a second while the
/// client stays connected. Every event carries the whole picture, so a client that reconnects needs no
/// replay and no <c>Last-Event-ID</c>.
/// </summary>
internal static class ClusterEvents
{
    /// <summary>How often a connected client gets a fresh snapshot.</summary>
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(1);

    public static void MapClusterEvents(this IEndpointRouteBuilder app) =>
        app.MapGet("/api/v1/cluster/events", (HttpContext http, NodeRegistry nodes, JobQueue jobs, TimeProvider time, CancellationToken ct) => StreamAsync(http, nodes, jobs, time, ct)).RequireRole(Role.Viewer);

    /// <summary>The fleet now: nodes, counts, and the newest live and pending jobs.</summary>
    public static ClusterSnapshot Snapshot(NodeRegistry nodes, JobQueue jobs, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(nodes);
        ArgumentNullException.ThrowIfNull(jobs);
        var counts = nodes.Counts();
        var jobCounts = new Dictionary<JobState, int>();
        foreach (var (state, count) in jobs.Counts())
        {
            jobCounts[state] = (int)Math.Min(count, int.MaxValue);
        }

        var running = jobs.ListJobs(JobState.Running, before: null, ClusterSnapshot.JobListLimit).Items;
        var assigned = jobs.ListJobs(JobState.Assigned, before: null, ClusterSnapshot.JobListLimit).Items;
        var pending = jobs.ListJobs(JobState.Pending, before: null, ClusterSnapshot.JobListLimit).Items;
        return new ClusterSnapshot
        {
            At = now,
            Nodes = nodes.ListNodes(state: null, cursor: null, limit: int.MaxValue).Items,
            NodeCounts = counts.Nodes,
            JobCounts = jobCounts,
            Gpus = counts.Gpus,
            BusyGpus = counts.BusyGpus,
            Running = MergeNewestFirst(running, assigned, ClusterSnapshot.JobListLimit),
            Pending = ToClusterJobs(pending),
        };
    }

    private static async Task StreamAsync(HttpContext http, NodeRegistry nodes, JobQueue jobs, TimeProvider time, CancellationToken ct)
    {
        var response = http.Response;
        response.ContentType = "text/event-stream";
        response.Headers.CacheControl = "no-cache";
        // Proxies (nginx) would otherwise hold the events back.
        response.Headers["X-Accel-Buffering"] = "no";
        using var writer = new Utf8JsonWriter(response.BodyWriter);
        using var timer = new PeriodicTimer(Period, time);
        try
        {
            do
            {
                // event: cluster
                // data: {"at":"…","nodes":[…],…}
                response.BodyWriter.Write("event: cluster\ndata: "u8);
                JsonSerializer.Serialize(writer, Snapshot(nodes, jobs, time.GetUtcNow()), GantryJson.Default.ClusterSnapshot);
                writer.Flush();
                writer.Reset();
                response.BodyWriter.Write("\n\n"u8);
                await response.BodyWriter.FlushAsync(ct).ConfigureAwait(false);
            }
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false));
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // The client went away.
        }
    }

    private static List<ClusterJob> MergeNewestFirst(IReadOnlyList<JobInfo> a, IReadOnlyList<JobInfo> b, int limit)
    {
        var merged = new List<ClusterJob>(Math.Min(limit, a.Count + b.Count));
        int i = 0, j = 0;
        while (merged.Count < limit && (i < a.Count || j < b.Count))
        {
            var takeA = j >= b.Count || (i < a.Count && a[i].Id > b[j].Id);
            merged.Add(ToClusterJob(takeA ? a[i++] : b[j++]));
        }

        return merged;
    }

    private static ClusterJob[] ToClusterJobs(IReadOnlyList<JobInfo> jobs)
    {
        var result = new ClusterJob[jobs.Count];
        for (var i = 0; i < result.Length; i++)
        {
            result[i] = ToClusterJob(jobs[i]);
        }

        return result;
    }

    private static ClusterJob ToClusterJob(JobInfo job) => new()
    {
        Id = job.Id,
        Name = job.Name,
        State = job.State,
        Reason = job.Reason,
        Command = job.Command,
        GpusRequested = job.Resources.Gpus,
        Priority = job.Priority,
        SubmittedAt = job.SubmittedAt,
        StartedAt = job.StartedAt,
        NodeId = job.NodeId,
        Gpus = job.Gpus,
    };
}
