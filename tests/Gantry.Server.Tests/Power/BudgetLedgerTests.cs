using Gantry.Server.Power;

namespace Gantry.Server.Tests.Power;

/// <summary>
/// The fleet budget kept incrementally (docs/power.md): the ledger's caps against the full division
/// (<see cref="PowerBudget.Divide(double, IReadOnlyList{BudgetGpu}, GpuRange[])"/>, the reference) on
/// random fleets, what it hands out as jobs start and end and nodes heartbeat, and the breakpoints it finds
/// the level from.
/// </summary>
public sealed class BudgetLedgerTests
{
    private static readonly GpuRange H100 = new(200, 700);

    [Fact]
    public void HandOut_RandomFleets_MatchesTheFullDivision()
    {
        for (var seed = 1; seed <= 300; seed++)
        {
            var (random, fleet, ledger) = TestFleet.Start(seed);
            var caps = fleet.HeartbeatAll(ledger, random, rounds: 2);

            var expected = fleet.Reference(ledger.BudgetWatts);
            var figures = ledger.Figures();
            Assert.Equal((expected.Gpus, expected.BusyGpus, expected.Insufficient), (figures.Gpus, figures.BusyGpus, figures.Insufficient));
            Assert.Equal(expected.MeasuredWatts, figures.MeasuredWatts, 0.001);
            Assert.Equal(expected.AllocatedWatts, figures.AllocatedWatts, 0.01);
            fleet.AssertSameCaps(expected, caps, $"seed {seed}");
        }
    }

    [Fact]
    public void HandOut_RandomEvents_NeverRaisesOverTheBudget_AndSettlesOnTheFullDivision()
    {
        for (var seed = 1; seed <= 150; seed++)
        {
            var (random, fleet, ledger) = TestFleet.Start(seed);
            var budget = ledger.BudgetWatts;
            fleet.HeartbeatAll(ledger, random, rounds: 2);
            var caps = new Dictionary<int, double>();
            for (var step = 0; step < 200; step++)
            {
                var node = fleet.Nodes[random.Next(fleet.Nodes.Count)];
                var before = ledger.HandedOutWatts;
                var kind = random.Next(5);
                var started = 0.0;
                switch (kind)
                {
                    case 0: // A job starts on an idle GPU: it counts for at least its lowest limit from now on.
                        if (node.Gpus.FirstOrDefault(g => !g.Busy) is { } idle)
                        {
                            idle.Busy = true;
                            idle.JobCap = random.Next(3) == 0 ? TestFleet.JobCaps[random.Next(TestFleet.JobCaps.Length)] : null;
                            started = idle.Range.MinWatts ?? 0;
                        }

                        break;
                    case 1: // A job ends: the GPU keeps its grant until its node heartbeats.
                        if (node.Gpus.FirstOrDefault(g => g.Busy) is { } busy)
                        {
                            busy.Busy = false;
                            busy.JobCap = null;
                        }

                        break;
                    case 2: // New measurements.
                        foreach (var gpu in node.Gpus)
                        {
                            gpu.Measured = TestFleet.RandomMeasured(random);
                        }

                        break;
                    case 3: // Down or back up.
                        node.Up = !node.Up;
                        break;
                    default:
                        break;
                }

                TestFleet.Track(ledger, node);
                var tracked = ledger.HandedOutWatts;
                if (kind is 1 or 2 || (kind == 3 && !node.Up))
                {
                    Assert.True(tracked <= before + 1e-6, $"seed {seed} step {step}: event {kind} raised the handed-out total {before} -> {tracked}");
                }
                else if (kind == 0)
                {
                    Assert.True(tracked <= before + started + 1e-6, $"seed {seed} step {step}: a start added more than its lowest limit");
                }

                // A heartbeat answer never takes the total over the budget, nor raises it when it is over.
                var heartbeat = fleet.Nodes[random.Next(fleet.Nodes.Count)];
                ledger.HandOut(heartbeat.Id, caps);
                var after = ledger.HandedOutWatts;
                Assert.True(after <= Math.Max(tracked, budget) + 1e-6, $"seed {seed} step {step}: a heartbeat took {tracked} to {after} over {budget}");
            }

            // Quiet again: two rounds of heartbeats bring every GPU to what the full division gives it.
            var settled = fleet.HeartbeatAll(ledger, random, rounds: 2);
            var expected = fleet.Reference(budget);
            if (expected.Insufficient)
            {
                // Nothing is raised while the busy GPUs' lowest limits are not covered: each busy GPU at its lowest.
                Assert.True(ledger.Figures().Insufficient);
                fleet.AssertBusyAtLowest(settled, $"seed {seed}");
                continue;
            }

            Assert.True(ledger.HandedOutWatts <= budget + 1e-6, $"seed {seed}: {ledger.HandedOutWatts} W handed out of {budget} W");
            fleet.AssertSameCaps(expected, settled, $"seed {seed}");
        }
    }

    [Fact]
    public void HandOut_JobStartsAndEnds_LowersAtOnceRaisesOnlyOutOfWhatIsFree()
    {
        // a: two busy GPUs; b: one busy, one idle drawing 100 W (reserve 110 W). The busy share (1400 - 110) / 3 = 430 W.
        var ledger = new BudgetLedger(1400);
        foreach (var node in new[] { "a", "b" })
        {
            ledger.Range(node, 0, H100);
            ledger.Range(node, 1, H100);
        }

        ledger.Track("a", up: true, [new("a", 0, true, 420, null), new("a", 1, true, 420, null)]);
        ledger.Track("b", up: true, [new("b", 0, true, 420, null), new("b", 1, false, 100, null)]);
        Assert.Equal(new Dictionary<int, double> { [0] = 430, [1] = 430 }, HandOut(ledger, "a"));
        Assert.Equal(new Dictionary<int, double> { [0] = 430, [1] = 200 }, HandOut(ledger, "b"));
        Assert.Equal(1400, ledger.HandedOutWatts, 1e-6);

        // A job takes b's idle GPU: it runs at no less than its lowest limit, 200 W, at once (90 W over), and
        // the share drops to 350 W. b is answered first: its busy GPU comes down, the new one waits for room.
        ledger.Track("b", up: true, [new("b", 0, true, 420, null), new("b", 1, true, 100, null)]);
        Assert.Equal(1490, ledger.HandedOutWatts, 1e-6);
        Assert.Equal(350, ledger.Figures().LevelWatts, 1e-9);
        Assert.Equal(new Dictionary<int, double> { [0] = 350, [1] = 200 }, HandOut(ledger, "b"));
        Assert.Equal(1410, ledger.HandedOutWatts, 1e-6);

        // a still runs at 430 W until it is answered; then it comes down and the room it leaves goes to b.
        Assert.Equal(new Dictionary<int, double> { [0] = 350, [1] = 350 }, HandOut(ledger, "a"));
        Assert.Equal(1250, ledger.HandedOutWatts, 1e-6);
        Assert.Equal(new Dictionary<int, double> { [0] = 350, [1] = 350 }, HandOut(ledger, "b"));
        Assert.Equal(1400, ledger.HandedOutWatts, 1e-6);

        // a's GPU 0 finishes: it keeps its 350 W until a heartbeats (drawing 50 W now, a reserve of 55 W).
        ledger.Track("a", up: true, [new("a", 0, false, 340, null), new("a", 1, true, 340, null)]);
        Assert.Equal(1400, ledger.HandedOutWatts, 1e-6);
        ledger.Track("a", up: true, [new("a", 0, false, 50, null), new("a", 1, true, 340, null)]);
        Assert.Equal(new Dictionary<int, double> { [0] = 200, [1] = 448 }, HandOut(ledger, "a"));
        Assert.Equal(new Dictionary<int, double> { [0] = 448, [1] = 448 }, HandOut(ledger, "b"));
        Assert.Equal(1400, ledger.HandedOutWatts, 0.001);
        Assert.Equal((4, 3, false), (ledger.Figures().Gpus, ledger.Figures().BusyGpus, ledger.Figures().Insufficient));

        // b goes down: its GPUs leave the budget, and a's busy GPU may take what they held.
        ledger.Track("b", up: false, [new("b", 0, true, 420, null), new("b", 1, true, 100, null)]);
        Assert.Equal(55 + (1345 / 3.0), ledger.HandedOutWatts, 0.001);
        Assert.Equal(new Dictionary<int, double> { [0] = 200 }, HandOut(ledger, "a"));
        Assert.Equal((2, 1), (ledger.Figures().Gpus, ledger.Figures().BusyGpus));
        Assert.Empty(HandOut(ledger, "b"));
    }

    [Fact]
    public void HandOut_JobCapBelowTheShare_LeftOverGoesToTheOthers()
    {
        var ledger = new BudgetLedger(1150);
        ledger.Range("a", 0, H100);
        ledger.Range("b", 0, H100);
        ledger.Range("b", 1, H100);
        ledger.Track("a", up: true, [new("a", 0, true, 300, 250)]);
        ledger.Track("b", up: true, [new("b", 0, true, 300, null), new("b", 1, true, 300, null)]);

        Assert.Equal(new Dictionary<int, double> { [0] = 250 }, HandOut(ledger, "a"));
        Assert.Equal(new Dictionary<int, double> { [0] = 450, [1] = 450 }, HandOut(ledger, "b"));
    }

    [Fact]
    public void HandOut_BudgetBelowTheBusyMinimum_EachAtItsLowestAndSaysSo()
    {
        var ledger = OneNode(300, new("n", 0, true, 600, null), new("n", 1, true, 600, null));

        Assert.Equal(new Dictionary<int, double> { [0] = 200, [1] = 200 }, HandOut(ledger, "n"));
        Assert.True(ledger.Figures().Insufficient);
    }

    [Fact]
    public void HandOut_AmpleBudget_ShareAtTheHighestLimitNeedsNoCap()
    {
        var ledger = OneNode(5000, new("n", 0, true, 650, null), new("n", 1, false, 100, null));

        Assert.Equal(new Dictionary<int, double> { [1] = 200 }, HandOut(ledger, "n"));
        Assert.True(double.IsPositiveInfinity(ledger.Figures().LevelWatts));
        Assert.Equal(700 + 110, ledger.HandedOutWatts, 1e-6);
    }

    [Fact]
    public void Level_RandomBreakpoints_UsesWhatIsLeft()
    {
        var random = new Random(11);
        var shares = new ShareBreakpoints();
        var held = new List<(double Low, double High)>();
        double[] lows = [0, 60, 100, 150.5, 200, 200];
        double[] highs = [120, 250, 300, 400, 700, double.PositiveInfinity];
        for (var step = 0; step < 3000; step++)
        {
            if (held.Count > 0 && random.Next(3) == 0)
            {
                var at = random.Next(held.Count);
                shares.Remove(held[at].Low, held[at].High);
                held.RemoveAt(at);
            }
            else
            {
                var low = lows[random.Next(lows.Length)];
                var bounds = (low, Math.Max(low, highs[random.Next(highs.Length)]));
                shares.Add(bounds.low, bounds.Item2);
                held.Add(bounds);
            }

            Assert.Equal(held.Count, shares.Count);
            Assert.Equal(held.Sum(h => h.Low), shares.LowSum, 1e-6);
            if (held.Count == 0)
            {
                continue;
            }

            double Used(double level) => held.Sum(h => Math.Clamp(level, h.Low, h.High));
            var left = shares.LowSum + (random.NextDouble() * 400 * held.Count);
            var found = shares.Level(left);
            if (double.IsPositiveInfinity(found))
            {
                Assert.True(held.All(h => !double.IsPositiveInfinity(h.High)) && Used(double.MaxValue) <= left + 1e-6, $"step {step}: +inf while the GPUs could use more than {left}");
            }
            else
            {
                Assert.Equal(left, Used(found), 1e-6 * left);
            }
        }

        Assert.Throws<InvalidOperationException>(() => shares.Remove(12_345, 23_456));
        Assert.True(shares.Distinct <= lows.Length + highs.Length);
    }

    /// <summary>A ledger of one node "n" whose GPUs accept 200-700 W.</summary>
    private static BudgetLedger OneNode(double budget, params BudgetGpu[] gpus)
    {
        var ledger = new BudgetLedger(budget);
        foreach (var gpu in gpus)
        {
            ledger.Range("n", gpu.Index, H100);
        }

        ledger.Track("n", up: true, gpus);
        return ledger;
    }

    private static Dictionary<int, double> HandOut(BudgetLedger ledger, string nodeId)
    {
        var caps = new Dictionary<int, double>();
        ledger.HandOut(nodeId, caps);
        return caps;
    }

    /// <summary>A fleet to drive the ledger and the reference division with the same GPUs.</summary>
    private sealed class TestFleet
    {
        public static readonly double[] JobCaps = [120, 250, 333.3, 500, 800];

        private static readonly GpuRange[] Ranges = [new(200, 700), new(100, 400), new(150, 300.5), new(null, null), new(60, 250)];

        public List<TestNode> Nodes { get; } = [];

        public static TestFleet Random(Random random)
        {
            var fleet = new TestFleet();
            var nodes = random.Next(1, 16);
            for (var n = 0; n < nodes; n++)
            {
                var node = new TestNode($"n{n}") { Up = random.Next(8) != 0 };
                var gpus = random.Next(1, 9);
                for (var i = 0; i < gpus; i++)
                {
                    node.Gpus.Add(new TestGpu(i)
                    {
                        Range = Ranges[random.Next(Ranges.Length)],
                        Busy = random.Next(2) == 0,
                        Measured = RandomMeasured(random),
                    });
                    if (node.Gpus[i].Busy && random.Next(4) == 0)
                    {
                        node.Gpus[i].JobCap = JobCaps[random.Next(JobCaps.Length)];
                    }
                }

                fleet.Nodes.Add(node);
            }

            return fleet;
        }

        /// <summary>
        /// A random fleet and a ledger of a random budget over it: ranges first (as nodes that reported
        /// before), then the registry's view, so every GPU joins at its floor.
        /// </summary>
        public static (Random Random, TestFleet Fleet, BudgetLedger Ledger) Start(int seed)
        {
            var random = new Random(seed);
            var fleet = Random(random);
            var ledger = new BudgetLedger(fleet.RandomBudget(random));
            fleet.ReportRanges(ledger);
            fleet.TrackAll(ledger);
            return (random, fleet, ledger);
        }

        public static double? RandomMeasured(Random random) => random.Next(10) == 0 ? null : 30 + (random.NextDouble() * 690);

        /// <summary>Somewhere between a budget that does not cover the busy GPUs and one that needs no caps.</summary>
        public double RandomBudget(Random random)
        {
            var top = Nodes.SelectMany(n => n.Gpus).Sum(g => g.Range.MaxWatts ?? 700);
            return Math.Max(1, top * (0.15 + (random.NextDouble() * 1.1)));
        }

        public void ReportRanges(BudgetLedger ledger)
        {
            foreach (var node in Nodes)
            {
                foreach (var gpu in node.Gpus)
                {
                    ledger.Range(node.Id, gpu.Index, gpu.Range);
                }
            }
        }

        public void TrackAll(BudgetLedger ledger)
        {
            foreach (var node in Nodes)
            {
                Track(ledger, node);
            }
        }

        public static void Track(BudgetLedger ledger, TestNode node) =>
            ledger.Track(node.Id, node.Up, [.. node.Gpus.Select(g => new BudgetGpu(node.Id, g.Index, g.Busy, g.Measured, g.JobCap))]);

        /// <summary>Every node heartbeats, in a random order, <paramref name="rounds"/> times; the caps of the last round.</summary>
        public Dictionary<string, Dictionary<int, double>> HeartbeatAll(BudgetLedger ledger, Random random, int rounds)
        {
            var caps = new Dictionary<string, Dictionary<int, double>>();
            for (var round = 0; round < rounds; round++)
            {
                foreach (var node in Nodes.OrderBy(_ => random.Next()))
                {
                    var answer = new Dictionary<int, double>();
                    ledger.HandOut(node.Id, answer);
                    caps[node.Id] = answer;
                }
            }

            return caps;
        }

        /// <summary>The full division over the GPUs of the nodes that are up.</summary>
        public BudgetDivision Reference(double budget)
        {
            var up = Nodes.Where(n => n.Up).SelectMany(n => n.Gpus.Select(g => (Node: n, Gpu: g))).ToList();
            return PowerBudget.Divide(budget, [.. up.Select(x => new BudgetGpu(x.Node.Id, x.Gpu.Index, x.Gpu.Busy, x.Gpu.Measured, x.Gpu.JobCap))], [.. up.Select(x => x.Gpu.Range)]);
        }

        /// <summary>
        /// Each GPU's cap as the full division's: equal within a watt (the level is found exactly here, by
        /// bisection there, and both round down), and a GPU left uncapped by one is capped within a watt of
        /// its highest limit by the other.
        /// </summary>
        public void AssertSameCaps(BudgetDivision expected, Dictionary<string, Dictionary<int, double>> actual, string because)
        {
            foreach (var node in Nodes)
            {
                var got = actual.GetValueOrDefault(node.Id) ?? [];
                if (!node.Up)
                {
                    Assert.Empty(got);
                    continue;
                }

                foreach (var gpu in node.Gpus)
                {
                    double? want = expected.Caps.TryGetValue(node.Id, out var caps) && caps.TryGetValue(gpu.Index, out var w) ? w : null;
                    double? have = got.TryGetValue(gpu.Index, out var h) ? h : null;
                    var top = gpu.Range.MaxWatts ?? double.PositiveInfinity;
                    Assert.True(Math.Abs((want ?? top) - (have ?? top)) <= 1 || (want is null && have is null), $"{because}: {node.Id} GPU {gpu.Index} (busy {gpu.Busy}, range {gpu.Range}) capped at {have?.ToString() ?? "none"}, the full division says {want?.ToString() ?? "none"}");
                }
            }
        }

        public void AssertBusyAtLowest(Dictionary<string, Dictionary<int, double>> caps, string because)
        {
            foreach (var node in Nodes.Where(n => n.Up))
            {
                foreach (var gpu in node.Gpus.Where(g => g.Busy && g.Range.MinWatts is > 0))
                {
                    Assert.True(caps[node.Id].TryGetValue(gpu.Index, out var cap) && cap == Math.Floor(gpu.Range.MinWatts!.Value), $"{because}: {node.Id} GPU {gpu.Index} at {cap}");
                }
            }
        }
    }

    private sealed class TestNode(string id)
    {
        public string Id { get; } = id;

        public bool Up { get; set; }

        public List<TestGpu> Gpus { get; } = [];
    }

    private sealed class TestGpu(int index)
    {
        public int Index { get; } = index;

        public GpuRange Range { get; init; }

        public bool Busy { get; set; }

        public double? Measured { get; set; }

        public double? JobCap { get; set; }
    }
}
