using Gantry.Core.Scheduling;

namespace Gantry.Core.Tests.Scheduling;

public class OrderedKeySetTests
{
    [Fact]
    public void OrderedKeySet_RandomOperations_MatchSortedSet()
    {
        var random = new Random(42);
        var set = new OrderedKeySet();
        var reference = new SortedSet<long>();
        for (var step = 0; step < 20_000; step++)
        {
            // Phases that grow and shrink the set so blocks split, empty and get reused.
            var key = (long)random.Next(-2000, 2000) << 20 | (uint)random.Next(4);
            var grow = step / 2500 % 2 == 0;
            if (random.Next(3) != 0 == grow)
            {
                Assert.Equal(reference.Add(key), set.Add(key));
            }
            else
            {
                Assert.Equal(reference.Remove(key), set.Remove(key));
            }

            Assert.Equal(reference.Count, set.Count);
            var probe = (long)random.Next(-2100, 2100) << 20;
            var ceiling = reference.GetViewBetween(probe, long.MaxValue);
            Assert.Equal(ceiling.Count > 0, set.TryCeiling(probe, out var up));
            if (ceiling.Count > 0)
            {
                Assert.Equal(ceiling.Min, set.KeyAt(up));
            }

            var floor = reference.GetViewBetween(long.MinValue, probe);
            Assert.Equal(floor.Count > 0, set.TryFloor(probe, out var down));
            if (floor.Count > 0)
            {
                Assert.Equal(floor.Max, set.KeyAt(down));
            }
        }
    }

    [Fact]
    public void MoveNext_FromCeiling_VisitsKeysInOrder()
    {
        var set = new OrderedKeySet();
        var keys = Enumerable.Range(0, 1000).Select(i => (long)i * 3).ToArray();
        foreach (var key in keys.Reverse())
        {
            set.Add(key);
        }

        Assert.True(set.TryCeiling(301, out var cursor));
        var visited = new List<long> { set.KeyAt(cursor) };
        while (set.MoveNext(ref cursor))
        {
            visited.Add(set.KeyAt(cursor));
        }

        Assert.Equal(keys.Where(k => k >= 301), visited);
    }
}
