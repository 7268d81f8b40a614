using System.Numerics;
using Gantry.Core.Jobs;

namespace Gantry.Core.Scheduling;

/// <summary>
/// One run of <see cref="Scheduler.Schedule"/>. Nodes that take work are copied into flat arrays in node
/// id order (their index is their rank in the tie-break); free GPUs are bit masks in GPU index order.
/// Jobs are grouped by (selector, GPU filter) into <see cref="CandidateGroup"/>s built on first use, and
/// every placement refreshes the node in each group it belongs to.
/// </summary>
internal sealed partial class SchedulingPass
{
    /// <summary>GPUs past this many on one node (by index) are not scheduled: free sets are 64-bit masks.</summary>
    internal const int MaxGpusPerNode = 64;

    private readonly SchedulingInput _input;
    private readonly SchedulingNode[] _nodes;
    private readonly int[] _freeCpus;
    private readonly long[] _freeMemory;
    private readonly ulong[] _freeGpus;
    private readonly ulong[] _allGpus;
    private readonly int[] _gpuStart;
    private readonly int[] _gpuIndex;
    private readonly ulong[] _links;
    private readonly NodeCapacity _capacity;
    private readonly int[] _reservedBy;

    // Group memberships per node, as singly linked lists in flat arrays.
    private readonly int[] _memberHead;
    private int[] _memberNext = new int[64];
    private int[] _memberGroup = new int[64];
    private int[] _memberSlot = new int[64];
    private int _memberCount;

    private readonly List<CandidateGroup> _groups = [];
    private readonly Dictionary<long, int> _groupIds = [];
    private readonly Dictionary<IReadOnlyDictionary<string, string>, int> _selectorIds = new(SelectorComparer.Instance);
    private readonly List<string> _selectorText = [string.Empty];
    private readonly List<int[]> _selectorNodes = [];
    private readonly Dictionary<GpuFilter, int> _filterIds = new(GpuFilterComparer.Instance);
    private readonly List<ResourceRequest> _filterSample = [new ResourceRequest()];
    private readonly List<string> _gpuNouns = ["GPU"];
    private readonly Dictionary<FailKey, string> _failed = [];
    private readonly Dictionary<(int SelectorId, string Location), int> _pinnedSelectorIds = [];
    private readonly Dictionary<int[], int> _selectorBySet = new(NodeSetComparer.Instance);
    private readonly WaitReasons _reasons = new();
    private readonly Dictionary<(int SelectorId, Protocol.ContainerRuntime Runtime), int> _runtimeSelectorIds = [];
    private readonly Dictionary<int, string> _runtimeReasons = [];

    /// <summary>Node index by id, for jobs that prefer a node (<see cref="PendingJob.PreferNode"/>); built on first use.</summary>
    private Dictionary<string, int>? _nodeIndexById;
    private Dictionary<(string Key, string Value), List<int>>? _labelIndex;
    private PendingJob[] _order = [];

    private SchedulingPass(SchedulingInput input)
    {
        _input = input;
        _nodes = input.Policy.PreferEfficient ? SchedulableInEfficiencyOrder(input.Nodes) : SchedulableInIdOrder(input.Nodes);
        var n = _nodes.Length;
        _freeCpus = new int[n];
        _freeMemory = new long[n];
        _freeGpus = new ulong[n];
        _allGpus = new ulong[n];
        _gpuStart = new int[n + 1];
        _reservedBy = new int[n];
        _memberHead = new int[n];
        var cores = new int[n];
        var memory = new long[n];
        var totalGpus = 0;
        for (var i = 0; i < n; i++)
        {
            var node = _nodes[i];
            _gpuStart[i] = totalGpus;
            totalGpus += Math.Min(node.Gpus.Count, MaxGpusPerNode);
            _freeCpus[i] = node.FreeCpus;
            _freeMemory[i] = node.FreeMemoryBytes;
            cores[i] = node.CpuCores;
            memory[i] = node.MemoryBytes;
            _reservedBy[i] = -1;
            _memberHead[i] = -1;
        }

        _gpuStart[n] = totalGpus;
        _capacity = new NodeCapacity(cores, memory);
        _gpuIndex = new int[totalGpus];
        _links = new ulong[totalGpus];
        _selectorNodes.Add(Identity(n));
        _selectorBySet[_selectorNodes[0]] = 0;
        var positions = new List<int>();
        for (var i = 0; i < n; i++)
        {
            LoadGpus(i, positions);
        }
    }

    public static SchedulingResult Run(SchedulingInput input) => new SchedulingPass(input).Run();

    private SchedulingResult Run()
    {
        var pending = _input.Pending;
        var order = Order(pending);
        _order = new PendingJob[order.Length];
        for (var i = 0; i < order.Length; i++)
        {
            _order[i] = pending[order[i]];
        }

        OrderAccounts();
        var fairShare = _input.Policy.FairShare && _jobAccount.Length > 0;

        // The latest-submitted job placed so far at the current priority: a job submitted before it that
        // then waits was passed over by fair share (without it, jobs of a priority go in submission order).
        var priority = int.MinValue;
        var aheadSequence = long.MinValue;
        var aheadAccount = -1;
        var placements = new List<Placement>();
        var reservations = new List<Reservation>();
        var waiting = new List<WaitingJob>();
        IReadOnlyDictionary<string, string>? lastSelector = null;
        var lastSelectorId = 0;
        CandidateGroup? group = null;
        for (var k = 0; k < _order.Length; k++)
        {
            var job = _order[k];
            var request = job.Resources;
            var gpus = Math.Max(request.Gpus, 0);
            var cpus = request.Cpus;
            var memory = request.MemoryBytes;
            var account = _jobAccount.Length == 0 ? -1 : _jobAccount[k];
            if (job.Priority != priority)
            {
                priority = job.Priority;
                aheadSequence = long.MinValue;
            }

            if (account >= 0 && OverLimit(account, gpus) is { } limited)
            {
                waiting.Add(new WaitingJob(job.Id, limited));
                continue;
            }

            // Jobs submitted together often share one selector instance.
            if (!ReferenceEquals(job.Selector, lastSelector))
            {
                lastSelector = job.Selector;
                lastSelectorId = SelectorId(job.Selector);
            }

            // A container job's runtime narrows the selector's nodes to those that have it (docs/containers-jobs.md).
            var openSelectorId = job.Runtime is { } runtime ? RuntimeSelectorId(lastSelectorId, runtime) : lastSelectorId;

            // A carbon plan's pin narrows the selector's nodes to one location until the job's latest start.
            var pin = job.Pin is { } p && _input.Now < p.Until ? p : null;
            var selectorId = pin is null ? openSelectorId : PinnedSelectorId(openSelectorId, pin.Location);
            var filterId = gpus == 0 ? 0 : FilterId(request);
            if (group is null || group.SelectorId != selectorId || group.FilterId != filterId)
            {
                group = Group(selectorId, filterId);
            }

            var failKey = new FailKey(group.Id, gpus, cpus, memory);

            // A restarting service goes back to its node when it still fits there (docs/services.md).
            var preferred = job.PreferNode is { } preferNode ? PreferredSlot(group, preferNode, gpus, cpus, memory) : -1;

            // Free resources only shrink during a pass, so a requirement that failed once fails again.
            if (preferred >= 0 || !_failed.TryGetValue(failKey, out var reason))
            {
                var slot = preferred >= 0 ? preferred : group.FindBest(gpus, cpus, memory, _freeMemory, reserved: false);
                if (slot >= 0)
                {
                    var note = _input.Policy.PreferEfficient ? EfficiencyNote(group, slot, memory) : null;
                    placements.Add(Place(job, group, slot, gpus, cpus, memory, note));
                    if (account >= 0)
                    {
                        _accountHeld[account] += gpus;
                        if (job.Sequence > aheadSequence)
                        {
                            aheadSequence = job.Sequence;
                            aheadAccount = account;
                        }
                    }

                    continue;
                }

                // Cached for any job of the group (a pinned group may be a selector's own, shared with unpinned jobs).
                reason = Explain(group, gpus, cpus, memory);
                _failed[failKey] = reason;
            }

            if (pin is not null && selectorId != openSelectorId)
            {
                // What a pinned job is told: PinnedReason asks the selector's whole group.
                reason = PinnedReason(pin, openSelectorId, filterId, gpus, cpus, memory);
            }
            else if (fairShare && aheadSequence > job.Sequence && aheadAccount != account && group.CanEverHold(gpus, cpus, memory))
            {
                reason = ShareReason(account, aheadAccount);
            }

            if (_input.Now - job.QueuedAt >= _input.Policy.ReservationAfter && group.CanEverHold(gpus, cpus, memory))
            {
                var held = group.FindReservation(gpus, cpus, memory, _capacity.Cpus, _capacity.Memory);
                if (held >= 0)
                {
                    var node = group.Nodes[held];
                    Reserve(node, k);
                    reservations.Add(new Reservation(job.Id, _nodes[node].Id));
                    reason = WaitReasons.HoldsReservation(reason, _nodes[node].Id);
                }
            }

            waiting.Add(new WaitingJob(job.Id, reason));
        }

        return new SchedulingResult(placements, reservations, waiting);
    }

    /// <summary>
    /// Input positions by priority descending, then sequence, then id, then position. Usually priority and
    /// sequence pack into one 64-bit key, sorted as primitives; only runs of equal keys compare ids.
    /// </summary>
    private static int[] Order(IReadOnlyList<PendingJob> pending)
    {
        var n = pending.Count;
        var keys = new ulong[n];
        var order = new int[n];
        var packable = true;
        for (var i = 0; i < n; i++)
        {
            var job = pending[i];
            packable &= job.Sequence is >= 0 and <= uint.MaxValue;

            // Flipping the sign bit maps int order onto uint order; subtracting from max makes it descending.
            keys[i] = ((ulong)(uint.MaxValue - (uint)(job.Priority ^ int.MinValue)) << 32) | (uint)job.Sequence;
            order[i] = i;
        }

        var ties = new JobTieComparer(pending);
        if (!packable)
        {
            order.AsSpan().Sort(ties);
            return order;
        }

        Array.Sort(keys, order);
        for (var i = 0; i < n;)
        {
            var j = i + 1;
            while (j < n && keys[j] == keys[i])
            {
                j++;
            }

            if (j - i > 1)
            {
                order.AsSpan(i, j - i).Sort(ties);
            }

            i = j;
        }

        return order;
    }

    private Placement Place(PendingJob job, CandidateGroup group, int slot, int gpus, int cpus, long memory, EfficiencyComparison? note)
    {
        var node = group.Nodes[slot];
        var start = _gpuStart[node];
        var links = _links.AsSpan(start, _gpuStart[node + 1] - start);
        var chosen = GpuSets.Choose(_freeGpus[node] & group.Accepted[slot], gpus, links);
        _freeGpus[node] &= ~chosen;
        _freeCpus[node] -= cpus;
        _freeMemory[node] -= memory;

        var indexes = gpus == 0 ? [] : new int[gpus];
        var rest = chosen;
        for (var i = 0; i < indexes.Length; i++)
        {
            indexes[i] = _gpuIndex[start + BitOperations.TrailingZeroCount(rest)];
            rest &= rest - 1;
        }

        for (var m = _memberHead[node]; m >= 0; m = _memberNext[m])
        {
            _groups[_memberGroup[m]].Refresh(_memberSlot[m], _freeGpus[node], _freeCpus[node]);
        }

        return new Placement(job.Id, _nodes[node].Id, indexes, cpus, memory, note);
    }

    private void Reserve(int node, int jobPosition)
    {
        _reservedBy[node] = jobPosition;
        for (var m = _memberHead[node]; m >= 0; m = _memberNext[m])
        {
            _groups[_memberGroup[m]].Reserve(_memberSlot[m]);
        }
    }

    private string Explain(CandidateGroup group, int gpus, int cpus, long memory)
    {
        if (group.Nodes.Length == 0)
        {
            return _runtimeReasons.TryGetValue(group.SelectorId, out var lacking) ? lacking : _reasons.NoMatch(group.SelectorId, _selectorText[group.SelectorId]);
        }

        var noun = _gpuNouns[group.FilterId];
        if (!group.CanEverHold(gpus, cpus, memory))
        {
            return _reasons.NeverFits(group, gpus, cpus, memory, noun);
        }

        var held = group.FindBest(gpus, cpus, memory, _freeMemory, reserved: true);
        if (held >= 0)
        {
            var node = group.Nodes[held];
            var owner = _order[_reservedBy[node]];
            return _reasons.ReservedFor(node, _nodes[node].Id, owner.Id, owner.Priority);
        }

        return _reasons.WaitingFor(group, gpus, cpus, memory, noun, gpus > 0 && group.AnyWithFreeGpus(gpus));
    }

    /// <summary>
    /// Why a pinned job that its location cannot take now waits: the pin, when a node elsewhere that its
    /// selector allows would take it (the selector's whole group, built once per pass as for any job);
    /// otherwise what would hold it back without the pin.
    /// </summary>
    private string PinnedReason(LocationPin pin, int selectorId, int filterId, int gpus, int cpus, long memory)
    {
        var open = Group(selectorId, filterId);
        var openKey = new FailKey(open.Id, gpus, cpus, memory);
        if (_failed.TryGetValue(openKey, out var reason))
        {
            return reason;
        }

        if (open.FindBest(gpus, cpus, memory, _freeMemory, reserved: false) >= 0)
        {
            return _reasons.Pinned(pin, _input.Now);
        }

        reason = Explain(open, gpus, cpus, memory);
        _failed[openKey] = reason;
        return reason;
    }

    /// <summary>
    /// The group member of node <paramref name="nodeId"/> when the job fits there now and the node is not
    /// held for another job; -1 otherwise. The id-to-index map is built on the first use in a pass.
    /// </summary>
    private int PreferredSlot(CandidateGroup group, string nodeId, int gpus, int cpus, long memory)
    {
        if (_nodeIndexById is null)
        {
            _nodeIndexById = new Dictionary<string, int>(_nodes.Length, StringComparer.Ordinal);
            for (var i = 0; i < _nodes.Length; i++)
            {
                _nodeIndexById[_nodes[i].Id] = i;
            }
        }

        if (!_nodeIndexById.TryGetValue(nodeId, out var node) || _reservedBy[node] >= 0)
        {
            return -1;
        }

        // Members are in node order.
        var slot = Array.BinarySearch(group.Nodes, node);
        return slot >= 0 && BitOperations.PopCount(_freeGpus[node] & group.Accepted[slot]) >= gpus && _freeCpus[node] >= cpus && _freeMemory[node] >= memory
            ? slot
            : -1;
    }

    /// <summary>
    /// The id of a selector narrowed to the nodes in one location: its nodes filtered by
    /// <see cref="SchedulingNode.Location"/>, once per (selector, location) in a pass.
    /// </summary>
    private int PinnedSelectorId(int selectorId, string location)
    {
        if (_pinnedSelectorIds.TryGetValue((selectorId, location), out var id))
        {
            return id;
        }

        var matched = new List<int>();
        foreach (var node in _selectorNodes[selectorId])
        {
            if (string.Equals(_nodes[node].Location, location, StringComparison.Ordinal))
            {
                matched.Add(node);
            }
        }

        // The same nodes as a selector already seen (a zone selector, or all nodes when every node is in
        // the location): its groups serve, rather than a copy that every placement would refresh too.
        // Only a pin takes another's id: a pinned group's own reason is never shown.
        int[] nodes = [.. matched];
        if (!_selectorBySet.TryGetValue(nodes, out id))
        {
            id = _selectorText.Count;
            _selectorText.Add(selectorId == 0 ? "location=" + location : _selectorText[selectorId] + ",location=" + location);
            _selectorNodes.Add(nodes);
        }

        _pinnedSelectorIds[(selectorId, location)] = id;
        return id;
    }

    /// <summary>
    /// The id of a selector narrowed to the nodes whose agent has a container runtime: its nodes filtered once per
    /// (selector, runtime) in a pass, as a pin's. The selector itself when every node has it; when none has, a set
    /// of its own whose reason names the runtime.
    /// </summary>
    private int RuntimeSelectorId(int selectorId, Protocol.ContainerRuntime runtime)
    {
        if (_runtimeSelectorIds.TryGetValue((selectorId, runtime), out var id))
        {
            return id;
        }

        var all = _selectorNodes[selectorId];
        var matched = new List<int>(all.Length);
        foreach (var node in all)
        {
            var runtimes = _nodes[node].ContainerRuntimes;
            for (var i = 0; i < runtimes.Count; i++)
            {
                if (runtimes[i] == runtime)
                {
                    matched.Add(node);
                    break;
                }
            }
        }

        if (matched.Count == all.Length)
        {
            id = selectorId;
        }
        else
        {
            int[] nodes = [.. matched];
            if (nodes.Length == 0 || !_selectorBySet.TryGetValue(nodes, out id))
            {
                id = _selectorText.Count;
                var name = runtime == Protocol.ContainerRuntime.Docker ? "docker" : "podman";
                _selectorText.Add(selectorId == 0 ? "runtime=" + name : _selectorText[selectorId] + ",runtime=" + name);
                _selectorNodes.Add(nodes);
                if (nodes.Length == 0)
                {
                    _runtimeReasons[id] = WaitReasons.NoRuntime(name, all.Length, selectorId == 0 ? null : _selectorText[selectorId]);
                }
            }
        }

        _runtimeSelectorIds[(selectorId, runtime)] = id;
        return id;
    }

    private CandidateGroup Group(int selectorId, int filterId)
    {
        var key = ((long)selectorId << 32) | (uint)filterId;
        if (_groupIds.TryGetValue(key, out var id))
        {
            return _groups[id];
        }

        var nodes = _selectorNodes[selectorId];
        var accepted = new ulong[nodes.Length];
        if (filterId == 0)
        {
            for (var slot = 0; slot < nodes.Length; slot++)
            {
                accepted[slot] = _allGpus[nodes[slot]];
            }
        }
        else
        {
            var request = _filterSample[filterId];
            string? lastModel = null;
            long lastMemory = 0;
            var lastAccepted = false;
            for (var slot = 0; slot < nodes.Length; slot++)
            {
                var node = nodes[slot];
                var gpus = _nodes[node].Gpus;
                var start = _gpuStart[node];
                var count = _gpuStart[node + 1] - start;
                ulong mask = 0;
                for (var p = 0; p < count; p++)
                {
                    var gpu = Gpu(gpus, _gpuIndex[start + p]);

                    // Nodes repeat one model and size; compare with the last before the substring match.
                    if (!string.Equals(gpu.Model, lastModel, StringComparison.Ordinal) || gpu.MemoryBytes != lastMemory)
                    {
                        lastModel = gpu.Model;
                        lastMemory = gpu.MemoryBytes;
                        lastAccepted = request.Accepts(gpu.Model, gpu.MemoryBytes);
                    }

                    if (lastAccepted)
                    {
                        mask |= 1UL << p;
                    }
                }

                accepted[slot] = mask;
            }
        }

        var group = new CandidateGroup(_groups.Count, selectorId, filterId, nodes, accepted, _capacity);
        for (var slot = 0; slot < nodes.Length; slot++)
        {
            var node = nodes[slot];
            group.Insert(slot, _freeGpus[node], _freeCpus[node], _reservedBy[node] >= 0);
            AddMembership(node, group.Id, slot);
        }

        _groups.Add(group);
        _groupIds[key] = group.Id;
        return group;
    }

    /// <summary>The GPU with index <paramref name="index"/>; lists usually hold GPU i at position i.</summary>
    private static SchedulingGpu Gpu(IReadOnlyList<SchedulingGpu> gpus, int index)
    {
        if (index >= 0 && index < gpus.Count && gpus[index].Index == index)
        {
            return gpus[index];
        }

        for (var i = 0; i < gpus.Count; i++)
        {
            if (gpus[i].Index == index)
            {
                return gpus[i];
            }
        }

        throw new InvalidOperationException("GPU index vanished from its node.");
    }

    private void AddMembership(int node, int group, int slot)
    {
        if (_memberCount == _memberNext.Length)
        {
            Array.Resize(ref _memberNext, _memberCount * 2);
            Array.Resize(ref _memberGroup, _memberCount * 2);
            Array.Resize(ref _memberSlot, _memberCount * 2);
        }

        _memberNext[_memberCount] = _memberHead[node];
        _memberGroup[_memberCount] = group;
        _memberSlot[_memberCount] = slot;
        _memberHead[node] = _memberCount++;
    }

    private int SelectorId(IReadOnlyDictionary<string, string> selector)
    {
        if (selector.Count == 0)
        {
            return 0;
        }

        if (_selectorIds.TryGetValue(selector, out var id))
        {
            return id;
        }

        id = _selectorText.Count;
        _selectorIds[selector] = id;
        var pairs = new List<KeyValuePair<string, string>>(selector);
        pairs.Sort(static (a, b) => string.CompareOrdinal(a.Key, b.Key));
        _selectorText.Add(string.Join(',', pairs.ConvertAll(static p => p.Key + "=" + p.Value)));
        var nodes = MatchSelector(pairs);
        _selectorNodes.Add(nodes);
        _selectorBySet.TryAdd(nodes, id);
        return id;
    }

    /// <summary>Nodes (ascending) carrying every label of the selector: the shortest label's list, filtered by the rest.</summary>
    private int[] MatchSelector(List<KeyValuePair<string, string>> pairs)
    {
        _labelIndex ??= BuildLabelIndex();
        List<int>? shortest = null;
        foreach (var pair in pairs)
        {
            if (!_labelIndex.TryGetValue((pair.Key, pair.Value), out var list))
            {
                return [];
            }

            if (shortest is null || list.Count < shortest.Count)
            {
                shortest = list;
            }
        }

        var matched = new List<int>();
        foreach (var node in shortest!)
        {
            var labels = _nodes[node].Labels;
            var all = true;
            foreach (var pair in pairs)
            {
                if (!labels.TryGetValue(pair.Key, out var value) || !string.Equals(value, pair.Value, StringComparison.Ordinal))
                {
                    all = false;
                    break;
                }
            }

            if (all)
            {
                matched.Add(node);
            }
        }

        return [.. matched];
    }

    private Dictionary<(string Key, string Value), List<int>> BuildLabelIndex()
    {
        var index = new Dictionary<(string Key, string Value), List<int>>();
        for (var i = 0; i < _nodes.Length; i++)
        {
            foreach (var label in _nodes[i].Labels)
            {
                if (!index.TryGetValue((label.Key, label.Value), out var list))
                {
                    list = [];
                    index[(label.Key, label.Value)] = list;
                }

                list.Add(i);
            }
        }

        return index;
    }

    private int FilterId(ResourceRequest request)
    {
        if (request.GpuModel is null && request.GpuMemoryBytes <= 0)
        {
            return 0;
        }

        var filter = new GpuFilter(request.GpuModel, request.GpuMemoryBytes);
        if (!_filterIds.TryGetValue(filter, out var id))
        {
            id = _filterSample.Count;
            _filterIds[filter] = id;
            _filterSample.Add(request);
            _gpuNouns.Add(WaitReasons.GpuNoun(request.GpuModel, request.GpuMemoryBytes));
        }

        return id;
    }

    /// <summary>Reads node <paramref name="i"/>'s GPUs: masks, index order, NVLink adjacency (made symmetric).</summary>
    private void LoadGpus(int i, List<int> positions)
    {
        var gpus = _nodes[i].Gpus;
        var start = _gpuStart[i];
        var count = _gpuStart[i + 1] - start;
        if (count == 0)
        {
            return;
        }

        positions.Clear();
        var sorted = true;
        for (var p = 0; p < gpus.Count; p++)
        {
            positions.Add(p);
            sorted &= p == 0 || gpus[p].Index > gpus[p - 1].Index;
        }

        if (!sorted)
        {
            positions.Sort((a, b) => gpus[a].Index.CompareTo(gpus[b].Index));
        }

        ulong free = 0;
        for (var p = 0; p < count; p++)
        {
            var gpu = gpus[positions[p]];
            _gpuIndex[start + p] = gpu.Index;
            if (gpu.Free)
            {
                free |= 1UL << p;
            }
        }

        for (var p = 0; p < count; p++)
        {
            var peers = gpus[positions[p]].NvLinkPeers;
            for (var j = 0; j < peers.Count; j++)
            {
                // GPU i usually sits at position i; search only when it does not.
                var peer = peers[j];
                var q = peer >= 0 && peer < count && _gpuIndex[start + peer] == peer ? peer : _gpuIndex.AsSpan(start, count).IndexOf(peer);
                if (q >= 0 && q != p)
                {
                    _links[start + p] |= 1UL << q;
                    _links[start + q] |= 1UL << p;
                }
            }
        }

        _freeGpus[i] = free;
        _allGpus[i] = count == MaxGpusPerNode ? ulong.MaxValue : (1UL << count) - 1;
    }

    private static SchedulingNode[] SchedulableInIdOrder(IReadOnlyList<SchedulingNode> nodes)
    {
        var list = new List<SchedulingNode>(nodes.Count);
        var sorted = true;
        for (var i = 0; i < nodes.Count; i++)
        {
            var node = nodes[i];
            if (node.Schedulable)
            {
                sorted &= list.Count == 0 || string.CompareOrdinal(list[^1].Id, node.Id) < 0;
                list.Add(node);
            }
        }

        if (!sorted)
        {
            // Stable, so duplicate ids keep their input order.
            var array = list.ToArray();
            var ids = new string[array.Length];
            var order = new int[array.Length];
            for (var i = 0; i < array.Length; i++)
            {
                ids[i] = array[i].Id;
                order[i] = i;
            }

            Array.Sort(order, (a, b) =>
            {
                var c = string.CompareOrdinal(ids[a], ids[b]);
                return c != 0 ? c : a.CompareTo(b);
            });
            for (var i = 0; i < order.Length; i++)
            {
                list[i] = array[order[i]];
            }
        }

        return [.. list];
    }

    private static int[] Identity(int n)
    {
        var all = new int[n];
        for (var i = 0; i < n; i++)
        {
            all[i] = i;
        }

        return all;
    }

    private readonly record struct FailKey(int Group, int Gpus, int Cpus, long Memory);

    private readonly record struct GpuFilter(string? Model, long MinMemory);

    /// <summary>Orders input positions by priority descending, then sequence, then id, then position: a total order.</summary>
    private readonly struct JobTieComparer(IReadOnlyList<PendingJob> pending) : IComparer<int>
    {
        public int Compare(int x, int y)
        {
            var a = pending[x];
            var b = pending[y];
            var c = b.Priority.CompareTo(a.Priority);
            if (c == 0)
            {
                c = a.Sequence.CompareTo(b.Sequence);
            }

            if (c == 0)
            {
                c = a.Id.CompareTo(b.Id);
            }

            return c != 0 ? c : x.CompareTo(y);
        }
    }

    private sealed class GpuFilterComparer : IEqualityComparer<GpuFilter>
    {
        public static readonly GpuFilterComparer Instance = new();

        public bool Equals(GpuFilter x, GpuFilter y) =>
            x.MinMemory == y.MinMemory && string.Equals(x.Model, y.Model, StringComparison.OrdinalIgnoreCase);

        public int GetHashCode(GpuFilter obj) =>
            HashCode.Combine(obj.Model is null ? 0 : StringComparer.OrdinalIgnoreCase.GetHashCode(obj.Model), obj.MinMemory);
    }

    /// <summary>Node sets by content (ascending node indexes), for a pin that matches a selector's nodes exactly.</summary>
    private sealed class NodeSetComparer : IEqualityComparer<int[]>
    {
        public static readonly NodeSetComparer Instance = new();

        public bool Equals(int[]? x, int[]? y) => ReferenceEquals(x, y) || (x is not null && y is not null && x.AsSpan().SequenceEqual(y));

        public int GetHashCode(int[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(System.Runtime.InteropServices.MemoryMarshal.AsBytes(obj.AsSpan()));
            return hash.ToHashCode();
        }
    }

    /// <summary>Selectors by content: same pairs in any order are one selector.</summary>
    private sealed class SelectorComparer : IEqualityComparer<IReadOnlyDictionary<string, string>>
    {
        public static readonly SelectorComparer Instance = new();

        public bool Equals(IReadOnlyDictionary<string, string>? x, IReadOnlyDictionary<string, string>? y)
        {
            if (ReferenceEquals(x, y))
            {
                return true;
            }

            if (x is null || y is null || x.Count != y.Count)
            {
                return false;
            }

            foreach (var pair in x)
            {
                if (!y.TryGetValue(pair.Key, out var value) || !string.Equals(value, pair.Value, StringComparison.Ordinal))
                {
                    return false;
                }
            }

            return true;
        }

        public int GetHashCode(IReadOnlyDictionary<string, string> obj)
        {
            // Order-independent: a sum of per-pair hashes.
            var hash = 0;
            foreach (var pair in obj)
            {
                hash += HashCode.Combine(StringComparer.Ordinal.GetHashCode(pair.Key), StringComparer.Ordinal.GetHashCode(pair.Value));
            }

            return hash;
        }
    }
}
