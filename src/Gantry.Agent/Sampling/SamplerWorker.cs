using Gantry.Agent.Configuration;
using Gantry.Agent.Jobs;
using Gantry.Telemetry.Collection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.Sampling;

/// <summary>
/// Samples the node on its own interval (first sample at once) and publishes each snapshot.
/// A failing tick is logged and the loop goes on. Each sample also goes to the job energy meter.
/// </summary>
internal sealed class SamplerWorker(Sampler sampler, SnapshotPublisher publisher, AttemptEnergyMeter meter, AgentOptions options, TimeProvider timeProvider, ILogger<SamplerWorker> logger)
    : BackgroundService
{
    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Interval, timeProvider);
        do
        {
            try
            {
                var snapshot = await sampler.SampleAsync(stoppingToken).ConfigureAwait(false);
                publisher.Publish(snapshot, options.DcgmCompat);
                meter.Sample(snapshot);
                if (snapshot.Sequence == 1)
                {
                    AgentLog.FirstSample(logger, snapshot.Gpus.Gpus.Count, snapshot.Gpus.Status, snapshot.Gpus.Message ?? "");
                    AgentRuntime.ReleaseStartupMemory();
                }
            }
            catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                AgentLog.SampleFailed(logger, ex);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }
}
