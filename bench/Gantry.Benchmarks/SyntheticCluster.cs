using Gantry.Core.Jobs;
using Gantry.Core.Scheduling;

namespace Gantry.Benchmarks;

/// <summary>
/// A reproducible large cluster and queue for the placement benchmark. Nodes: 8 GPUs each, 70% H100
/// with NVSwitch (every GPU linked), 30% A100 linked in pairs; 128 cores, 1 TiB; zero to four GPUs
/// already busy; 1% drained; four zones. Jobs: 70% one GPU, 8% two, 6% four, 4% eight, 12% CPU-only;
/// a tenth of GPU jobs ask for H100, 5% select a zone; priorities 0/50/90; 1% of jobs, anywhere in
/// the queue, have waited past the reservation threshold. With carbon pins, each node's location is
/// its zone and 5% of jobs are pinned to a zone for the next hour.
/// </summary>
internal static class SyntheticCluster
{
    private const long GiB = 1L << 30;
    private const string H100 = "NVIDIA H100 80GB HBM3";
    private const string A100 = "NVIDIA A100-PCIE-40GB";

    public static readonly DateTimeOffset Now = new(2026, 3, 1, 12, 0, 0, TimeSpan.Zero);

    public static SchedulingInput Create(int nodes, int gpusPerNode, int jobs, int seed, bool preferEfficient = false, bool carbonPins = false)
    {
        var random = new Random(seed);

        // Carbon pins: their own stream too, for the same reason.
        var pins = new Random(seed + 2);

        // Measured power per busy GPU (power saving's placement preference): its own stream, so the
        // cluster and queue above stay what they were. 10% unmeasured; the rest 180-320 W, to the tenth.
        var power = new Random(seed + 1);
        var zones = new[] { "z0", "z1", "z2", "z3" };
        var nvSwitch = new int[gpusPerNode][];
        var pairs = new int[gpusPerNode][];
        for (var g = 0; g < gpusPerNode; g++)
        {
            var all = new List<int>();
            for (var p = 0; p < gpusPerNode; p++)
            {
                if (p != g)
                {
                    all.Add(p);
                }
            }

            nvSwitch[g] = [.. all];
            pairs[g] = (g ^ 1) < gpusPerNode ? [g ^ 1] : [];
        }

        var list = new List<SchedulingNode>(nodes);
        for (var i = 0; i < nodes; i++)
        {
            var h100 = random.Next(10) < 7;
            var busy = random.Next(5);
            var gpus = new List<SchedulingGpu>(gpusPerNode);
            for (var g = 0; g < gpusPerNode; g++)
            {
                gpus.Add(new SchedulingGpu(g, h100 ? H100 : A100, (h100 ? 80 : 40) * GiB, g >= busy, h100 ? nvSwitch[g] : pairs[g]));
            }

            list.Add(new SchedulingNode
            {
                Id = $"node-{i:D5}",
                Schedulable = random.Next(100) != 0,
                Labels = new Dictionary<string, string> { ["zone"] = zones[i % zones.Length], ["gpu"] = h100 ? "h100" : "a100" },
                CpuCores = 128,
                FreeCpus = 128 - (busy * 12),
                MemoryBytes = 1024 * GiB,
                FreeMemoryBytes = (1024 - (busy * 96)) * GiB,
                Gpus = gpus,
                WattsPerBusyGpu = power.Next(10) == 0 ? null : 180 + (power.Next(1400) / 10.0),
                Location = zones[i % zones.Length],
            });
        }

        var noSelector = new Dictionary<string, string>();
        var pending = new List<PendingJob>(jobs);
        for (var j = 0; j < jobs; j++)
        {
            var roll = random.Next(100);
            var gpus = roll < 70 ? 1 : roll < 78 ? 2 : roll < 84 ? 4 : roll < 88 ? 8 : 0;
            var request = new ResourceRequest
            {
                Gpus = gpus,
                Cpus = gpus == 0 ? 2 + random.Next(31) : (gpus * 8) + random.Next(5),
                MemoryBytes = gpus == 0 ? random.Next(1, 65) * GiB : gpus * 64 * GiB,
                GpuModel = gpus > 0 && random.Next(10) == 0 ? "H100" : null,
            };
            IReadOnlyDictionary<string, string> selector = random.Next(20) == 0
                ? new Dictionary<string, string> { ["zone"] = zones[random.Next(zones.Length)] }
                : noSelector;
            var priorityRoll = random.Next(100);
            var priority = priorityRoll < 90 ? 0 : priorityRoll < 98 ? 50 : 90;
            var waited = random.Next(100) == 0 ? TimeSpan.FromMinutes(10) : TimeSpan.FromSeconds(random.Next(100));
            var pin = carbonPins && pins.Next(20) == 0 ? new LocationPin(zones[pins.Next(zones.Length)], Now.AddHours(1)) : null;
            pending.Add(new PendingJob(j + 1, priority, j + 1, request, selector, Now - waited, pin));
        }

        return new SchedulingInput(list, pending, Now, new SchedulerPolicy { ReservationAfter = TimeSpan.FromMinutes(2), PreferEfficient = preferEfficient });
    }
}
