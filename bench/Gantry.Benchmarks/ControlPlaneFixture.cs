using Gantry.Core.Protocol;
using Gantry.Core.Scheduling;
using Gantry.Server.Auth;
using Gantry.Server.Configuration;
using Gantry.Server.Health;
using Gantry.Server.Jobs;
using Gantry.Server.Live;
using Gantry.Server.Logs;
using Gantry.Server.Nodes;
using Gantry.Server.Observability;
using Gantry.Server.Storage.Sqlite;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Benchmarks;

/// <summary>
/// The control plane's features as <c>ServerHost.Build</c> assembles them (a real
/// <see cref="SqliteStateStore"/> on a file in a temp dir, <see cref="ServerMetrics"/>, the system
/// clock), without Kestrel.
/// </summary>
internal sealed class ControlPlaneFixture : IDisposable
{
    private ControlPlaneFixture(string dataDir, ServerOptions options, SqliteStateStore store)
    {
        DataDir = dataDir;
        Store = store;
        var state = store.Load();
        var signals = new ClusterSignals();
        var metrics = new ServerMetrics();
        Tokens = new TokenStore(store, state, options, TimeProvider.System);
        Nodes = new NodeRegistry(store, state, options, TimeProvider.System, signals, metrics, NullLogger<NodeRegistry>.Instance);
        Jobs = new JobQueue(store, state, Nodes, options, TimeProvider.System, signals, metrics, NullLogger<JobQueue>.Instance);
        Logs = new JobLogs(store, Jobs, options, metrics);
        Health = new GpuHealthRegistry(store, state, Nodes, Jobs, options, TimeProvider.System, signals, NullLogger<GpuHealthRegistry>.Instance);
        Options = options;
    }

    public string DataDir { get; }

    public ServerOptions Options { get; }

    public SqliteStateStore Store { get; }

    public TokenStore Tokens { get; }

    public NodeRegistry Nodes { get; }

    public JobQueue Jobs { get; }

    public JobLogs Logs { get; }

    public GpuHealthRegistry Health { get; }

    public static ControlPlaneFixture Create()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-bench-").FullName;
        var options = new ServerOptions { DataDir = dataDir };
        return new ControlPlaneFixture(dataDir, options, SqliteStateStore.Open(options.DatabasePath));
    }

    /// <summary>Registers a node as an agent would, with the GPU inventory of <paramref name="gpus"/>.</summary>
    public string Register(string nodeId, IReadOnlyList<GpuInventory> gpus, string zone) =>
        Nodes.Register(
            new RegisterNodeRequest
            {
                NodeId = nodeId,
                Name = nodeId,
                CpuCores = 128,
                MemoryBytes = 1L << 40,
                Os = "linux",
                Architecture = "x64",
                Labels = new Dictionary<string, string> { ["zone"] = zone },
                Gpus = gpus,
                AgentVersion = "0.1.0",
                RunningAttempts = [],
            },
            out _).NodeId;

    /// <summary>One scheduling pass as the scheduler worker runs it; returns how many jobs were placed.</summary>
    public int SchedulingPass() =>
        Jobs.Apply(Scheduler.Schedule(new SchedulingInput(Nodes.SchedulingNodes(), Jobs.TakePending(Options.SchedulerDepth), TimeProvider.System.GetUtcNow(), new SchedulerPolicy())));

    public void Dispose()
    {
        Store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(DataDir, recursive: true);
    }
}
