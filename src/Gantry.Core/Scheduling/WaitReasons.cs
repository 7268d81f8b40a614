using System.Globalization;
using Gantry.Core.Text;

namespace Gantry.Core.Scheduling;

/// <summary>
/// The short reasons shown on jobs left pending. Most pending jobs share a handful of reasons, so each
/// distinct one is built once per pass and the string reused.
/// </summary>
internal sealed class WaitReasons
{
    private readonly Dictionary<Key, string> _cache = [];
    private readonly Dictionary<LocationPin, string> _pins = [];

    public enum Kind
    {
        NoSelectorMatch,
        NeverFits,
        ReservedFor,
        WaitingFor,
        HeldByLimit,
        FairShare,
    }

    /// <summary>"no ready node" / "no ready node matches selector gpu=a100".</summary>
    public string NoMatch(int selectorId, string selector)
    {
        if (selectorId == 0)
        {
            return "no ready node";
        }

        var key = new Key(Kind.NoSelectorMatch, selectorId, 0, 0, 0, 0);
        if (!_cache.TryGetValue(key, out var reason))
        {
            reason = "no ready node matches selector " + selector;
            _cache[key] = reason;
        }

        return reason;
    }

    /// <summary>"no node has 16 GPUs", "no node has 64 CPU cores", or every dimension when only the combination is missing.</summary>
    public string NeverFits(CandidateGroup group, int gpus, int cpus, long memory, string gpuNoun)
    {
        var key = new Key(Kind.NeverFits, group.Id, gpus, cpus, memory, 0);
        if (_cache.TryGetValue(key, out var reason))
        {
            return reason;
        }

        var (noGpus, noCpus, noMemory) = group.Shortfall(gpus, cpus, memory);
        reason = noGpus ? $"no node has {Count(gpus, gpuNoun)}"
            : noCpus ? $"no node has {Count(cpus, "CPU core")}"
            : noMemory ? $"no node has {Sizes.Format(memory)} of memory"
            : "no node has " + Together(gpus > 0 ? Count(gpus, gpuNoun) : null, Count(cpus, "CPU core"), memory > 0 ? Sizes.Format(memory) + " of memory" : null);
        _cache[key] = reason;
        return reason;
    }

    /// <summary>"4 GPUs, 100 CPU cores and 1024 GiB of memory together", leaving out the parts not asked for.</summary>
    private static string Together(string? gpus, string cpus, string? memory) => (gpus, memory) switch
    {
        (null, null) => cpus,
        (null, _) => $"{cpus} and {memory} together",
        (_, null) => $"{gpus} and {cpus} together",
        _ => $"{gpus}, {cpus} and {memory} together",
    };

    /// <summary>"node n-abc is reserved for job 12 (priority 90)".</summary>
    public string ReservedFor(int node, string nodeId, long jobId, int priority)
    {
        var key = new Key(Kind.ReservedFor, node, 0, 0, 0, 0);
        if (!_cache.TryGetValue(key, out var reason))
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"node {nodeId} is reserved for job {jobId} (priority {priority})");
            _cache[key] = reason;
        }

        return reason;
    }

    /// <summary>"waiting for 4 free GPUs", with CPU and memory named when GPUs alone would be free somewhere.</summary>
    public string WaitingFor(CandidateGroup group, int gpus, int cpus, long memory, string gpuNoun, bool gpusFreeSomewhere)
    {
        var key = new Key(Kind.WaitingFor, group.Id, gpus, cpus, memory, gpusFreeSomewhere ? 1 : 0);
        if (_cache.TryGetValue(key, out var reason))
        {
            return reason;
        }

        var hostPart = memory > 0 ? $"{Count(cpus, "free CPU core")} and {Sizes.Format(memory)} of free memory" : Count(cpus, "free CPU core");
        reason = gpus == 0 ? "waiting for " + hostPart
            : gpusFreeSomewhere ? $"waiting for {Count(gpus, "free " + gpuNoun)} with {hostPart}"
            : $"waiting for {Count(gpus, "free " + gpuNoun)}";
        _cache[key] = reason;
        return reason;
    }

    /// <summary>
    /// "waiting for a node in zone uk-south (carbon plan) until 03:00, then any node" (UTC; the date too when
    /// the pin ends a day or more from <paramref name="now"/>).
    /// </summary>
    public string Pinned(LocationPin pin, DateTimeOffset now)
    {
        if (!_pins.TryGetValue(pin, out var reason))
        {
            var until = pin.Until.UtcDateTime.ToString(pin.Until - now < TimeSpan.FromHours(24) ? "HH:mm" : "yyyy-MM-dd HH:mm", CultureInfo.InvariantCulture);
            reason = $"waiting for a node in zone {pin.Location} (carbon plan) until {until}, then any node";
            _pins[pin] = reason;
        }

        return reason;
    }

    /// <summary><see cref="AccountShare.LimitReason"/>, once per account, GPUs held, limit and (over the limit alone) GPUs asked.</summary>
    public string HeldByLimit(int account, string name, int held, int max, int asked)
    {
        var alone = asked > max;
        var key = new Key(Kind.HeldByLimit, account, alone ? 0 : held, max, alone ? asked : 0, 0);
        if (!_cache.TryGetValue(key, out var reason))
        {
            reason = AccountShare.LimitReason(name, held, max, asked);
            _cache[key] = reason;
        }

        return reason;
    }

    /// <summary>"waiting: fair share — bob used 12.0 GPU-h recently, alice 1.5" (usage is fixed for a pass).</summary>
    public string FairShare(int account, string name, double usage, int ahead, string aheadName, double aheadUsage)
    {
        var key = new Key(Kind.FairShare, account, ahead, 0, 0, 0);
        if (!_cache.TryGetValue(key, out var reason))
        {
            reason = string.Create(CultureInfo.InvariantCulture, $"waiting: fair share — {name} used {usage:0.0} GPU-h recently, {aheadName} {aheadUsage:0.0}");
            _cache[key] = reason;
        }

        return reason;
    }

    /// <summary>
    /// "no ready node has container runtime docker (3 nodes lack it)", or "no ready node matching selector gpu=a100
    /// has container runtime docker (2 nodes lack it)": built once per (selector, runtime) in a pass.
    /// </summary>
    public static string NoRuntime(string runtime, int lacking, string? selector)
    {
        var nodes = lacking == 1 ? "1 node lacks it" : lacking.ToString(CultureInfo.InvariantCulture) + " nodes lack it";
        return selector is null
            ? $"no ready node has container runtime {runtime} ({nodes})"
            : $"no ready node matching selector {selector} has container runtime {runtime} ({nodes})";
    }

    /// <summary>The reason of a starving job that now holds a node.</summary>
    public static string HoldsReservation(string reason, string nodeId) => reason + "; node " + nodeId + " is reserved for it";

    /// <summary>"GPU", "H100 GPU", "GPU with at least 80 GiB", "H100 GPU with at least 80 GiB".</summary>
    public static string GpuNoun(string? model, long minMemory)
    {
        var noun = model is null ? "GPU" : model + " GPU";
        return minMemory > 0 ? noun + " with at least " + Sizes.Format(minMemory) : noun;
    }

    /// <summary>"1 GPU", "4 GPUs", "2 H100 GPUs with at least 80 GiB" (the plural goes on "GPU").</summary>
    private static string Count(int n, string noun)
    {
        var number = n.ToString(CultureInfo.InvariantCulture);
        if (n == 1)
        {
            return number + " " + noun;
        }

        var gpu = noun.IndexOf("GPU", StringComparison.Ordinal);
        return gpu >= 0
            ? number + " " + noun.Insert(gpu + 3, "s")
            : number + " " + noun + "s";
    }

    private readonly record struct Key(Kind Kind, int Scope, int Gpus, int Cpus, long Memory, int Extra);
}
