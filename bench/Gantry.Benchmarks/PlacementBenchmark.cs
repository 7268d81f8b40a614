using BenchmarkDotNet.Attributes;
using Gantry.Core.Scheduling;

namespace Gantry.Benchmarks;

/// <summary>One scheduling pass over 10,000 nodes of 8 GPUs and 100,000 pending jobs (<see cref="SyntheticCluster"/>).</summary>
[MemoryDiagnoser]
public class PlacementBenchmark
{
    public const int Nodes = 10_000;
    public const int GpusPerNode = 8;
    public const int Jobs = 100_000;
    public const int Seed = 20260301;

    private SchedulingInput _input = null!;

    [GlobalSetup]
    public void Setup() => _input = CreateInput();

    [Benchmark]
    public SchedulingResult Schedule() => Scheduler.Schedule(_input);

    internal static SchedulingInput CreateInput() => SyntheticCluster.Create(Nodes, GpusPerNode, Jobs, Seed);
}
