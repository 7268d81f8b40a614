using System.Globalization;
using BenchmarkDotNet.Attributes;
using Gantry.Server.Power;

namespace Gantry.Benchmarks;

/// <summary>
/// The fleet power budget's cost per event (docs/power.md, docs/benchmarks.md): a fleet of <see cref="Nodes"/>
/// nodes of 8 GPUs (200-700 W), half of them running jobs on half their GPUs, one job in ten with its own cap,
/// under a budget that caps the busy GPUs. <see cref="FullDivision"/> is what the server did per event before
/// (at most once a second): the fleet's view built GPU by GPU and <see cref="PowerBudget.Divide(double, IReadOnlyList{BudgetGpu}, GpuRange[])"/>
/// over it. The others are what it does now, in <see cref="BudgetLedger"/>: a heartbeat (the node's new
/// measurements tracked, its caps handed out) and a job starting then ending on a GPU (each tracked and handed out).
/// Each call goes to the next node in turn.
/// </summary>
[MemoryDiagnoser]
public class PowerBudgetBenchmark
{
    private const int GpusPerNode = 8;
    private static readonly GpuRange H100 = new(200, 700);

    private readonly List<BudgetGpu> _view = [];
    private readonly Dictionary<int, double> _caps = [];
    private string[] _ids = null!;
    private BudgetGpu[][] _gpus = null!;
    private GpuRange[] _ranges = null!;
    private BudgetLedger _ledger = null!;
    private double _budget;
    private int _next;

    [Params(10_000, 25_000)]
    public int Nodes { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _ids = new string[Nodes];
        _gpus = new BudgetGpu[Nodes][];
        for (var n = 0; n < Nodes; n++)
        {
            var id = _ids[n] = string.Create(CultureInfo.InvariantCulture, $"node-{n:D5}");
            var gpus = _gpus[n] = new BudgetGpu[GpusPerNode];
            for (var i = 0; i < GpusPerNode; i++)
            {
                var busy = n % 2 == 0 && i < GpusPerNode / 2;
                double? jobCap = busy && n % 20 == 0 ? 300 : null;
                gpus[i] = new BudgetGpu(id, i, busy, busy ? 500 + (n % 150) : 60, jobCap);
            }
        }

        _ranges = new GpuRange[Nodes * GpusPerNode];
        Array.Fill(_ranges, H100);

        // 60 % of what the GPUs could draw at their highest: the busy GPUs share about 600 W each, below 700.
        _budget = Nodes * GpusPerNode * 700 * 0.6 * 0.5;
        _ledger = new BudgetLedger(_budget);
        for (var n = 0; n < Nodes; n++)
        {
            for (var i = 0; i < GpusPerNode; i++)
            {
                _ledger.Range(_ids[n], i, H100);
            }

            _ledger.Track(_ids[n], up: true, _gpus[n]);
        }

        for (var round = 0; round < 2; round++)
        {
            foreach (var id in _ids)
            {
                _ledger.HandOut(id, _caps);
            }
        }
    }

    /// <summary>Before: one division of the whole fleet (the view built, then divided).</summary>
    [Benchmark(Baseline = true)]
    public int FullDivision()
    {
        _view.Clear();
        foreach (var gpus in _gpus)
        {
            _view.AddRange(gpus);
        }

        return PowerBudget.Divide(_budget, _view, _ranges).BusyGpus;
    }

    /// <summary>Now: a node heartbeats with new measurements (one idle GPU's draw moved, so the level is found again) and its caps are handed out.</summary>
    [Benchmark]
    public int Heartbeat()
    {
        var n = Next();
        var gpus = _gpus[n];
        var last = gpus[^1];
        gpus[^1] = last with { MeasuredWatts = last.MeasuredWatts == 60 ? 61 : 60 };
        _ledger.Track(_ids[n], up: true, gpus);
        _ledger.HandOut(_ids[n], _caps);
        return _caps.Count;
    }

    /// <summary>Now: a job takes a node's last GPU, the node is answered, the job ends, the node is answered (two events).</summary>
    [Benchmark]
    public int JobStartThenEnd()
    {
        var n = Next();
        var gpus = _gpus[n];
        var last = gpus[^1];
        gpus[^1] = last with { Busy = true };
        _ledger.Track(_ids[n], up: true, gpus);
        _ledger.HandOut(_ids[n], _caps);
        gpus[^1] = last;
        _ledger.Track(_ids[n], up: true, gpus);
        _ledger.HandOut(_ids[n], _caps);
        return _caps.Count;
    }

    private int Next()
    {
        var n = _next;
        _next = _next + 1 == _ids.Length ? 0 : _next + 1;
        return n;
    }
}
