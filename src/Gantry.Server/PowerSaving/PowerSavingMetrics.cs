using Gantry.Server.Nodes;
using Gantry.Telemetry.Exposition;

namespace Gantry.Server.PowerSaving;

/// <summary>
/// Power saving on the server's <c>/metrics</c>: the energy saved (fleet, and per node that ever saved),
/// and the suspend and resume commands run. The energy figures come from one
/// <see cref="PowerSavingSnapshot"/> copied under the registry's lock; nothing is held while writing.
/// </summary>
internal sealed class PowerSavingMetrics
{
    private long _suspendOk;
    private long _suspendFailed;
    private long _resumeOk;
    private long _resumeFailed;

    /// <summary>Counts a command's run.</summary>
    public void Command(string command, bool succeeded)
    {
        switch (command, succeeded)
        {
            case ("suspend", true): Interlocked.Increment(ref _suspendOk); break;
            case ("suspend", false): Interlocked.Increment(ref _suspendFailed); break;
            case ("resume", true): Interlocked.Increment(ref _resumeOk); break;
            default: Interlocked.Increment(ref _resumeFailed); break;
        }
    }

    public void Render(PrometheusTextWriter w, PowerSavingSnapshot snapshot)
    {
        ArgumentNullException.ThrowIfNull(w);
        ArgumentNullException.ThrowIfNull(snapshot);

        // The fleet's series has no node label; each node's has node and node_id (sum the fleet's, not both).
        w.Family("gantry_server_energy_saved_joules_total", "counter", "Energy saved by suspending idle nodes: each node's measured idle power times the time it was suspended. Without labels: the fleet; with node and node_id: that node.");
        w.Begin().Value(snapshot.FleetJoules);
        foreach (var (id, name, joules) in snapshot.Nodes)
        {
            w.Begin().Label("node", name).Label("node_id", id).Value(joules);
        }

        w.Family("gantry_server_power_commands_total", "counter", "Suspend and resume commands run, by command and result (ok, failed: a non-zero exit, a failure to start, or a run past --power-command-timeout).");
        w.Begin().Label("command", "suspend").Label("result", "ok").Value(Interlocked.Read(ref _suspendOk));
        w.Begin().Label("command", "suspend").Label("result", "failed").Value(Interlocked.Read(ref _suspendFailed));
        w.Begin().Label("command", "resume").Label("result", "ok").Value(Interlocked.Read(ref _resumeOk));
        w.Begin().Label("command", "resume").Label("result", "failed").Value(Interlocked.Read(ref _resumeFailed));
    }
}
