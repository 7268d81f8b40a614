using System.Numerics;
using Gantry.Core.Scheduling;

namespace Gantry.Core.Tests.Scheduling;

/// <summary>
/// The scheduling rules written the slow, obvious way (every job looks at every node) to check the
/// indexed scheduler against. It shares only <see cref="GpuSets.Choose"/>, which has its own tests.
/// Assumes GPU indexes equal list positions, as <see cref="RandomClusters"/> makes them.
/// </summary>
internal static class ReferenceScheduler
{
    public static (List<Placement> Placements, List<Reservation> Reservations) Run(SchedulingInput input)
    {
        var nodes = input.Nodes.Where(n => n.Schedulable).ToList();
        var freeGpus = nodes.ToDictionary(n => n, n => n.Gpus.Where(g => g.Free).Aggregate(0UL, (m, g) => m | (1UL << g.Index)));
        var freeCpus = nodes.ToDictionary(n => n, n => n.FreeCpus);
        var freeMemory = nodes.ToDictionary(n => n, n => n.FreeMemoryBytes);
        var reserved = new HashSet<SchedulingNode>();
        var placements = new List<Placement>();
        var reservations = new List<Reservation>();

        foreach (var job in input.Pending.OrderByDescending(j => j.Priority).ThenBy(j => j.Sequence).ThenBy(j => j.Id))
        {
            var r = job.Resources;
            ulong Accepted(SchedulingNode n) => n.Gpus
                .Where(g => r.Gpus == 0 || r.Accepts(g.Model, g.MemoryBytes))
                .Aggregate(0UL, (m, g) => m | (1UL << g.Index));
            bool Matches(SchedulingNode n) => job.Selector.All(s => n.Labels.TryGetValue(s.Key, out var v) && v == s.Value);

            var best = nodes
                .Where(n => !reserved.Contains(n) && Matches(n) && freeCpus[n] >= r.Cpus && freeMemory[n] >= r.MemoryBytes
                    && BitOperations.PopCount(freeGpus[n] & Accepted(n)) >= r.Gpus)
                .OrderBy(n => BitOperations.PopCount(freeGpus[n] & Accepted(n)) - r.Gpus)
                .ThenBy(n => freeCpus[n])
                .ThenBy(n => n.Id, StringComparer.Ordinal)
                .FirstOrDefault();
            if (best is not null)
            {
                var links = best.Gpus.Select(g => g.NvLinkPeers.Aggregate(0UL, (m, p) => m | (1UL << p))).ToArray();
                var chosen = GpuSets.Choose(freeGpus[best] & Accepted(best), r.Gpus, links);
                freeGpus[best] &= ~chosen;
                freeCpus[best] -= r.Cpus;
                freeMemory[best] -= r.MemoryBytes;
                var indexes = Enumerable.Range(0, 64).Where(i => (chosen & (1UL << i)) != 0).ToArray();
                placements.Add(new Placement(job.Id, best.Id, indexes, r.Cpus, r.MemoryBytes));
                continue;
            }

            if (input.Now - job.QueuedAt < input.Policy.ReservationAfter)
            {
                continue;
            }

            var held = nodes
                .Where(n => !reserved.Contains(n) && Matches(n)
                    && BitOperations.PopCount(Accepted(n)) >= r.Gpus && n.CpuCores >= r.Cpus && n.MemoryBytes >= r.MemoryBytes)
                .OrderByDescending(n => BitOperations.PopCount(freeGpus[n] & Accepted(n)))
                .ThenByDescending(n => freeCpus[n])
                .ThenBy(n => n.Id, StringComparer.Ordinal)
                .FirstOrDefault();
            if (held is not null)
            {
                reserved.Add(held);
                reservations.Add(new Reservation(job.Id, held.Id));
            }
        }

        return (placements, reservations);
    }
}
