using Gantry.Core.Scheduling;

namespace Gantry.Core.Tests.Scheduling;

public class GpuSetsTests
{
    [Fact]
    public void Choose_FullyLinkedSetExists_PicksLowestOne()
    {
        // 0-1-2 chain, 3-4-5 triangle, 2-3 link.
        var links = Links(6, (0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (3, 5));

        Assert.Equal(Mask(3, 4, 5), GpuSets.Choose(Mask(0, 1, 2, 3, 4, 5), 3, links));
    }

    [Fact]
    public void Choose_OnlyConnectedSets_PicksConnectedOverLowest()
    {
        var links = Links(5, (2, 3), (3, 4));

        var chosen = GpuSets.Choose(Mask(0, 1, 2, 3, 4), 3, links);

        Assert.Equal(Mask(2, 3, 4), chosen);
        Assert.False(GpuSets.IsClique(chosen, links));
    }

    [Fact]
    public void Choose_NoLinksAmongCandidates_PicksLowestIndexes()
    {
        var links = Links(8, (0, 1));

        Assert.Equal(Mask(1, 3, 6), GpuSets.Choose(Mask(1, 3, 6, 7), 3, links));
    }

    [Fact]
    public void Choose_OneGpu_PicksLowestFree()
    {
        Assert.Equal(Mask(5), GpuSets.Choose(Mask(5, 6), 1, Links(8)));
    }

    [Fact]
    public void Choose_ZeroGpus_PicksNone()
    {
        Assert.Equal(0UL, GpuSets.Choose(Mask(0, 1), 0, Links(2)));
    }

    [Fact]
    public void Choose_NvSwitchNode_PicksLowestFreeSet()
    {
        var all = Enumerable.Range(0, 8).SelectMany(a => Enumerable.Range(0, 8).Where(b => b != a).Select(b => (a, b))).ToArray();
        var links = Links(8, all);

        Assert.Equal(Mask(1, 2, 4, 5), GpuSets.Choose(Mask(1, 2, 4, 5, 6, 7), 4, links));
    }

    [Fact]
    public void Choose_LargeSparseNode_ReturnsRequestedCount()
    {
        // 64 GPUs linked in a ring: no clique of 8, the clique search must give up within its budget.
        var ring = Enumerable.Range(0, 64).Select(i => (i, (i + 1) % 64)).ToArray();
        var links = Links(64, ring);

        var chosen = GpuSets.Choose(ulong.MaxValue, 8, links);

        Assert.Equal(Mask(0, 1, 2, 3, 4, 5, 6, 7), chosen);
    }

    private static ulong Mask(params int[] bits) => bits.Aggregate(0UL, (m, b) => m | (1UL << b));

    private static ulong[] Links(int count, params (int A, int B)[] pairs)
    {
        var links = new ulong[count];
        foreach (var (a, b) in pairs)
        {
            links[a] |= 1UL << b;
            links[b] |= 1UL << a;
        }

        return links;
    }
}
