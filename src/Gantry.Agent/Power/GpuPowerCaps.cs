using System.Globalization;
using System.Text;
using Gantry.Agent.Jobs;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Model;
using Gantry.Telemetry.Power;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Power;

/// <summary>
/// The agent's GPU power caps (docs/power.md). Two inputs: the caps the server wants (manual and
/// budget, from each heartbeat's answer) and the caps of running jobs (from their assignments). Per
/// GPU the lowest applies; it is clamped to the GPU's accepted range and set through
/// <see cref="IGpuPowerLimits"/>. Before a GPU is first capped its limit is remembered (in memory and
/// in the state dir, so that an agent killed without a stop still gives it back at its next start) and
/// it is set back when no cap applies any more or the agent stops. A refusal is kept with its reason
/// and reported, never dropped; it is not retried until what is wanted changes. One lock guards the
/// state; NVML calls are made under it (they are short, and a cap never races its own restore).
/// </summary>
internal sealed partial class GpuPowerCaps
{
    private const string FileName = "power-limits";

    private readonly IGpuPowerLimits? _limits;
    private readonly string? _file;
    private readonly ILogger _logger;
    private readonly Lock _gate = new();
    private readonly SortedDictionary<int, GpuCap> _gpus = [];
    private readonly Dictionary<AttemptKey, (IReadOnlyList<int> Gpus, double Watts)> _jobs = [];
    private IReadOnlyList<GpuPowerOrder> _orders = [];
    private long _appliedVersion;
    private bool _ordered;

    /// <summary>
    /// Creates the caps for the GPUs behind <paramref name="limits"/> (null: this agent has no GPU
    /// control, and every cap is refused as such). Limits an earlier agent run left capped, per the
    /// file in <paramref name="stateDir"/>, are set back now.
    /// </summary>
    public GpuPowerCaps(IGpuPowerLimits? limits, string? stateDir, ILogger logger)
    {
        ArgumentNullException.ThrowIfNull(logger);
        _limits = limits;
        _logger = logger;
        _file = stateDir is null ? null : Path.Combine(stateDir, FileName);
        RestoreLeftovers();
    }

    /// <summary>True when the GPUs are simulated (their limits too).</summary>
    public bool Simulated => _limits?.Simulated == true;

    /// <summary>True once a server sent wanted caps: it reads the agent's power report.</summary>
    public bool Ordered
    {
        get
        {
            lock (_gate)
            {
                return _ordered;
            }
        }
    }

    /// <summary>The server's wanted caps, from a heartbeat's answer; applied at once.</summary>
    public void SetOrders(NodePowerOrders orders)
    {
        ArgumentNullException.ThrowIfNull(orders);
        lock (_gate)
        {
            _ordered = true;
            if (orders.Version == _appliedVersion && SameOrders(orders.Gpus, _orders))
            {
                return;
            }

            var touched = new HashSet<int>();
            foreach (var order in _orders)
            {
                touched.Add(order.Index);
            }

            foreach (var order in orders.Gpus)
            {
                touched.Add(order.Index);
            }

            _orders = orders.Gpus;
            foreach (var gpu in touched)
            {
                Apply(gpu);
            }

            _appliedVersion = orders.Version;
        }
    }

    /// <summary>An attempt starts on <paramref name="gpus"/> with a cap of <paramref name="watts"/> (null: none).</summary>
    public void JobStarting(AttemptKey key, IReadOnlyList<int> gpus, double? watts)
    {
        ArgumentNullException.ThrowIfNull(gpus);
        if (watts is not { } cap || gpus.Count == 0)
        {
            return;
        }

        lock (_gate)
        {
            _jobs[key] = (gpus, cap);
            foreach (var gpu in gpus)
            {
                Apply(gpu);
            }
        }
    }

    /// <summary>An attempt ended: its GPUs lose its cap (and get back their earlier limit unless another cap applies).</summary>
    public void JobEnded(AttemptKey key)
    {
        lock (_gate)
        {
            if (!_jobs.Remove(key, out var job))
            {
                return;
            }

            foreach (var gpu in job.Gpus)
            {
                Apply(gpu);
            }
        }
    }

    /// <summary>The agent stops: every capped GPU gets back the limit it had before.</summary>
    public void RestoreAll()
    {
        lock (_gate)
        {
            _orders = [];
            _jobs.Clear();
            foreach (var gpu in _gpus.Keys.ToArray())
            {
                Apply(gpu);
            }
        }
    }

    /// <summary>
    /// The power report for a heartbeat (and the agent's /metrics): each GPU of <paramref name="gpus"/>
    /// with its enforced limit and range from the latest sample, plus every GPU Gantry capped or tried to.
    /// </summary>
    public NodePowerReport Report(IReadOnlyList<GpuSample>? gpus)
    {
        lock (_gate)
        {
            var states = new List<GpuPowerState>();
            var seen = new HashSet<int>();
            if (gpus is not null)
            {
                foreach (var sample in gpus)
                {
                    seen.Add(sample.Index);
                    _gpus.TryGetValue(sample.Index, out var cap);
                    states.Add(State(sample.Index, cap, sample.EnforcedPowerLimitWatts ?? sample.PowerLimitWatts, sample.MinPowerLimitWatts, sample.MaxPowerLimitWatts));
                }
            }

            foreach (var (index, cap) in _gpus)
            {
                if (!seen.Contains(index))
                {
                    states.Add(State(index, cap, cap.SetWatts ?? cap.PreviousWatts, cap.MinWatts, cap.MaxWatts));
                }
            }

            states.Sort(static (a, b) => a.Index.CompareTo(b.Index));
            return new NodePowerReport { AppliedVersion = _appliedVersion, Simulated = Simulated, Gpus = states };
        }
    }

    /// <summary>
    /// The caps as Prometheus text for the agent's /metrics, appended to each sample's rendering:
    /// <c>gantry_gpu_power_cap_watts</c> for each GPU Gantry capped, <c>gantry_gpu_power_cap_refused</c>
    /// for each whose cap did not take. Empty while no GPU is capped.
    /// </summary>
    public byte[] MetricsText()
    {
        lock (_gate)
        {
            if (_gpus.Count == 0)
            {
                return [];
            }

            var simulated = Simulated ? ",simulated=\"true\"" : "";
            var text = new StringBuilder();
            text.Append("# HELP gantry_gpu_power_cap_watts The power cap Gantry set on the GPU (clamped to its range), by whose cap it is: manual, budget or job.\n");
            text.Append("# TYPE gantry_gpu_power_cap_watts gauge\n");
            foreach (var (gpu, cap) in _gpus)
            {
                if (cap.SetWatts is { } watts)
                {
                    text.Append(CultureInfo.InvariantCulture, $"gantry_gpu_power_cap_watts{{gpu=\"{gpu}\",source=\"{SourceName(cap.Source)}\"{simulated}}} {watts:R}\n");
                }
            }

            text.Append("# HELP gantry_gpu_power_cap_refused 1 when the GPU's wanted power cap (or the restore of its earlier limit) was refused; the agent log and gantry nodes show say why.\n");
            text.Append("# TYPE gantry_gpu_power_cap_refused gauge\n");
            foreach (var (gpu, cap) in _gpus)
            {
                text.Append(CultureInfo.InvariantCulture, $"gantry_gpu_power_cap_refused{{gpu=\"{gpu}\"{simulated}}} {(cap.Error is null ? 0 : 1)}\n");
            }

            return Encoding.UTF8.GetBytes(text.ToString());
        }
    }

    /// <summary>The wire name of a source (<c>manual</c>, <c>budget</c>, <c>job</c>).</summary>
    internal static string SourceName(PowerCapSource? source) => source switch
    {
        PowerCapSource.Manual => "manual",
        PowerCapSource.Budget => "budget",
        PowerCapSource.Job => "job",
        _ => "none",
    };

    private static GpuPowerState State(int index, GpuCap? cap, double? limit, double? min, double? max) => new()
    {
        Index = index,
        // Just after a change the sample may still show the old limit: what was set is what holds.
        LimitWatts = cap?.SetWatts ?? limit,
        MinWatts = min ?? cap?.MinWatts,
        MaxWatts = max ?? cap?.MaxWatts,
        CapWatts = cap?.SetWatts,
        Source = cap?.Source,
        WantedWatts = cap?.WantedWatts,
        PreviousWatts = cap?.PreviousWatts,
        Error = cap?.Error,
    };

    /// <summary>Under the lock: brings one GPU's limit to what its caps say now.</summary>
    private void Apply(int gpu)
    {
        var (wanted, source) = Wanted(gpu);
        _gpus.TryGetValue(gpu, out var cap);
        if (cap is not null && cap.WantedWatts == wanted && cap.Source == source)
        {
            // Unchanged: done, or refused for a reason that has not changed either.
            return;
        }

        if (wanted is not { } watts)
        {
            if (cap is not null)
            {
                Lift(gpu, cap);
            }

            return;
        }

        cap ??= new GpuCap();
        _gpus[gpu] = cap;
        cap.WantedWatts = watts;
        cap.Source = source;
        if (_limits is null)
        {
            cap.Error = "this agent reads no GPUs through NVML (--no-nvml), so it cannot cap their power";
            Log.CapRefused(_logger, gpu, watts, cap.Error);
            return;
        }

        var range = _limits.Read(gpu);
        (cap.MinWatts, cap.MaxWatts) = (range.MinWatts ?? cap.MinWatts, range.MaxWatts ?? cap.MaxWatts);
        if (cap.PreviousWatts is null)
        {
            if (range.LimitWatts is not { } previous)
            {
                cap.Error = $"cannot read GPU {gpu}'s power limit to restore it later: {range.Error}";
                Log.CapRefused(_logger, gpu, watts, cap.Error);
                return;
            }

            cap.PreviousWatts = previous;
            SaveOriginals();
        }

        var clamped = watts;
        if (cap.MinWatts is { } min && clamped < min)
        {
            clamped = min;
        }

        if (cap.MaxWatts is { } max && clamped > max)
        {
            clamped = max;
        }

        if (_limits.Set(gpu, clamped) is { } refused)
        {
            cap.Error = refused;
            Log.CapRefused(_logger, gpu, watts, refused);
            if (cap.SetWatts is null)
            {
                // Nothing of Gantry's is on the GPU: there is nothing to restore.
                cap.PreviousWatts = null;
                SaveOriginals();
            }

            return;
        }

        cap.SetWatts = clamped;
        cap.Error = null;
        Log.CapSet(_logger, gpu, clamped, watts, source);
    }

    private void Lift(int gpu, GpuCap cap)
    {
        if (cap.SetWatts is null || cap.PreviousWatts is not { } previous || _limits is null)
        {
            _gpus.Remove(gpu);
            SaveOriginals();
            return;
        }

        if (_limits.Set(gpu, previous) is { } refused)
        {
            cap.WantedWatts = null;
            cap.Source = null;
            cap.Error = $"cannot restore GPU {gpu}'s earlier power limit of {previous:0.###} W: {refused}";
            Log.RestoreFailed(_logger, gpu, previous, refused);
            return;
        }

        Log.CapLifted(_logger, gpu, previous);
        _gpus.Remove(gpu);
        SaveOriginals();
    }

    /// <summary>The lowest of the server's and the running jobs' caps on a GPU, and whose it is.</summary>
    private (double? Watts, PowerCapSource? Source) Wanted(int gpu)
    {
        double? watts = null;
        PowerCapSource? source = null;
        foreach (var order in _orders)
        {
            if (order.Index == gpu && (watts is null || order.Watts < watts))
            {
                (watts, source) = (order.Watts, order.Source);
            }
        }

        foreach (var job in _jobs.Values)
        {
            if (job.Gpus.Contains(gpu) && (watts is null || job.Watts < watts))
            {
                (watts, source) = (job.Watts, PowerCapSource.Job);
            }
        }

        return (watts, source);
    }

    private static bool SameOrders(IReadOnlyList<GpuPowerOrder> a, IReadOnlyList<GpuPowerOrder> b)
    {
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (a[i].Index != b[i].Index || a[i].Watts != b[i].Watts || a[i].Source != b[i].Source)
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>At start: sets back the limits a killed agent run left capped (per its file), then forgets them.</summary>
    private void RestoreLeftovers()
    {
        if (_file is null || !File.Exists(_file))
        {
            return;
        }

        try
        {
            foreach (var line in File.ReadAllLines(_file))
            {
                var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                if (parts.Length == 2
                    && int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var gpu)
                    && double.TryParse(parts[1], NumberStyles.Float, CultureInfo.InvariantCulture, out var watts)
                    && _limits is not null)
                {
                    var refused = _limits.Set(gpu, watts);
                    if (refused is null)
                    {
                        Log.LeftoverRestored(_logger, gpu, watts);
                    }
                    else
                    {
                        Log.RestoreFailed(_logger, gpu, watts, refused);
                    }
                }
            }

            File.Delete(_file);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.FileFailed(_logger, _file, ex);
        }
    }

    /// <summary>Under the lock: writes the limits to restore (one "GPU WATTS" a line), or removes the file when none.</summary>
    private void SaveOriginals()
    {
        if (_file is null)
        {
            return;
        }

        var text = new StringBuilder();
        foreach (var (gpu, cap) in _gpus)
        {
            if (cap.PreviousWatts is { } previous)
            {
                text.Append(CultureInfo.InvariantCulture, $"{gpu} {previous:R}\n");
            }
        }

        try
        {
            if (text.Length == 0)
            {
                File.Delete(_file);
                return;
            }

            var temp = _file + ".tmp";
            File.WriteAllText(temp, text.ToString());
            File.Move(temp, _file, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            Log.FileFailed(_logger, _file, ex);
        }
    }

    /// <summary>One GPU Gantry caps or tried to.</summary>
    private sealed class GpuCap
    {
        public double? WantedWatts { get; set; }

        public PowerCapSource? Source { get; set; }

        public double? SetWatts { get; set; }

        public double? PreviousWatts { get; set; }

        public double? MinWatts { get; set; }

        public double? MaxWatts { get; set; }

        public string? Error { get; set; }
    }

    private static partial class Log
    {
        [LoggerMessage(EventId = 190, Level = LogLevel.Information, Message = "GPU {Gpu} power limit set to {Watts} W ({Source} cap of {Wanted} W)")]
        public static partial void CapSet(ILogger logger, int gpu, double watts, double wanted, PowerCapSource? source);

        [LoggerMessage(EventId = 191, Level = LogLevel.Warning, Message = "GPU {Gpu} power cap of {Watts} W not applied: {Reason}")]
        public static partial void CapRefused(ILogger logger, int gpu, double watts, string reason);

        [LoggerMessage(EventId = 192, Level = LogLevel.Information, Message = "GPU {Gpu} power cap lifted: limit {Watts} W again")]
        public static partial void CapLifted(ILogger logger, int gpu, double watts);

        [LoggerMessage(EventId = 193, Level = LogLevel.Warning, Message = "GPU {Gpu} power limit could not be set back to {Watts} W: {Reason}")]
        public static partial void RestoreFailed(ILogger logger, int gpu, double watts, string reason);

        [LoggerMessage(EventId = 194, Level = LogLevel.Information, Message = "GPU {Gpu} power limit set back to {Watts} W, as an earlier agent run that capped it left it")]
        public static partial void LeftoverRestored(ILogger logger, int gpu, double watts);

        [LoggerMessage(EventId = 195, Level = LogLevel.Warning, Message = "Cannot keep the GPUs' earlier power limits in {File}")]
        public static partial void FileFailed(ILogger logger, string file, Exception exception);
    }
}

/// <summary>Sets every capped GPU's earlier power limit back when the agent stops (after its jobs have stopped).</summary>
internal sealed class PowerCapsLifetime(GpuPowerCaps caps) : Microsoft.Extensions.Hosting.IHostedService
{
    /// <inheritdoc />
    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <inheritdoc />
    public Task StopAsync(CancellationToken cancellationToken)
    {
        caps.RestoreAll();
        return Task.CompletedTask;
    }
}
