using System.Reflection;
using Gantry.Agent.Configuration;
using Gantry.Agent.Health;
using Gantry.Agent.Jobs;
using Gantry.Agent.Sampling;
using Gantry.Core.Protocol;
using Gantry.Telemetry.Model;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Gantry.Agent.ControlPlane;

/// <summary>
/// Joins the control plane and keeps the node's lease: after the first sample (so the GPUs are
/// known) it kills what an earlier agent run left behind, registers with the join token, then sends
/// a heartbeat every interval the server asked for. A 401 or 404 (the server forgot the node, or
/// its credential) means register again; an unreachable server means backoff with jitter while
/// sampling, serving and running jobs go on. Heartbeats carry the GPUs' health
/// (<see cref="GpuHealthReporter"/>) to a server that said it reads it; the XIDs in one are
/// forgotten once the server answered it, and carried again otherwise.
/// </summary>
internal sealed class ControlPlaneWorker(
    ControlPlaneClient client,
    NodeSession session,
    ServerConnection connection,
    JobRunner runner,
    AttemptOutbox outbox,
    SnapshotPublisher publisher,
    GpuHealthReporter health,
    AttemptEnergyMeter meter,
    ContainerJobs containers,
    Services.ServiceMonitor serviceMonitor,

    Power.GpuPowerCaps powerCaps,
    AgentOptions options,
    IServer server,
    IHostApplicationLifetime lifetime,
    TimeProvider time,
    ILogger<ControlPlaneWorker> logger) : BackgroundService
{
    private static readonly string AgentVersion =
        typeof(ControlPlaneWorker).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "unknown";

    private readonly string _nodeIdPath = Path.Combine(options.EffectiveStateDir, "node-id");
    private readonly string _joinToken = options.ResolveJoinToken() ?? "";
    private NodeSnapshot? _summarized;
    private NodeSummary? _summary;

    // Whether the server answering now reads heartbeats' health: an earlier version refuses it.
    private bool _acceptsHealth;
    private string? _healthRefusal;

    // Whether the server answering now reads heartbeats' power report: it says so by sending caps.
    private bool _acceptsPower;

    // GPUs in the latest registration: 0 when the GPU source had failed then, and the agent registers again once it has them.
    private int _registeredGpus;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        try
        {
            // Kestrel has bound its port (the advertised URL needs it) and the GPUs are known.
            var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            using (lifetime.ApplicationStarted.Register(() => started.TrySetResult()))
            {
                await started.Task.WaitAsync(stoppingToken).ConfigureAwait(false);
            }

            await publisher.FirstAsync(stoppingToken).ConfigureAwait(false);
            runner.RecoverOrphans();

            // Container runtimes for the node's facts, and the containers an earlier run left (docs/containers-jobs.md).
            await containers.DetectAsync(stoppingToken).ConfigureAwait(false);
            await containers.SweepAsync(ReadNodeId(), stoppingToken).ConfigureAwait(false);
            WarnIfJoinTokenFileShared();
            while (!stoppingToken.IsCancellationRequested)
            {
                try
                {
                    var registration = await RegisterAsync(stoppingToken).ConfigureAwait(false);

                    // Services: a service's checks default to the host this node advertises.
                    serviceMonitor.NodeHost = AdvertisedHost();
                    runner.NodeId = registration.NodeId;
                    session.Set(registration);
                    await HeartbeatAsync(registration, stoppingToken).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OperationCanceledException)
                {
                    AgentLog.LoopFailed(logger, ex);
                    await Task.Delay(TimeSpan.FromSeconds(1), time, stoppingToken).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested)
        {
            // The agent is stopping.
        }
    }

    private async Task<Registration> RegisterAsync(CancellationToken cancellationToken)
    {
        var backoff = client.NewBackoff();
        int? refusedWith = null;
        while (true)
        {
            var request = RegisterRequest(ReadNodeId());
            var result = await client.RegisterAsync(request, _joinToken, cancellationToken).ConfigureAwait(false);
            if (result is { Ok: true, Value: { } answer })
            {
                _registeredGpus = request.Gpus.Count;
                connection.Succeeded();
                _acceptsHealth = answer.AcceptsHealth;
                meter.ServerAccepts = answer.AcceptsEnergy;
                SaveNodeId(answer.NodeId);
                var interval = TimeSpan.FromSeconds(Math.Clamp(double.IsFinite(answer.HeartbeatIntervalSeconds) ? answer.HeartbeatIntervalSeconds : 5, 1, 300));
                AgentLog.Registered(logger, result.Server ?? client.Follower.Current, answer.NodeId, options.EffectiveNodeName, interval.TotalSeconds);
                return new Registration(answer.NodeId, answer.Credential, interval);
            }

            if (result.Transient)
            {
                connection.Failed(result.Error ?? new HttpRequestException($"HTTP {result.Status}: {result.Detail}"));
            }
            else if (refusedWith != result.Status)
            {
                // A wrong join token or a request the server does not understand: said once, then retried quietly.
                connection.Succeeded();
                refusedWith = result.Status;
                AgentLog.RegistrationRefused(logger, result.Status, result.Detail ?? "");
            }

            await connection.WaitOutBackoffAsync(backoff.Next(), cancellationToken).ConfigureAwait(false);
        }
    }

    private async Task HeartbeatAsync(Registration registration, CancellationToken cancellationToken)
    {
        var backoff = client.NewBackoff();
        var delay = registration.HeartbeatInterval;
        while (true)
        {
            await Task.WhenAny(Task.Delay(delay, time, cancellationToken), registration.Lost).ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            if (registration.Lost.IsCompleted)
            {
                return;
            }

            // Registered while the GPU source failed (NVML slow to answer its first call, say): the server
            // holds the node with no GPUs and would never place a GPU job there. Registering again (same
            // node id, running attempts listed) gives it the GPUs.
            if (_registeredGpus == 0 && publisher.Latest?.Snapshot.Gpus.Gpus.Count is > 0 and var found)
            {
                AgentLog.GpusFoundLate(logger, found);
                session.Invalidate(registration);
                return;
            }

            var request = new HeartbeatRequest { Summary = Summary(), RunningAttempts = RunningAttempts() };
            long acknowledge = 0;
            if (_acceptsHealth)
            {
                (request.Health, acknowledge) = health.Build(publisher.Latest?.Snapshot);
            }

            if (meter.ServerAccepts)
            {
                request.AttemptEnergy = meter.Current();
            }

            // Services (docs/service-health.md): one report per running service attempt; null when none runs.
            request.Services = serviceMonitor.Reports();

            if (_acceptsPower)
            {
                request.Power = powerCaps.Report(publisher.Latest?.Snapshot.Gpus.Gpus);
            }

            var result = await client.HeartbeatAsync(registration.NodeId, registration.Credential, request, cancellationToken).ConfigureAwait(false);
            if (result.Status == 400 && request.Power is not null)
            {
                // As with health below: a server of an earlier version does not read the power report.
                _acceptsPower = false;
                request.Power = null;
                result = await client.HeartbeatAsync(registration.NodeId, registration.Credential, request, cancellationToken).ConfigureAwait(false);
            }

            if (result.Status == 400 && request.Health is not null)
            {
                // A server of an earlier version (a replica not yet upgraded) refuses what it does not
                // know: the heartbeat goes again at once without health, which waits for a server that asks.
                if (result.Detail != _healthRefusal)
                {
                    _healthRefusal = result.Detail;
                    AgentLog.HealthRefused(logger, result.Detail ?? "");
                }

                _acceptsHealth = false;
                request.Health = null;
                result = await client.HeartbeatAsync(registration.NodeId, registration.Credential, request, cancellationToken).ConfigureAwait(false);
            }

            if (result is { Ok: true, Value: { } answer })
            {
                if (request.Health is not null)
                {
                    health.Acknowledge(acknowledge);
                }

                _acceptsHealth = answer.AcceptsHealth;
                meter.ServerAccepts = answer.AcceptsEnergy;

                _acceptsPower = answer.Power is not null;
                if (answer.Power is { } orders)
                {
                    powerCaps.SetOrders(orders);
                }
            }

            if (result.Status is 401 or 404)
            {
                connection.Succeeded();
                AgentLog.Reregistering(logger, result.Status);
                session.Invalidate(registration);
                return;
            }

            if (result.Transient)
            {
                connection.Failed(result.Error ?? new HttpRequestException($"HTTP {result.Status}: {result.Detail}"));

                // Retry sooner than the interval while the lease is at stake, but never hammer.
                delay = TimeSpan.FromTicks(Math.Min(backoff.Next().Ticks, registration.HeartbeatInterval.Ticks));
                continue;
            }

            connection.Succeeded();
            backoff.Reset();
            delay = registration.HeartbeatInterval;
        }
    }

    /// <summary>What the node runs as the server must see it: running processes and ends not yet delivered.</summary>
    private List<AttemptRef> RunningAttempts()
    {
        var running = runner.Running();
        foreach (var key in outbox.Undelivered())
        {
            if (!running.Exists(r => r.JobId == key.JobId && r.Attempt == key.Attempt && r.Epoch == key.Epoch))
            {
                running.Add(key.ToRef());
            }
        }

        return running;
    }

    private NodeSummary? Summary()
    {
        if (publisher.Latest?.Snapshot is not { } latest)
        {
            return null;
        }

        if (!ReferenceEquals(latest, _summarized))
        {
            _summary = NodeReport.Summary(latest, _summarized);
            _summarized = latest;
        }

        return _summary;
    }

    private RegisterNodeRequest RegisterRequest(string? nodeId)
    {
        var snapshot = publisher.Latest?.Snapshot;
        return new RegisterNodeRequest
        {
            NodeId = nodeId,
            Name = options.EffectiveNodeName,
            CpuCores = snapshot?.Host.Cpu?.LogicalCores is > 0 and var cores ? cores : Environment.ProcessorCount,
            MemoryBytes = snapshot?.Host.Memory is { } memory ? (long)memory.TotalBytes : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes,
            Os = NodeReport.OperatingSystemName,
            Architecture = NodeReport.ArchitectureName,
            Labels = NodeLabels(),
            Gpus = snapshot is null ? [] : NodeReport.Inventory(snapshot.Gpus),
            AgentVersion = AgentVersion,
            AgentUrl = AdvertiseUrl(),
            RunningAttempts = RunningAttempts(),
            ContainerRuntimes = containers.Found,
        };
    }

    /// <summary>
    /// The operator's labels and the agent's own: whom jobs run as (docs/jobs-as-owners.md), over a
    /// <c>--labels</c> entry of the same key; left out when the operator's labels fill every place.
    /// </summary>
    private Dictionary<string, string> NodeLabels()
    {
        var labels = new Dictionary<string, string>(options.Labels, StringComparer.Ordinal);
        if (labels.Count < LabelRules.MaxLabels || labels.ContainsKey(JobUsers.FactLabel))
        {
            labels[JobUsers.FactLabel] = runner.Users.Fact;
        }

        return labels;
    }

    /// <summary>The host part of <see cref="AdvertiseUrl"/> (services' checks default to it).</summary>
    private string AdvertisedHost() =>
        Uri.TryCreate(AdvertiseUrl(), UriKind.Absolute, out var uri) && uri.Host.Length > 0 ? uri.IdnHost : "127.0.0.1";

    private string AdvertiseUrl()
    {
        if (options.AdvertiseUrl is { } configured)
        {
            return configured.ToString().TrimEnd('/');
        }

        // The bound address (the real port when listening on :0); a wildcard address is no place to
        // connect to, so the host name stands in for it.
        var bound = server.Features.Get<IServerAddressesFeature>()?.Addresses.FirstOrDefault();
        if (bound is null || !Uri.TryCreate(bound, UriKind.Absolute, out var uri))
        {
            return $"http://{options.Listen}";
        }

        var host = uri.Host is "0.0.0.0" or "[::]" or "::" ? options.EffectiveNodeName : uri.Host;
        return new UriBuilder(uri.Scheme, host, uri.Port).Uri.ToString().TrimEnd('/');
    }

    /// <summary>A join token file other users can read lets a job (docs/jobs-as-owners.md) join nodes of its own.</summary>
    private void WarnIfJoinTokenFileShared()
    {
        const UnixFileMode shared = UnixFileMode.GroupRead | UnixFileMode.OtherRead;
        if (options.JoinTokenFile is { } path && !OperatingSystem.IsWindows() && File.Exists(path) && (File.GetUnixFileMode(path) & shared) != 0)
        {
            AgentLog.JoinTokenFileShared(logger, path);
        }
    }

    private string? ReadNodeId()
    {
        try
        {
            var text = File.Exists(_nodeIdPath) ? File.ReadAllText(_nodeIdPath).Trim() : "";
            return text.Length > 0 ? text : null;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private void SaveNodeId(string nodeId)
    {
        if (ReadNodeId() == nodeId)
        {
            return;
        }

        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(_nodeIdPath)!);
            var temp = _nodeIdPath + ".tmp";
            File.WriteAllText(temp, nodeId + "\n");
            if (!OperatingSystem.IsWindows())
            {
                File.SetUnixFileMode(temp, StateDirectory.FileMode);
            }

            File.Move(temp, _nodeIdPath, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            AgentLog.NodeIdNotSaved(logger, _nodeIdPath, ex);
        }
    }
}
