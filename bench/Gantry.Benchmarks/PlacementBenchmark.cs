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

    /// <summary><c>--placement-prefer-efficient</c>: ties between equally fitting nodes go to the lower measured power per busy GPU.</summary>
    [Params(false, true)]
    public bool PreferEfficient { get; set; }

    /// <summary>Carbon-aware deferral: 5% of jobs pinned to their carbon plan's zone (docs/carbon.md, "Shifting in space").</summary>
    [Params(false, true)]
    public bool CarbonPins { get; set; }

    [GlobalSetup]
    public void Setup() => _input = CreateInput(PreferEfficient, CarbonPins);

    [Benchmark]
    public SchedulingResult Schedule() => Scheduler.Schedule(_input);

    internal static SchedulingInput CreateInput(bool preferEfficient = false, bool carbonPins = false) => SyntheticCluster.Create(Nodes, GpusPerNode, Jobs, Seed, preferEfficient, carbonPins);
}
