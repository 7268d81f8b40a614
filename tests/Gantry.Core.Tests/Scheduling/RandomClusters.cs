using Gantry.Core.Jobs;
using Gantry.Core.Scheduling;

namespace Gantry.Core.Tests.Scheduling;

/// <summary>Random but reproducible clusters and queues: mixed GPU models, NVLink shapes, labels, busy GPUs, selectors, starving jobs.</summary>
internal static class RandomClusters
{
    private static readonly (string Model, long Memory)[] Gpus =
    [
        (TestCluster.H100, 80 * TestCluster.GiB),
        (TestCluster.A100, 40 * TestCluster.GiB),
        ("Tesla T4", 16 * TestCluster.GiB),
    ];

    private static readonly string[] Zones = ["a", "b", "c"];
    private static readonly int[] GpuCounts = [0, 1, 1, 1, 1, 1, 2, 2, 4, 4, 8, 8, 16];
    private static readonly string?[] Models = ["H100", "a100", "T4", "B200"];
    private static readonly int[] Priorities = [0, 0, 0, 10, 90];

    public static SchedulingInput Create(Random random, int nodes, int jobs)
    {
        var list = new List<SchedulingNode>();
        var ids = new HashSet<string>();
        while (list.Count < nodes)
        {
            var id = $"n-{random.Next(1000):D3}";
            if (ids.Add(id))
            {
                list.Add(CreateNode(random, id));
            }
        }

        // Some jobs share one selector instance, others carry an equal copy.
        var shared = new Dictionary<string, string> { ["zone"] = "a" };
        var pending = new List<PendingJob>();
        for (var i = 0; i < jobs; i++)
        {
            pending.Add(CreateJob(random, i + 1, shared));
        }

        return new SchedulingInput(list, pending, TestCluster.Now, new SchedulerPolicy { ReservationAfter = TimeSpan.FromMinutes(2) });
    }

    private static SchedulingNode CreateNode(Random random, string id)
    {
        var gpuCount = random.Next(10) switch
        {
            0 => 0,
            1 => 4,
            2 => 2,
            _ => 8,
        };
        var mixed = random.Next(6) == 0;
        var type = Gpus[random.Next(Gpus.Length)];
        var linkShape = random.Next(4);
        var freeShare = random.NextDouble();
        var gpus = new List<SchedulingGpu>();
        for (var g = 0; g < gpuCount; g++)
        {
            var (model, memory) = mixed ? Gpus[random.Next(Gpus.Length)] : type;
            var peers = new List<int>();
            for (var p = 0; p < gpuCount; p++)
            {
                var linked = linkShape switch
                {
                    0 => true,                      // NVSwitch: everything linked
                    1 => p / 2 == g / 2,            // pairs
                    2 => Math.Abs(p - g) == 1,      // a chain
                    _ => false,                     // PCIe only
                };
                if (p != g && linked)
                {
                    peers.Add(p);
                }
            }

            gpus.Add(new SchedulingGpu(g, model, memory, random.NextDouble() < freeShare, peers));
        }

        var cores = random.Next(1, 9) * 16;
        var memoryBytes = random.Next(1, 9) * 128 * TestCluster.GiB;
        var labels = new Dictionary<string, string> { ["zone"] = Zones[random.Next(Zones.Length)] };
        if (random.Next(3) == 0)
        {
            labels["tier"] = "fast";
        }

        return new SchedulingNode
        {
            Id = id,
            Schedulable = random.Next(8) != 0,
            Labels = labels,
            CpuCores = cores,
            FreeCpus = random.Next(cores + 1),
            MemoryBytes = memoryBytes,
            FreeMemoryBytes = (long)(memoryBytes * random.NextDouble()),
            Gpus = gpus,
        };
    }

    private static PendingJob CreateJob(Random random, long id, Dictionary<string, string> shared)
    {
        var request = new ResourceRequest
        {
            Gpus = GpuCounts[random.Next(GpuCounts.Length)],
            Cpus = random.Next(0, 33),
            MemoryBytes = random.Next(2) == 0 ? 0 : random.Next(1, 300) * TestCluster.GiB,
            GpuModel = random.Next(6) == 0 ? Models[random.Next(Models.Length)] : null,
            GpuMemoryBytes = random.Next(8) == 0 ? 40 * TestCluster.GiB : 0,
        };
        IReadOnlyDictionary<string, string> selector = random.Next(10) switch
        {
            0 => shared,
            1 => new Dictionary<string, string> { ["zone"] = "a" },
            2 => new Dictionary<string, string> { ["zone"] = Zones[random.Next(Zones.Length)], ["tier"] = "fast" },
            3 => new Dictionary<string, string> { ["zone"] = "d" },
            _ => new Dictionary<string, string>(),
        };
        var waited = TimeSpan.FromSeconds(random.Next(random.Next(5) == 0 ? 600 : 100));
        return new PendingJob(id, Priorities[random.Next(Priorities.Length)], random.Next(100_000), request, selector, TestCluster.Now - waited);
    }
}
