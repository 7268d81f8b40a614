using Gantry.Core.Scheduling;

namespace Gantry.Core.Tests.Scheduling;

/// <summary>Many random clusters: invariants that must always hold, and agreement with the slow reference.</summary>
public class SchedulerPropertyTests
{
    private const int Clusters = 300;

    [Fact]
    public void Schedule_RandomClusters_NeverOverbooksAndRespectsFilters()
    {
        var placedTotal = 0;
        var reservedTotal = 0;
        for (var seed = 0; seed < Clusters; seed++)
        {
            var input = RandomClusters.Create(new Random(seed), nodes: 1 + (seed % 40), jobs: seed % 7 * 30);
            var result = Scheduler.Schedule(input);
            CheckInvariants(input, result, seed);
            placedTotal += result.Placements.Count;
            reservedTotal += result.Reservations.Count;
        }

        // The generator must exercise both paths, or the checks above prove little.
        Assert.True(placedTotal > 1000, $"only {placedTotal} placements");
        Assert.True(reservedTotal > 50, $"only {reservedTotal} reservations");
    }

    [Fact]
    public void Schedule_RandomClusters_MatchesReferenceScheduler()
    {
        for (var seed = 0; seed < Clusters; seed++)
        {
            var input = RandomClusters.Create(new Random(1000 + seed), nodes: 1 + (seed % 25), jobs: seed % 5 * 25);
            var result = Scheduler.Schedule(input);
            var (placements, reservations) = ReferenceScheduler.Run(input);

            Assert.Equal(Lines(placements), Lines(result.Placements));
            Assert.Equal(reservations, result.Reservations);
        }
    }

    private static List<string> Lines(IEnumerable<Placement> placements) =>
        [.. placements.Select(p => $"{p.JobId} {p.NodeId} [{string.Join(',', p.Gpus)}] {p.Cpus} {p.MemoryBytes}")];

    private static void CheckInvariants(SchedulingInput input, SchedulingResult result, int seed)
    {
        var jobs = input.Pending.ToDictionary(j => j.Id);
        var nodes = input.Nodes.ToDictionary(n => n.Id);

        // Every job is either placed or waiting, exactly once.
        var seen = result.Placements.Select(p => p.JobId).Concat(result.Waiting.Select(w => w.JobId)).ToList();
        Assert.Equal(jobs.Keys.Order(), seen.Order());
        Assert.All(result.Waiting, w => Assert.False(string.IsNullOrWhiteSpace(w.Reason)));

        var usedGpus = new HashSet<(string, int)>();
        var usedCpus = new Dictionary<string, int>();
        var usedMemory = new Dictionary<string, long>();
        foreach (var p in result.Placements)
        {
            var job = jobs[p.JobId];
            var node = nodes[p.NodeId];
            Assert.True(node.Schedulable, $"seed {seed}: job {p.JobId} on unschedulable {p.NodeId}");
            Assert.All(job.Selector, s => Assert.Equal(s.Value, node.Labels[s.Key]));
            Assert.Equal(job.Resources.Gpus, p.Gpus.Count);
            foreach (var index in p.Gpus)
            {
                var gpu = node.Gpus.Single(g => g.Index == index);
                Assert.True(gpu.Free, $"seed {seed}: job {p.JobId} got busy GPU {p.NodeId}/{index}");
                Assert.True(job.Resources.Accepts(gpu.Model, gpu.MemoryBytes), $"seed {seed}: job {p.JobId} got unsuitable GPU");
                Assert.True(usedGpus.Add((p.NodeId, index)), $"seed {seed}: GPU {p.NodeId}/{index} placed twice");
            }

            usedCpus[p.NodeId] = usedCpus.GetValueOrDefault(p.NodeId) + p.Cpus;
            usedMemory[p.NodeId] = usedMemory.GetValueOrDefault(p.NodeId) + p.MemoryBytes;
            Assert.True(usedCpus[p.NodeId] <= node.FreeCpus, $"seed {seed}: CPUs overbooked on {p.NodeId}");
            Assert.True(usedMemory[p.NodeId] <= node.FreeMemoryBytes, $"seed {seed}: memory overbooked on {p.NodeId}");
        }

        // Reservations: distinct nodes, only for jobs that waited long enough, nothing behind placed there.
        var order = input.Pending.OrderByDescending(j => j.Priority).ThenBy(j => j.Sequence).ThenBy(j => j.Id)
            .Select((j, i) => (j.Id, i)).ToDictionary(x => x.Id, x => x.i);
        Assert.Equal(result.Reservations.Count, result.Reservations.Select(r => r.NodeId).Distinct().Count());
        foreach (var r in result.Reservations)
        {
            Assert.True(input.Now - jobs[r.JobId].QueuedAt >= input.Policy.ReservationAfter);
            Assert.Contains(result.Waiting, w => w.JobId == r.JobId);
            Assert.DoesNotContain(result.Placements, p => p.NodeId == r.NodeId && order[p.JobId] > order[r.JobId]);
        }
    }
}
