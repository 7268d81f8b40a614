using BenchmarkDotNet.Attributes;
using Gantry.Core.Scheduling;

namespace Gantry.Benchmarks;

/// <summary>
/// <see cref="PlacementBenchmark"/>'s pass with fair share (docs/fair-share.md): every job belongs to one of
/// <see cref="Accounts"/> people drawn at random (its own random stream, so the cluster and the queue are
/// unchanged), each with a usage, GPUs held and, for a tenth of them, a GPU limit. Jobs of one account are
/// scattered through the queue: the order's lookups find no runs to reuse.
/// </summary>
[MemoryDiagnoser]
public class FairSharePlacementBenchmark
{
    public const int Accounts = 50;
    public const int Seed = 20260304;

    private SchedulingInput _input = null!;

    [GlobalSetup]
    public void Setup() => _input = CreateInput();

    [Benchmark]
    public SchedulingResult Schedule() => Scheduler.Schedule(_input);

    internal static SchedulingInput CreateInput()
    {
        var plain = PlacementBenchmark.CreateInput();
        var random = new Random(Seed);
        var names = new string[Accounts];
        var accounts = new AccountShare[Accounts];
        for (var i = 0; i < Accounts; i++)
        {
            names[i] = "person" + i;
            accounts[i] = new AccountShare(names[i], random.NextDouble() * 500, random.Next(0, 64), random.Next(10) == 0 ? 256 : null);
        }

        var jobs = new PendingJob[plain.Pending.Count];
        for (var j = 0; j < jobs.Length; j++)
        {
            jobs[j] = plain.Pending[j] with { Account = names[random.Next(Accounts)] };
        }

        return plain with { Pending = jobs, Policy = plain.Policy with { FairShare = true }, Accounts = accounts };
    }
}
