using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Server.Jobs;
using Gantry.Server.Tests.Jobs;

namespace Gantry.Server.Tests.Services;

/// <summary>A service's lifecycle in the job queue: restart policy with delay and jitter, giving up, stop, node loss, health, names, a server restart.</summary>
public sealed class ServiceQueueTests
{
    private static JobSubmission Service(string name = "web", int attempts = 3, double interval = 1800, double delay = 10, HealthCheck? health = null) => new()
    {
        Name = name,
        Command = ["serve"],
        Kind = JobKind.Service,
        Resources = new ResourceRequest { Gpus = 1, Cpus = 0 },
        Service = new ServiceSpec
        {
            Restart = new RestartPolicy { Attempts = attempts, IntervalSeconds = interval, DelaySeconds = delay },
            Health = health,
            Port = 8000,
        },
    };

    /// <summary>Nodes stay ready over the simulated minutes without heartbeats.</summary>
    private static void Quiet(Gantry.Server.Configuration.ServerOptions o)
    {
        o.HeartbeatInterval = TimeSpan.FromHours(12);
        o.DownAfter = TimeSpan.FromDays(3);
    }

    private static Assignment Placed(Features f, string node, long id)
    {
        Assert.Equal(1, f.Pass());
        return Assert.Single(f.Assignments(node), a => a.JobId == id);
    }

    private static void Started(Features f, string node, Assignment a) =>
        Assert.Equal(ReportOutcome.Accepted, f.Jobs.Report(node, a.JobId, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = f.Clock.GetUtcNow() }));

    private static void Exited(Features f, string node, Assignment a, int code) =>
        Assert.Equal(ReportOutcome.Accepted, f.Jobs.Report(node, a.JobId, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Exited, ExitCode = code, Time = f.Clock.GetUtcNow() }));

    [Fact]
    public void EndAttempt_ServiceExits_RestartsAfterDelayPlusJitterOnTheNode()
    {
        using var f = Features.Create();
        f.Jobs.ServiceRandom = new Random(7);
        var jitter = new Random(7).NextDouble();
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(delay: 10)).FirstId;
        var first = Placed(f, node, id);
        Assert.Equal(JobKind.Service, first.Kind);
        Assert.Equal(8000, first.Service!.Port);
        Started(f, node, first);
        Assert.Equal(ServiceHealth.Healthy, f.Jobs.GetJob(id)!.ServiceStatus!.Health); // no check: running is healthy
        var exitedAt = f.Clock.GetUtcNow();
        Exited(f, node, first, 1);

        var job = f.Jobs.GetJob(id)!;
        Assert.Equal(JobState.Pending, job.State);
        var status = job.ServiceStatus!;
        Assert.Equal(ServiceHealth.Restarting, status.Health);
        Assert.Equal(1, status.Restarts);
        Assert.Equal("exit code 1", status.Message);
        var due = exitedAt + TimeSpan.FromSeconds(10 * (1 + (0.25 * jitter)));
        Assert.Equal(due, status.NextStartAt);
        Assert.StartsWith("restarting in ", job.Reason, StringComparison.Ordinal);
        Assert.Contains("after exit code 1 (restart 1 of 3 within 30m)", job.Reason, StringComparison.Ordinal);

        // Not before its time, however many passes run.
        f.Clock.Advance(due - exitedAt - TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, f.Jobs.ReleaseRestarts());
        Assert.Equal(0, f.Pass());
        f.Clock.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, f.Jobs.ReleaseRestarts());
        var second = Placed(f, node, id);
        Assert.Equal(2, second.Attempt);
        Started(f, node, second);
        Assert.Equal(JobState.Running, f.Jobs.GetJob(id)!.State);
        Assert.Equal(0, f.Jobs.RestartingCount);
    }

    [Fact]
    public void ReleaseRestarts_Restart_GoesBackToItsNodeWhenItFitsElseAnother()
    {
        using var f = Features.Create(Quiet);
        var a = f.Register("a", gpus: 1);
        var b = f.Register("b", gpus: 1);
        var batch = f.Submit();
        Assert.Equal(1, f.Pass());
        var onA = Assert.Single(f.Assignments(a));
        Assert.Equal(batch, onA.JobId);
        var id = f.Jobs.Submit(Service(delay: 0)).FirstId;
        var first = Placed(f, b, id);
        Started(f, b, first);
        f.Run(a, onA); // a is free again: the best fit by node order, were it not for the preference

        Exited(f, b, first, 1);
        f.Jobs.ReleaseRestarts();
        var second = Placed(f, b, id);
        Started(f, b, second);

        // Its node taken meanwhile: any other that fits.
        var filler = f.Submit();
        Assert.Equal(1, f.Pass());
        var onA2 = Assert.Single(f.Assignments(a));
        Assert.Equal(filler, onA2.JobId);
        Exited(f, b, second, 1);
        var other = f.Submit(priority: 90);
        Assert.Equal(1, f.Pass()); // the service waits to be released: the batch job takes b
        Assert.Contains(f.Assignments(b), x => x.JobId == other);
        f.Run(a, onA2);
        f.Jobs.ReleaseRestarts();
        var third = Placed(f, a, id);
        Assert.Equal(3, third.Attempt);
    }

    [Fact]
    public void EndAttempt_ExitZero_RestartsToo()
    {
        using var f = Features.Create();
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(delay: 0)).FirstId;
        var a = Placed(f, node, id);
        Started(f, node, a);
        Exited(f, node, a, 0);

        Assert.Equal(ServiceHealth.Restarting, f.Jobs.GetJob(id)!.ServiceStatus!.Health);
        Assert.Equal(1, f.Jobs.ReleaseRestarts());
        Assert.Equal(2, Placed(f, node, id).Attempt);
    }

    [Fact]
    public void EndAttempt_MoreExitsThanAttemptsWithinInterval_Fails()
    {
        using var f = Features.Create();
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(attempts: 2, delay: 0)).FirstId;
        for (var i = 0; i < 2; i++)
        {
            var a = Placed(f, node, id);
            Started(f, node, a);
            Exited(f, node, a, 1);
            f.Jobs.ReleaseRestarts();
        }

        var last = Placed(f, node, id);
        Started(f, node, last);
        Exited(f, node, last, 3);

        var job = f.Jobs.GetJob(id)!;
        Assert.Equal(JobState.Failed, job.State);
        Assert.Equal("restarted 2 times within 30m; giving up after exit code 3", job.Reason);
        Assert.Null(job.ServiceStatus!.Health);
        Assert.Equal(2, job.ServiceStatus.Restarts);
        Assert.Equal(0, f.Jobs.PendingCount());
    }

    [Fact]
    public void EndAttempt_RestartsOlderThanInterval_DoNotCount()
    {
        using var f = Features.Create(Quiet);
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(attempts: 1, interval: 60, delay: 0)).FirstId;
        var a = Placed(f, node, id);
        Started(f, node, a);
        Exited(f, node, a, 1);
        f.Jobs.ReleaseRestarts();

        f.Clock.Advance(TimeSpan.FromSeconds(61));
        var b = Placed(f, node, id);
        Started(f, node, b);
        Exited(f, node, b, 1);
        Assert.Equal(ServiceHealth.Restarting, f.Jobs.GetJob(id)!.ServiceStatus!.Health);
        f.Jobs.ReleaseRestarts();

        // Within the minute: the second restart in the interval is one too many.
        var c = Placed(f, node, id);
        Started(f, node, c);
        Exited(f, node, c, 1);
        Assert.Equal(JobState.Failed, f.Jobs.GetJob(id)!.State);
    }

    [Fact]
    public void Cancel_RunningService_EndsCancelledAndIsNotRestarted()
    {
        using var f = Features.Create();
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(delay: 0)).FirstId;
        var a = Placed(f, node, id);
        Started(f, node, a);

        f.Jobs.Cancel(id, out _);
        Assert.Equal(ReportOutcome.Accepted, f.Jobs.Report(node, id, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Stopped, Signal = "SIGTERM", Time = f.Clock.GetUtcNow() }));

        Assert.Equal(JobState.Cancelled, f.Jobs.GetJob(id)!.State);
        Assert.Equal(0, f.Jobs.ReleaseRestarts());
        Assert.Equal(0, f.Pass());
        Assert.Equal(0, f.Jobs.PendingCount());
    }

    [Fact]
    public void Cancel_RestartingService_LeavesTheRestartSet()
    {
        using var f = Features.Create();
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(delay: 60)).FirstId;
        var a = Placed(f, node, id);
        Started(f, node, a);
        Exited(f, node, a, 1);
        Assert.Equal(1, f.Jobs.RestartingCount);

        f.Jobs.Cancel(id, out _);

        Assert.Equal(JobState.Cancelled, f.Jobs.GetJob(id)!.State);
        Assert.Equal(0, f.Jobs.RestartingCount);
        f.Clock.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(0, f.Jobs.ReleaseRestarts());
    }

    [Fact]
    public void Sweep_NodeOfServiceLost_PlacedOnAnotherAtOnceWithoutARestart()
    {
        using var f = Features.Create();
        var a = f.Register("a", gpus: 1);
        var id = f.Jobs.Submit(Service(attempts: 0)).FirstId;
        var first = Placed(f, a, id);
        Started(f, a, first);
        var b = f.Register("b", gpus: 1);

        // a falls silent; b keeps beating.
        for (var i = 0; i < 20; i++)
        {
            f.Clock.Advance(TimeSpan.FromSeconds(10));
            f.Nodes.Heartbeat(b, new HeartbeatRequest());
            f.Liveness.Sweep();
        }

        var job = f.Jobs.GetJob(id)!;
        Assert.Equal(JobState.Pending, job.State);
        Assert.Equal(ServiceHealth.Restarting, job.ServiceStatus!.Health);
        Assert.StartsWith("node a lost", job.ServiceStatus.Message, StringComparison.Ordinal);
        Assert.Equal(0, job.ServiceStatus.Restarts);
        Assert.Null(job.ServiceStatus.NextStartAt);

        var second = Placed(f, b, id);
        Started(f, b, second);
        job = f.Jobs.GetJob(id)!;
        Assert.Equal(JobState.Running, job.State);
        Assert.Equal("b", job.ServiceStatus!.Address!.NodeId);
        Assert.Equal(8000, job.ServiceStatus.Address.Port);
    }

    [Fact]
    public void ObserveServices_Reports_ShowAsHealthOfTheLiveAttempt()
    {
        using var f = Features.Create();
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(health: new HealthCheck { Kind = HealthCheckKind.Http, Port = 8000, Path = "/health" })).FirstId;
        var a = Placed(f, node, id);
        Assert.Equal(ServiceHealth.Starting, f.Jobs.GetJob(id)!.ServiceStatus!.Health);
        Started(f, node, a);
        Assert.Equal(ServiceHealth.Starting, f.Jobs.GetJob(id)!.ServiceStatus!.Health);

        f.Jobs.ObserveServices(node, [new ServiceReport { JobId = id, Attempt = a.Attempt, Health = ServiceHealth.Healthy }]);
        Assert.Equal(ServiceHealth.Healthy, f.Jobs.GetJob(id)!.ServiceStatus!.Health);

        // Another node's word, or an old attempt's, changes nothing.
        f.Jobs.ObserveServices("other", [new ServiceReport { JobId = id, Attempt = a.Attempt, Health = ServiceHealth.Unhealthy }]);
        f.Jobs.ObserveServices(node, [new ServiceReport { JobId = id, Attempt = a.Attempt + 1, Health = ServiceHealth.Unhealthy }]);
        Assert.Equal(ServiceHealth.Healthy, f.Jobs.GetJob(id)!.ServiceStatus!.Health);

        f.Jobs.ObserveServices(node, [new ServiceReport { JobId = id, Attempt = a.Attempt, Health = ServiceHealth.Unhealthy, Message = "GET /health: 503" }]);
        var status = f.Jobs.GetJob(id)!.ServiceStatus!;
        Assert.Equal(ServiceHealth.Unhealthy, status.Health);
        Assert.Equal("GET /health: 503", status.Message);

        // The agent stops it for failing its checks: a restart like any other end.
        Assert.Equal(ReportOutcome.Accepted, f.Jobs.Report(node, id, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Unhealthy, Message = "3 failed checks", Time = f.Clock.GetUtcNow() }));
        status = f.Jobs.GetJob(id)!.ServiceStatus!;
        Assert.Equal(ServiceHealth.Restarting, status.Health);
        Assert.Equal("unhealthy: 3 failed checks", status.Message);
    }

    [Fact]
    public void Submit_NameOfALiveService_IsRefusedUntilItEnds()
    {
        using var f = Features.Create();
        var id = f.Jobs.Submit(Service("api")).FirstId;

        var ex = Assert.Throws<ServiceNameTakenException>(() => f.Jobs.Submit(Service("api")));
        Assert.Contains("'api'", ex.Message, StringComparison.Ordinal);
        f.Jobs.Submit(Service("other"));

        f.Jobs.Cancel(id, out _);
        f.Jobs.Submit(Service("api"));
        Assert.Equal(2, f.Jobs.ListServices(null, 10).Items.Count);
        Assert.Equal("api", Assert.Single(f.Jobs.ListServices(null, 10, "api").Items).Name);
    }

    [Fact]
    public void Restart_ServerRestartsWhileServiceWaits_StillRestartsAtItsTime()
    {
        var f = Features.Create(Quiet);
        var node = f.Register("g1", gpus: 1);
        var id = f.Jobs.Submit(Service(attempts: 2, delay: 100)).FirstId;
        var a = Placed(f, node, id);
        Started(f, node, a);
        Exited(f, node, a, 1);
        var due = f.Jobs.GetJob(id)!.ServiceStatus!.NextStartAt!.Value;

        using var g = f.Restart();
        Assert.Equal(1, g.Jobs.RestartingCount);
        var status = g.Jobs.GetJob(id)!.ServiceStatus!;
        Assert.Equal(ServiceHealth.Restarting, status.Health);
        Assert.Equal(due, status.NextStartAt!.Value, TimeSpan.FromMilliseconds(1)); // stored in milliseconds
        Assert.Equal(1, status.Restarts);
        Assert.Throws<ServiceNameTakenException>(() => g.Jobs.Submit(Service()));

        g.Clock.Advance(due - g.Clock.GetUtcNow());
        Assert.Equal(1, g.Jobs.ReleaseRestarts());
        node = g.Register("g1", gpus: 1);
        var b = Placed(g, node, id);
        Started(g, node, b);
        Exited(g, node, b, 1);
        g.Jobs.ReleaseRestarts();
        g.Clock.Advance(TimeSpan.FromSeconds(200));
        g.Jobs.ReleaseRestarts();
        var c = Placed(g, node, id);
        Started(g, node, c);
        Exited(g, node, c, 1);

        // The restart before the server's restart still counts: two within the interval, then it gives up.
        Assert.Equal(JobState.Failed, g.Jobs.GetJob(id)!.State);
    }
}
