using Gantry.Core.Protocol;
using Gantry.Server.Cluster;
using Gantry.Server.Configuration;
using Gantry.Server.Observability;
using Gantry.Server.Storage;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;

namespace Gantry.Benchmarks;

/// <summary>
/// A control plane as <c>ServerHost.Build</c> assembles it (real <see cref="StateStore"/> on a SQLite
/// file in a temp dir, <see cref="ServerMetrics"/>, the system clock), without Kestrel.
/// </summary>
internal sealed class ControlPlaneFixture : IDisposable
{
    private ControlPlaneFixture(string dataDir, StateStore store, ControlPlane cluster)
    {
        DataDir = dataDir;
        Store = store;
        Cluster = cluster;
    }

    public string DataDir { get; }

    public StateStore Store { get; }

    public ControlPlane Cluster { get; }

    public static ControlPlaneFixture Create()
    {
        var dataDir = Directory.CreateTempSubdirectory("gantry-bench-").FullName;
        var options = new ServerOptions { DataDir = dataDir };
        var store = StateStore.Open(options.DatabasePath);
        var cluster = new ControlPlane(store, options, TimeProvider.System, new ServerMetrics(), NullLogger<ControlPlane>.Instance);
        return new ControlPlaneFixture(dataDir, store, cluster);
    }

    /// <summary>Registers a node as an agent would, with the GPU inventory of <paramref name="gpus"/>.</summary>
    public string Register(string nodeId, IReadOnlyList<GpuInventory> gpus, string zone) =>
        Cluster.Register(new RegisterNodeRequest
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
        }).NodeId;

    public void Dispose()
    {
        Store.Dispose();
        SqliteConnection.ClearAllPools();
        Directory.Delete(DataDir, recursive: true);
    }
}
