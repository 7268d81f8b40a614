using Gantry.Agent.Configuration;
using Gantry.Agent.Sampling;
using Gantry.Telemetry.Collection;
using Gantry.Telemetry.Model;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Benchmarks;

/// <summary>
/// Real samples of this machine taken the way <c>gantry agent --simulate-gpus 8</c> takes them:
/// the agent's own collector choice (procfs/sysfs here) and <see cref="Sampler"/>, with eight
/// simulated H100s. Two samples a little over a second apart, so the second carries what needs
/// a previous one (CPU utilization in heartbeats, node power, simulated GPU steps).
/// </summary>
internal static class NodeSample
{
    public const int Gpus = 8;

    public static async Task<(NodeSnapshot Previous, NodeSnapshot Current)> TakeAsync(CancellationToken cancellationToken)
    {
        var options = new AgentOptions { SimulateGpus = Gpus };
        var set = CollectorFactory.Create(options, NullLoggerFactory.Instance, TimeProvider.System);
        var sampler = new Sampler(set, new SamplerSettings(TimeSpan.FromSeconds(4), null), TimeProvider.System, NullLogger<Sampler>.Instance);
        var previous = await sampler.SampleAsync(cancellationToken).ConfigureAwait(false);
        await Task.Delay(TimeSpan.FromSeconds(1.1), cancellationToken).ConfigureAwait(false);
        var current = await sampler.SampleAsync(cancellationToken).ConfigureAwait(false);
        return (previous, current);
    }
}
