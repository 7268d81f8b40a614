using Gantry.Server.Storage;
using Gantry.Server.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Gantry.Server.Tests.Storage;

/// <summary>The store contract against SQLite: a real file in a temp dir.</summary>
public sealed class SqliteStateStoreTests : StateStoreContract
{
    private readonly string _dir = Directory.CreateTempSubdirectory("gantry-store-test-").FullName;

    internal override Task<IStateStore> OpenAsync() => Task.FromResult<IStateStore>(SqliteStateStore.Open(Path.Combine(_dir, "gantry.db")));

    protected override Task DeleteAsync()
    {
        SqliteConnection.ClearAllPools();
        Directory.Delete(_dir, recursive: true);
        return Task.CompletedTask;
    }
}
