using Gantry.Core.Jobs;
using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Server.Configuration;
using Gantry.Server.FairShare;
using Gantry.Server.Jobs;
using Gantry.Server.Live;
using Gantry.Server.Logs;
using Gantry.Server.Nodes;
using Gantry.Server.Observability;
using Gantry.Server.Storage;
using Gantry.Server.Storage.Sqlite;
using Gantry.Testing;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Server.Tests.Jobs;

/// <summary>
/// The node registry, job queue and logs over a real SQLite store in a temp dir, on a fake clock, without
/// Kestrel or workers: tests run scheduling passes and sweeps themselves.
/// </summary>
internal sealed class Features : IDisposable
{
    private readonly bool _ownsDir;

    private readonly IAccountLimits? _limits;

    private Features(string dataDir, ServerOptions options, FakeTimeProvider clock, bool ownsDir, IAccountLimits? limits = null)
    {
        _limits = limits;
        DataDir = dataDir;
        Options = options;
        Clock = clock;
        _ownsDir = ownsDir;
        Store = SqliteStateStore.Open(options.DatabasePath);
        var state = Store.Load();
        var signals = new ClusterSignals();
        var metrics = new ServerMetrics();
        Nodes = new NodeRegistry(Store, state, options, clock, signals, metrics, NullLogger<NodeRegistry>.Instance);
        Jobs = new JobQueue(Store, state, Nodes, options, clock, signals, metrics, NullLogger<JobQueue>.Instance, limits: limits);
        Logs = new JobLogs(Store, Jobs, options, metrics);
        Liveness = new LivenessWorker(Nodes, Jobs, options, clock, NullLogger<LivenessWorker>.Instance);
        Retention = new JobRetentionWorker(Store, Jobs, options, clock, NullLogger<JobRetentionWorker>.Instance);
    }

    public string DataDir { get; }

    public ServerOptions Options { get; }

    public FakeTimeProvider Clock { get; }

    public IStateStore Store { get; }

    public NodeRegistry Nodes { get; }

    public JobQueue Jobs { get; }

    public JobLogs Logs { get; }

    public LivenessWorker Liveness { get; }

    public JobRetentionWorker Retention { get; }

    public static Features Create(Action<ServerOptions>? configure = null, IAccountLimits? limits = null)
    {
        var dir = Directory.CreateTempSubdirectory("gantry-features-").FullName;
        var options = new ServerOptions { DataDir = dir };
        configure?.Invoke(options);
        return new Features(dir, options, new FakeTimeProvider(), ownsDir: true, limits);
    }

    /// <summary>The same data dir and clock, as a restarted server sees them; this instance's store is closed.</summary>
    public Features Restart()
    {
        Store.Dispose();
        return new Features(DataDir, Options, Clock, ownsDir: true, _limits);
    }

    public string Register(string name, int gpus, IReadOnlyList<AttemptRef>? running = null)
    {
        var inventory = new GpuInventory[gpus];
        for (var i = 0; i < gpus; i++)
        {
            inventory[i] = new GpuInventory { Index = i, Uuid = $"GPU-{name}-{i}", Model = "NVIDIA H100", MemoryBytes = 80L << 30 };
        }

        var response = Nodes.Register(
            new RegisterNodeRequest
            {
                NodeId = name,
                Name = name,
                CpuCores = 64,
                MemoryBytes = 512L << 30,
                Os = "linux",
                Architecture = "x86_64",
                Gpus = inventory,
                RunningAttempts = running ?? [],
            },
            out var orphaned);
        Jobs.LoseAttempts(orphaned, "the node's agent restarted and no longer runs it");
        return response.NodeId;
    }

    public long Submit(int gpus = 1, int priority = 50, ArrayRange? array = null, int retries = 0) =>
        Jobs.Submit(new JobSubmission { Command = ["true"], Resources = new ResourceRequest { Gpus = gpus, Cpus = 0 }, Priority = priority, Array = array, Retries = retries }).FirstId;

    /// <summary>One scheduling pass as the scheduler worker runs it; returns how many were placed.</summary>
    public int Pass()
    {
        if (!Nodes.AnySchedulable())
        {
            Jobs.NoNodeReady();
            return 0;
        }

        var (pending, accounts) = Jobs.TakePass(Options.SchedulerDepth);
        var policy = new SchedulerPolicy { ReservationAfter = Options.ReservationAfter, FairShare = Options.FairShareHalfLife > TimeSpan.Zero };
        var input = new SchedulingInput(Nodes.SchedulingNodes(), pending, Clock.GetUtcNow(), policy) { Accounts = accounts };
        return Jobs.Apply(Scheduler.Schedule(input));
    }

    /// <summary>The node's live assignments.</summary>
    public IReadOnlyList<Assignment> Assignments(string nodeId) => Nodes.Assignments(nodeId)!.Value.Response.Attempts;

    /// <summary>Reports an assignment started, then ended with <paramref name="exitCode"/>.</summary>
    public void Run(string nodeId, Assignment a, int exitCode = 0)
    {
        Assert.Equal(ReportOutcome.Accepted, Jobs.Report(nodeId, a.JobId, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Started, Time = Clock.GetUtcNow() }));
        Assert.Equal(ReportOutcome.Accepted, Jobs.Report(nodeId, a.JobId, a.Attempt, new AttemptEvent { Epoch = a.Epoch, Type = AttemptEventType.Ended, Cause = AttemptEndCause.Exited, ExitCode = exitCode, Time = Clock.GetUtcNow() }));
    }

    public void Dispose()
    {
        Store.Dispose();
        SqliteConnection.ClearAllPools();
        if (_ownsDir && Directory.Exists(DataDir))
        {
            Directory.Delete(DataDir, recursive: true);
        }
    }
}
