namespace Gantry.Server.PowerSaving;

/// <summary>Where a node stands in the power-saving cycle (awake, suspended, resuming).</summary>
internal enum PowerMode
{
    /// <summary>Up, as liveness says: ready, suspect, down, draining.</summary>
    Awake,

    /// <summary>Its suspend command ran (or runs now): the node's state reads suspended and its silence is expected.</summary>
    Suspended,

    /// <summary>Its resume command ran; it reads resuming until it heartbeats, or goes down past the resume timeout.</summary>
    Resuming,
}

/// <summary>
/// A node's power-saving facts, kept on its <see cref="Nodes.NodeRecord"/> and guarded by the registry's lock:
/// the cycle it is in, since when, its measured idle power and power per busy GPU (running averages
/// kept per heartbeat, O(GPUs) each), and the energy its suspensions saved.
/// </summary>
internal sealed class NodePower
{
    /// <summary>Heartbeats after which the running averages turn from a plain mean into an exponential one.</summary>
    private const int AverageWindow = 50;

    public PowerMode Mode { get; set; }

    /// <summary>When the node entered <see cref="Mode"/> (suspended at, resume started at); null while awake.</summary>
    public DateTimeOffset? Since { get; set; }

    /// <summary>A resuming node not back by then is marked down.</summary>
    public DateTimeOffset? ResumeDeadline { get; set; }

    /// <summary>The idle power the current suspension saves per second (fixed when it began, so the counter only grows).</summary>
    public double SuspendedWatts { get; set; }

    /// <summary>Energy saved by earlier suspensions (the current one is added from <see cref="Since"/> when read).</summary>
    public double SavedJoules { get; set; }

    /// <summary>The last power-saving event worth showing: a failed command, a resume that timed out. Null when none.</summary>
    public string? LastEvent { get; set; }

    /// <summary>Why the node is down after a failed resume (it reads down until it heartbeats); null otherwise.</summary>
    public string? DownReason { get; set; }

    /// <summary>True while the suspend command runs: the node is held out of placement, not yet stored as suspended.</summary>
    public bool Suspending { get; set; }

    /// <summary>When the node last became idle (awake, ready, no live attempt); null while it is not.</summary>
    public DateTimeOffset? IdleSince { get; set; }

    /// <summary>Measured node power while idle, a running average; null until measured.</summary>
    public double? IdleWatts { get; private set; }

    private int _idleSamples;

    /// <summary>Measured GPU power per busy GPU, a running average; null until measured.</summary>
    public double? WattsPerBusyGpu { get; private set; }

    private int _busySamples;

    /// <summary>Energy saved up to <paramref name="now"/>: earlier suspensions plus the current one so far.</summary>
    public double SavedAt(DateTimeOffset now) =>
        Mode == PowerMode.Suspended && !Suspending && Since is { } since && now > since
            ? SavedJoules + (SuspendedWatts * (now - since).TotalSeconds)
            : SavedJoules;

    public void ObserveIdle(double watts) => IdleWatts = Average(IdleWatts, watts, ref _idleSamples);

    public void ObserveBusy(double wattsPerGpu) => WattsPerBusyGpu = Average(WattsPerBusyGpu, wattsPerGpu, ref _busySamples);

    /// <summary>A plain mean of the first samples, then an exponential average that follows change over about <see cref="AverageWindow"/> samples.</summary>
    private static double Average(double? current, double sample, ref int samples)
    {
        if (samples < AverageWindow)
        {
            samples++;
        }

        return current is { } c ? c + ((sample - c) / samples) : sample;
    }
}
