using Gantry.Core.Jobs;
using Gantry.Core.Scheduling;

namespace Gantry.Core.Tests.Scheduling;

/// <summary>Small builders for scheduler inputs: nodes of identical GPUs, jobs, one pass.</summary>
internal static class TestCluster
{
    public const string H100 = "NVIDIA H100 80GB HBM3";
    public const string A100 = "NVIDIA A100-SXM4-40GB";
    public const long GiB = 1L << 30;

    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    private static readonly Dictionary<string, string> NoLabels = [];

    /// <summary>
    /// A node of <paramref name="gpus"/> identical GPUs; <paramref name="busy"/> lists the GPU indexes in use.
    /// <paramref name="links"/> pairs GPUs with NVLink; null links every GPU to every other (NVSwitch).
    /// </summary>
    public static SchedulingNode Node(
        string id,
        int gpus = 8,
        int[]? busy = null,
        int freeCpus = 64,
        int cpuCores = 64,
        long freeMemory = 512 * GiB,
        long memory = 512 * GiB,
        string model = H100,
        long gpuMemory = 80 * GiB,
        (int A, int B)[]? links = null,
        Dictionary<string, string>? labels = null,
        bool schedulable = true,
        string? location = null)
    {
        var list = new List<SchedulingGpu>();
        for (var i = 0; i < gpus; i++)
        {
            var peers = new List<int>();
            for (var j = 0; j < gpus; j++)
            {
                if (j != i && (links is null || Array.Exists(links, l => (l.A == i && l.B == j) || (l.A == j && l.B == i))))
                {
                    peers.Add(j);
                }
            }

            list.Add(new SchedulingGpu(i, model, gpuMemory, busy is null || Array.IndexOf(busy, i) < 0, peers));
        }

        return new SchedulingNode
        {
            Id = id,
            Schedulable = schedulable,
            Labels = labels ?? NoLabels,
            CpuCores = cpuCores,
            FreeCpus = freeCpus,
            MemoryBytes = memory,
            FreeMemoryBytes = freeMemory,
            Gpus = list,
            Location = location,
        };
    }

    public static PendingJob Job(
        long id,
        int gpus = 1,
        int cpus = 1,
        long memory = 0,
        int priority = 0,
        long? sequence = null,
        string? model = null,
        long gpuMemory = 0,
        Dictionary<string, string>? selector = null,
        TimeSpan? waited = null,
        LocationPin? pin = null,
        string? account = null) =>
        new(
            id,
            priority,
            sequence ?? id,
            new ResourceRequest { Gpus = gpus, Cpus = cpus, MemoryBytes = memory, GpuModel = model, GpuMemoryBytes = gpuMemory },
            selector ?? NoLabels,
            Now - (waited ?? TimeSpan.FromSeconds(1)),
            pin,
            account);

    public static SchedulingResult Run(IEnumerable<SchedulingNode> nodes, IEnumerable<PendingJob> jobs, TimeSpan? reservationAfter = null) =>
        Scheduler.Schedule(new SchedulingInput(
            [.. nodes],
            [.. jobs],
            Now,
            new SchedulerPolicy { ReservationAfter = reservationAfter ?? TimeSpan.FromMinutes(2) }));

    public static Placement PlacementOf(this SchedulingResult result, long jobId) =>
        result.Placements.Single(p => p.JobId == jobId);

    public static string ReasonOf(this SchedulingResult result, long jobId) =>
        result.Waiting.Single(w => w.JobId == jobId).Reason;
}
